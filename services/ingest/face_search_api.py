"""gRPC servicer of `ingest`: the public lineup.v1.FaceSearch API.

Image RPCs validate and store the photo, then hand it to the Kafka pipeline and wait for the
correlated result (`gateway`); catalogue RPCs (collections, faces, users) call the search service
directly; comparisons and face-id searches are computed here from stored vectors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np

from ingest.access import Access
from ingest.erasure import Eraser
from ingest.gateway import PipelineGateway
from ingest.images import ImageLimits, set_decoder_limit, validate_image
from ingest.jobs import JobRunner
from ingest.paging import page_of
from ingest.reviews import SearchRecords
from ingest.search_client import SearchClient
from ingest.settings import IngestSettings
from lineup.audit.emit import current_draft
from lineup.auth import Principal, require_principal
from lineup.errors import InvalidArgument, LineupError, PermissionDenied
from lineup.objectstore import ObjectStore, check_source_object
from lineup.scoring import ScoreModel, load_score_model, provenance
from lineup.telemetry import current_trace_id
from lineup.untrusted import REQUEST_ID_RE
from lineup.v1 import audit_pb2, common_pb2, events_pb2, face_search_pb2, face_search_pb2_grpc, search_pb2
from lineup.validation import COLLECTION_ID, COLLECTION_ID_RULE, MAX_FACE_IDS_PER_CALL, MAX_MATCHES, MAX_USERS

_MAX_PROBE_FACES = 100


class FaceSearchServicer(face_search_pb2_grpc.FaceSearchServicer):
    def __init__(self, settings: IngestSettings, gateway: PipelineGateway, search: SearchClient,
                 store: ObjectStore, jobs: JobRunner, access: Access, searches: SearchRecords,
                 eraser: Eraser) -> None:
        self.settings = settings
        self.eraser = eraser
        self.access = access
        self.searches = searches
        self.gateway = gateway
        self.search = search
        self.store = store
        self.jobs = jobs
        self.limits = image_limits(settings)
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="compare")

    # ------------------------------------------------------------------------------------ helpers
    @staticmethod
    def _actor(p: Principal) -> events_pb2.Actor:
        return events_pb2.Actor(key_id=p.key_id, holder=p.holder, agency_id=p.agency_id)

    def _timeout(self, context: grpc.ServicerContext) -> float:
        remaining = context.time_remaining()
        budget = self.settings.sync_timeout_s
        return max(0.5, min(budget, remaining - 0.5)) if remaining is not None else budget

    @staticmethod
    def _request_id(context: grpc.ServicerContext) -> str:
        return str(getattr(context, "request_id", ""))

    def _image_bytes(self, agency_id: str, image: common_pb2.Image, what: str = "image", *, probe: bool = True
                     ) -> bytes:
        """The image's bytes. An object must be one of the caller's own photos in lineup-images: `images/` only
        for enrolment (a probe or a face crop is never enrolled), `images/` or `probes/` for a probe."""
        kind = image.WhichOneof("source")
        if kind == "bytes":
            return image.bytes
        if kind == "object":
            check_source_object(image.object, agency_id, f"{what}.object",
                                kinds=("images", "probes") if probe else ("images",))
            return self.store.get(image.object)
        raise InvalidArgument(f"{what} is missing: set {what}.bytes (JPEG/PNG/WebP) or {what}.object")

    def _collection(self, agency_id: str, collection_id: str, *, counts: bool = False) -> search_pb2.VectorCollection:
        """The collection's pin (NotFound when the agency has none by that id); face and user counts only when
        asked for, since they cost the vector store two queries per call."""
        _check_collection_id(collection_id)
        return self.search.call("DescribeCollection", search_pb2.DescribeVectorCollectionRequest(
            agency_id=agency_id, collection_id=collection_id, pin_only=not counts))

    def _plan(self, p: Principal, ctx: common_pb2.SearchContext, collection_id: str, threshold: Any, *,
              granted: bool) -> _Plan:
        """The steps every search takes before it runs: who may search what (a grant only where `granted`),
        the agency's floors, the collection's pin and score model, and the threshold those allow."""
        target = self.access.searchable(p, collection_id) if granted else None
        floors = self.access.check_search(p, ctx, target)
        owner, cid = (target.owner_agency_id, target.collection_id) if target else (p.agency_id, collection_id)
        collection = self._collection(owner, cid)
        model = load_score_model(collection.face_model_version)
        return _Plan(owner, cid, collection.face_model_version, model, model.resolve(threshold, floors))

    def _run(self, context: grpc.ServicerContext, p: Principal, task: events_pb2.PipelineTask,
             request_id: str | None = None) -> events_pb2.PipelineResult:
        return self.gateway.run(agency_id=p.agency_id, actor=self._actor(p),
                                request_id=request_id or self._request_id(context), task=task,
                                timeout_s=self._timeout(context))

    def _accept(self, p: Principal, image: common_pb2.Image, *, probe: bool, what: str = "image"
                ) -> events_pb2.PipelineTask:
        validated = validate_image(self._image_bytes(p.agency_id, image, what, probe=probe), self.limits)
        sha, ref = self.gateway.store_image(p.agency_id, validated, probe=probe)
        if probe:
            current_draft().probe_image_sha256 = sha
        return events_pb2.PipelineTask(image=ref, image_sha256=sha, image_width=validated.width,
                                       image_height=validated.height, probe=probe, owner_agency_id=p.agency_id)

    # -------------------------------------------------------------------------------- collections
    def CreateCollection(self, request: face_search_pb2.CreateCollectionRequest, context: grpc.ServicerContext
                         ) -> face_search_pb2.CreateCollectionResponse:
        p = require_principal()
        _check_collection_id(request.collection_id)
        if request.face_retention_days < 0:
            raise InvalidArgument("face_retention_days must be >= 0 (0 keeps faces until deleted)")
        model = load_score_model(request.face_model)
        created = self.search.call("EnsureCollection", search_pb2.EnsureCollectionRequest(
            agency_id=p.agency_id, collection_id=request.collection_id, face_model_version=model.face_model_version,
            dimension=model.dimension, face_retention_days=request.face_retention_days, tags=dict(request.tags),
            must_create=True))
        return face_search_pb2.CreateCollectionResponse(collection_id=request.collection_id,
                                                        face_model_version=created.face_model_version)

    def DescribeCollection(self, request: face_search_pb2.DescribeCollectionRequest,
                           context: grpc.ServicerContext) -> face_search_pb2.DescribeCollectionResponse:
        p = require_principal()
        c = self._collection(p.agency_id, request.collection_id, counts=True)
        return face_search_pb2.DescribeCollectionResponse(
            collection_id=c.collection_id, face_count=c.face_count, user_count=c.user_count,
            face_model_version=c.face_model_version, created_at=c.created_at,
            face_retention_days=c.face_retention_days, tags=dict(c.tags), owner_agency_id=p.agency_id)

    def ListCollections(self, request: face_search_pb2.ListCollectionsRequest, context: grpc.ServicerContext
                        ) -> face_search_pb2.ListCollectionsResponse:
        p = require_principal()
        resp = self.search.call("ListCollections", search_pb2.ListVectorCollectionsRequest(
            agency_id=p.agency_id, page=request.page))
        out = face_search_pb2.ListCollectionsResponse(
            collections=[face_search_pb2.CollectionSummary(collection_id=c.collection_id,
                                                           face_model_version=c.face_model_version,
                                                           owner_agency_id=p.agency_id)
                         for c in resp.collections], page=resp.page)
        if not request.page.page_token:  # granted collections come once, with the first page
            for g in self.access.received_grants(p.agency_id):
                out.collections.append(face_search_pb2.CollectionSummary(
                    collection_id=f"{g.owner_agency_id}/{g.collection_id}", owner_agency_id=g.owner_agency_id,
                    granted=True))
        return out

    def DeleteCollection(self, request: face_search_pb2.DeleteCollectionRequest, context: grpc.ServicerContext
                         ) -> face_search_pb2.DeleteCollectionResponse:
        p = require_principal()
        self._collection(p.agency_id, request.collection_id)
        faces = self._all_faces(p.agency_id, request.collection_id)
        dropped: list[int] = []

        def drop() -> list[search_pb2.FaceVector]:
            dropped.append(self.search.call("DropCollection", search_pb2.DropCollectionRequest(
                agency_id=p.agency_id, collection_id=request.collection_id)).dropped_faces)
            return faces

        _, receipt = self._delete_and_erase(p.agency_id, faces, drop)
        return face_search_pb2.DeleteCollectionResponse(deleted_faces=dropped[0], erasure_receipt_id=receipt)

    # -------------------------------------------------------------------------------------- faces
    def IndexFaces(self, request: face_search_pb2.IndexFacesRequest, context: grpc.ServicerContext
                   ) -> face_search_pb2.IndexFacesResponse:
        p = require_principal()
        max_faces = _bounded(request.max_faces, default=100, upper=100, name="max_faces")
        collection = self._collection(p.agency_id, request.collection_id)
        task = self._accept(p, request.image, probe=False)
        task.MergeFrom(events_pb2.PipelineTask(
            operation=events_pb2.PIPELINE_OPERATION_INDEX, collection_id=request.collection_id,
            external_image_id=request.external_image_id, max_faces=max_faces,
            quality_filter=request.quality_filter, face_model_version=collection.face_model_version))
        rid = self._request_id(context)
        try:
            result = self._run(context, p, task).index_faces
        except LineupError as exc:
            if exc.code != grpc.StatusCode.DEADLINE_EXCEEDED:  # the work is over: keep no crop of it
                self.eraser.discard_enrolment(p.agency_id, rid, task.image_sha256)
            raise
        if not result.face_records:  # nothing enrolled: Lineup keeps no copy of the photo
            self.eraser.discard_enrolment(p.agency_id, rid, task.image_sha256)
        return result

    def ListFaces(self, request: face_search_pb2.ListFacesRequest, context: grpc.ServicerContext
                  ) -> face_search_pb2.ListFacesResponse:
        p = require_principal()
        collection = self._collection(p.agency_id, request.collection_id)
        resp = self.search.call("GetFaces", search_pb2.GetFacesRequest(
            agency_id=p.agency_id, collection_id=request.collection_id, face_ids=request.face_ids,
            user_id=request.user_id, page=request.page))
        return face_search_pb2.ListFacesResponse(faces=[f.face for f in resp.faces], page=resp.page,
                                                 face_model_version=collection.face_model_version)

    def DeleteFaces(self, request: face_search_pb2.DeleteFacesRequest, context: grpc.ServicerContext
                    ) -> face_search_pb2.DeleteFacesResponse:
        p = require_principal()
        if not request.face_ids:
            raise InvalidArgument("face_ids is empty: name the faces to delete")
        if len(request.face_ids) > MAX_FACE_IDS_PER_CALL:
            raise InvalidArgument(f"{len(request.face_ids)} face ids; at most {MAX_FACE_IDS_PER_CALL} per call")
        self._collection(p.agency_id, request.collection_id)
        known = self._all_faces(p.agency_id, request.collection_id, face_ids=request.face_ids)
        deleted, receipt = self._delete_and_erase(p.agency_id, known, lambda: self.search.call(
            "DeleteFaceVectors", search_pb2.DeleteFaceVectorsRequest(
                agency_id=p.agency_id, collection_id=request.collection_id, face_ids=request.face_ids)).deleted)
        gone = {f.face.face_id for f in deleted}
        return face_search_pb2.DeleteFacesResponse(
            deleted_face_ids=[f for f in request.face_ids if f in gone], erasure_receipt_id=receipt,
            unsuccessful=[face_search_pb2.UnsuccessfulFaceDeletion(face_id=f, reason="not found")
                          for f in request.face_ids if f not in gone])

    def _all_faces(self, agency_id: str, collection_id: str, *, user_id: str = "",
                   face_ids: Sequence[str] = ()) -> list[search_pb2.FaceVector]:
        out: list[search_pb2.FaceVector] = []
        token = ""
        while True:
            resp = self.search.call("GetFaces", search_pb2.GetFacesRequest(
                agency_id=agency_id, collection_id=collection_id, user_id=user_id, face_ids=face_ids,
                page=common_pb2.PageRequest(page_size=1000, page_token=token)))
            out.extend(resp.faces)
            token = resp.page.next_page_token
            if not token:
                return out

    def _delete_and_erase(self, agency_id: str, known: Sequence[search_pb2.FaceVector],
                          delete: Callable[[], Sequence[search_pb2.FaceVector]]
                          ) -> tuple[list[search_pb2.FaceVector], str]:
        """Delete vectors and erase what they leave behind; the receipt goes into this call's audit record as
        it fills (also when the erasure fails part-way; a journal lets the retention sweep finish it).
        Returns the deleted faces and the receipt's id (the audit record id)."""
        draft = current_draft()
        draft.erasure = audit_pb2.ErasureReceipt(reason="request")
        deleted = self.eraser.delete_and_erase(agency_id, known, delete, draft.erasure)
        return deleted, draft.record_id


    # ------------------------------------------------------------------------------------- search
    def SearchFaces(self, request: face_search_pb2.SearchFacesRequest, context: grpc.ServicerContext
                    ) -> face_search_pb2.SearchFacesResponse:
        p = require_principal()
        plan = self._plan(p, request.context, request.collection_id, _threshold(request), granted=False)
        top_k = _bounded(request.max_faces, default=10, upper=MAX_MATCHES, name="max_faces")
        if not request.face_id:
            raise InvalidArgument("face_id is empty: name the face to search with")
        resp: face_search_pb2.SearchFacesResponse = self.search.call(
            "SearchFacesByFaceId", search_pb2.SearchFacesByFaceIdRequest(
                agency_id=p.agency_id, collection_id=plan.collection_id, face_id=request.face_id, top_k=top_k,
                min_raw_score=plan.min_raw, request_id=self._request_id(context), trace_id=current_trace_id()))
        self.searches.record(p, request.collection_id, request.context, resp)
        return resp

    def SearchFacesByImage(self, request: face_search_pb2.SearchFacesByImageRequest,
                           context: grpc.ServicerContext) -> face_search_pb2.SearchFacesByImageResponse:
        p = require_principal()
        plan = self._plan(p, request.context, request.collection_id, _threshold(request), granted=True)
        top_k = _bounded(request.max_faces, default=10, upper=MAX_MATCHES, name="max_faces")
        probe_faces = 1 if request.largest_face_only else _bounded(
            request.max_probe_faces, default=_MAX_PROBE_FACES, upper=_MAX_PROBE_FACES, name="max_probe_faces")
        task = self._accept(p, request.image, probe=True)
        task.MergeFrom(plan.task(events_pb2.PIPELINE_OPERATION_SEARCH, request.context, max_faces=probe_faces,
                                 quality_filter=request.quality_filter, largest_face_only=request.largest_face_only,
                                 max_matches=top_k))
        resp = self._run(context, p, task).search_faces_by_image
        self.searches.record(p, request.collection_id, request.context, resp)
        return resp

    def CompareFaces(self, request: face_search_pb2.CompareFacesRequest, context: grpc.ServicerContext
                     ) -> face_search_pb2.CompareFacesResponse:
        p = require_principal()
        floors = self.access.check_search(p, request.context)
        model = load_score_model()
        min_raw = model.resolve(_threshold(request), floors)
        rid = self._request_id(context)
        tasks = []
        for op, image, what in ((events_pb2.PIPELINE_OPERATION_COMPARE_SOURCE, request.source_image, "source_image"),
                                (events_pb2.PIPELINE_OPERATION_COMPARE_TARGET, request.target_image, "target_image")):
            task = self._accept(p, image, probe=True, what=what)
            task.MergeFrom(events_pb2.PipelineTask(operation=op, max_faces=_MAX_PROBE_FACES,
                                                   quality_filter=request.quality_filter, context=request.context,
                                                   face_model_version=model.face_model_version))
            tasks.append(task)
        source_f = self._pool.submit(self._run, context, p, tasks[0], f"{rid}-source")
        target_f = self._pool.submit(self._run, context, p, tasks[1], f"{rid}-target")
        source, target = source_f.result().embedded, target_f.result().embedded
        if not source.faces:
            raise InvalidArgument("no usable face found in source_image" + _filtered_note(source.filtered))
        probe = min(source.faces, key=lambda f: f.face_index)
        resp = face_search_pb2.CompareFacesResponse(source_face=probe.detail,
                                                    provenance=provenance(rid, current_trace_id(), model, min_raw))
        a = np.asarray(probe.embedding, np.float32)
        scored = sorted(((float(np.dot(a, np.asarray(f.embedding, np.float32))), f) for f in target.faces),
                        key=lambda t: -t[0])
        for raw, f in scored:
            match = face_search_pb2.CompareFacesMatch(score=model.match_score(raw), face=f.detail,
                                                      face_index=f.face_index)
            (resp.face_matches if raw >= min_raw else resp.unmatched_faces).append(match)
        return resp

    def DetectFaces(self, request: face_search_pb2.DetectFacesRequest, context: grpc.ServicerContext
                    ) -> face_search_pb2.DetectFacesResponse:
        p = require_principal()
        task = self._accept(p, request.image, probe=True)
        task.MergeFrom(events_pb2.PipelineTask(operation=events_pb2.PIPELINE_OPERATION_DETECT,
                                               max_faces=_MAX_PROBE_FACES))
        resp = self._run(context, p, task).detect_faces
        resp.request_id = self._request_id(context)
        return resp

    # -------------------------------------------------------------------------------------- users
    def CreateUser(self, request: face_search_pb2.CreateUserRequest, context: grpc.ServicerContext
                   ) -> face_search_pb2.CreateUserResponse:
        p = require_principal()
        self._collection(p.agency_id, request.collection_id)
        user = self.search.call("CreateUser", search_pb2.VectorUserRequest(
            agency_id=p.agency_id, collection_id=request.collection_id, user_id=request.user_id))
        return face_search_pb2.CreateUserResponse(user=user)

    def DeleteUser(self, request: face_search_pb2.DeleteUserRequest, context: grpc.ServicerContext
                   ) -> face_search_pb2.DeleteUserResponse:
        p = require_principal()
        self._collection(p.agency_id, request.collection_id)
        known = self._all_faces(p.agency_id, request.collection_id, user_id=request.user_id) \
            if request.delete_faces else []
        _, receipt = self._delete_and_erase(p.agency_id, known, lambda: self.search.call(
            "DeleteUser", search_pb2.VectorUserRequest(
                agency_id=p.agency_id, collection_id=request.collection_id, user_id=request.user_id,
                delete_faces=request.delete_faces)).deleted_faces)
        return face_search_pb2.DeleteUserResponse(erasure_receipt_id=receipt)

    def ListUsers(self, request: face_search_pb2.ListUsersRequest, context: grpc.ServicerContext
                  ) -> face_search_pb2.ListUsersResponse:
        p = require_principal()
        self._collection(p.agency_id, request.collection_id)
        return self.search.call("ListUsers", search_pb2.ListVectorUsersRequest(
            agency_id=p.agency_id, collection_id=request.collection_id, page=request.page))

    def AssociateFaces(self, request: face_search_pb2.AssociateFacesRequest, context: grpc.ServicerContext
                       ) -> face_search_pb2.AssociateFacesResponse:
        p = require_principal()
        if not request.user_id:
            raise InvalidArgument("user_id is empty")
        if not 0 < len(request.face_ids) <= 100:
            raise InvalidArgument("face_ids must name 1 to 100 faces")
        self._collection(p.agency_id, request.collection_id)
        resp = self.search.call("SetFacesUser", search_pb2.SetFacesUserRequest(
            agency_id=p.agency_id, collection_id=request.collection_id, user_id=request.user_id,
            face_ids=request.face_ids))
        return face_search_pb2.AssociateFacesResponse(
            associated_face_ids=[c.face_id for c in resp.changes if c.changed], user=resp.user,
            unsuccessful=[face_search_pb2.UnsuccessfulFaceAssociation(face_id=c.face_id, reason=c.reason)
                          for c in resp.changes if not c.changed])

    def DisassociateFaces(self, request: face_search_pb2.DisassociateFacesRequest, context: grpc.ServicerContext
                          ) -> face_search_pb2.DisassociateFacesResponse:
        p = require_principal()
        self._collection(p.agency_id, request.collection_id)
        owned = self.search.call("GetFaces", search_pb2.GetFacesRequest(
            agency_id=p.agency_id, collection_id=request.collection_id, face_ids=request.face_ids))
        mine = [f.face.face_id for f in owned.faces if f.face.user_id == request.user_id]
        resp = self.search.call("SetFacesUser", search_pb2.SetFacesUserRequest(
            agency_id=p.agency_id, collection_id=request.collection_id, user_id="", face_ids=mine))
        done = {c.face_id for c in resp.changes if c.changed}
        return face_search_pb2.DisassociateFacesResponse(
            disassociated_face_ids=[f for f in request.face_ids if f in done],
            unsuccessful=[face_search_pb2.UnsuccessfulFaceAssociation(
                face_id=f, reason=f"not associated to user {request.user_id!r}")
                for f in request.face_ids if f not in done])

    def SearchUsers(self, request: face_search_pb2.SearchUsersRequest, context: grpc.ServicerContext
                    ) -> face_search_pb2.SearchUsersResponse:
        p = require_principal()
        plan = self._plan(p, request.context, request.collection_id, _threshold(request), granted=False)
        max_users = _bounded(request.max_users, default=10, upper=MAX_USERS, name="max_users")
        query = request.WhichOneof("query")
        if query is None or not getattr(request, query):
            raise InvalidArgument("set user_id or face_id (not empty) to search with")
        ask = search_pb2.SearchUsersByFacesRequest(
            agency_id=p.agency_id, collection_id=plan.collection_id, max_users=max_users, min_raw_score=plan.min_raw,
            request_id=self._request_id(context), trace_id=current_trace_id())
        setattr(ask, query, getattr(request, query))
        resp: face_search_pb2.SearchUsersResponse = self.search.call("SearchUsersByFaces", ask)
        self.searches.record(p, request.collection_id, request.context, resp)
        return resp

    def SearchUsersByImage(self, request: face_search_pb2.SearchUsersByImageRequest,
                           context: grpc.ServicerContext) -> face_search_pb2.SearchUsersByImageResponse:
        p = require_principal()
        plan = self._plan(p, request.context, request.collection_id, _threshold(request), granted=True)
        max_users = _bounded(request.max_users, default=10, upper=MAX_USERS, name="max_users")
        task = self._accept(p, request.image, probe=True)
        task.MergeFrom(plan.task(events_pb2.PIPELINE_OPERATION_SEARCH_USERS, request.context, max_faces=1,
                                 largest_face_only=True, quality_filter=request.quality_filter, max_matches=max_users))
        resp = self._run(context, p, task).search_users_by_image
        self.searches.record(p, request.collection_id, request.context, resp)
        return resp

    # ------------------------------------------------------------------------------------- jobs
    def StartIndexJob(self, request: face_search_pb2.StartIndexJobRequest, context: grpc.ServicerContext
                      ) -> face_search_pb2.StartIndexJobResponse:
        p = require_principal()
        max_faces = _bounded(request.max_faces_per_image, default=100, upper=100, name="max_faces_per_image")
        collection = self._collection(p.agency_id, request.collection_id)
        job_id = self.jobs.start(agency_id=p.agency_id, actor=self._actor(p), request=request,
                                 face_model_version=collection.face_model_version, max_faces=max_faces)
        return face_search_pb2.StartIndexJobResponse(job_id=job_id)

    def GetJob(self, request: face_search_pb2.GetJobRequest, context: grpc.ServicerContext
               ) -> face_search_pb2.GetJobResponse:
        p = require_principal()
        return face_search_pb2.GetJobResponse(job=self.jobs.get(p.agency_id, request.job_id).to_proto())

    def ListJobs(self, request: face_search_pb2.ListJobsRequest, context: grpc.ServicerContext
                 ) -> face_search_pb2.ListJobsResponse:
        p = require_principal()
        jobs, page = page_of(self.jobs.list_jobs(p.agency_id, request.collection_id), request.page)
        return face_search_pb2.ListJobsResponse(jobs=[j.to_proto() for j in jobs], page=page)

    # ---------------------------------------------------------------------------------- requests
    def GetRequest(self, request: face_search_pb2.GetRequestRequest, context: grpc.ServicerContext
                   ) -> face_search_pb2.GetRequestResponse:
        p = require_principal()
        if not REQUEST_ID_RE.fullmatch(request.request_id):
            raise InvalidArgument("request_id is empty or malformed: use the id from the x-request-id trailer "
                                  "of the call (1-64 of A-Z, a-z, 0-9, '_', '-')")
        return self.gateway.lookup(p.agency_id, request.request_id)


def register(server: grpc.Server, servicer: FaceSearchServicer) -> Sequence[str]:
    face_search_pb2_grpc.add_FaceSearchServicer_to_server(servicer, server)
    return [face_search_pb2.DESCRIPTOR.services_by_name["FaceSearch"].full_name]


def image_limits(settings: IngestSettings) -> ImageLimits:
    set_decoder_limit(settings.max_image_pixels)  # PIL's own bomb check follows the same setting
    return ImageLimits(max_bytes=int(settings.max_image_mb * 1024 * 1024),
                       max_pixels=int(settings.max_image_megapixels * 1_000_000))


def _check_collection_id(collection_id: str) -> None:
    if "/" in collection_id:
        raise PermissionDenied(f"{collection_id!r} names another agency's collection; a grant allows only "
                               f"SearchFacesByImage and SearchUsersByImage on it")
    if not COLLECTION_ID.fullmatch(collection_id or ""):
        raise InvalidArgument(f"collection_id {collection_id!r} is invalid: use {COLLECTION_ID_RULE}")


@dataclass(frozen=True)
class _Plan:
    owner_agency_id: str  # the collection's owner (another agency only under a grant)
    collection_id: str
    face_model_version: str  # the collection's pin
    model: ScoreModel
    min_raw: float  # the threshold the request asked for, raised to the agency's floor

    def task(self, operation: events_pb2.PipelineOperation, context: common_pb2.SearchContext, **fields: Any
             ) -> events_pb2.PipelineTask:
        """The pipeline task of an image search under this plan (collection, pin, owner, threshold set)."""
        return events_pb2.PipelineTask(operation=operation, collection_id=self.collection_id, context=context,
                                       min_raw_score=self.min_raw, face_model_version=self.face_model_version,
                                       owner_agency_id=self.owner_agency_id, **fields)


def _threshold(request: Any) -> common_pb2.Threshold | None:
    return request.threshold if request.HasField("threshold") else None  # type: ignore[no-any-return]


def _bounded(value: int, *, default: int, upper: int, name: str) -> int:
    if value == 0:
        return default
    if not 1 <= value <= upper:
        raise InvalidArgument(f"{name}={value} is out of range: use 1..{upper} (0 means {default})")
    return value


def _filtered_note(filtered: Sequence[common_pb2.UnindexedFace]) -> str:
    if not filtered:
        return ""
    reasons = sorted({common_pb2.UnindexedReason.Name(r).removeprefix("UNINDEXED_REASON_").lower()
                      for f in filtered for r in f.reasons})
    return f" ({len(filtered)} face(s) filtered: {', '.join(reasons)})"
