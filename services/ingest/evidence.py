"""The images an examiner compares, and who may see them (Review.GetProbeImage / GetCandidateImage).

A face image is biometric data, so access is narrower than reading a search's review:
- the search must be one of the caller's agency's (search records live under the agency; another
  agency's search id is NOT_FOUND like a missing one);
- the caller must be a reviewer, the person who ran that search (the same holder, whichever of their
  keys), or an auditor where the deployment allows it (`LINEUP_AUDITOR_IMAGE_ACCESS`);
- a candidate must be one that search returned and that is not erased; a candidate of a collection
  searched under a grant is shown as its face crop only (the owner's original photos stay with the
  owner), and only while the grant holds.
Each call adds to its audit record what was looked at (which kind of image, which face, which case), so
the audit trail answers "who looked at this person's face, and why". Erased or purged data is gone here
too: the images are read from where erasure and retention delete them.
"""

from __future__ import annotations

import io
import re

from PIL import Image, UnidentifiedImageError

from ingest.access import Access
from ingest.images import ALLOWED_FORMATS
from ingest.reviews import SearchRecords
from ingest.search_client import SearchClient
from lineup.audit.emit import current_draft
from lineup.auth import Principal
from lineup.errors import FailedPrecondition, NotFound, PermissionDenied
from lineup.identity.roles import AUDITOR, REVIEWER, SEARCHER
from lineup.objectstore import ObjectStore, agency_key
from lineup.pipeline import ResultStore, crop_key
from lineup.topology import CROPS_BUCKET, IMAGES_BUCKET
from lineup.v1 import common_pb2, review_pb2, search_pb2

_SHA256 = re.compile(r"[0-9a-f]{64}")


def content_type(data: bytes) -> str:
    """What the stored bytes are (ingest only stores JPEG, PNG and WebP; crops are PNG)."""
    try:
        fmt = Image.open(io.BytesIO(data)).format or ""
    except (UnidentifiedImageError, OSError):
        fmt = ""
    return ALLOWED_FORMATS.get(fmt, "application/octet-stream")


class EvidenceImages:
    def __init__(self, store: ObjectStore, results: ResultStore, search: SearchClient, searches: SearchRecords,
                 access: Access, *, auditors_see_images: bool) -> None:
        self.store = store
        self.results = results
        self.search = search
        self.searches = searches
        self.access = access
        self.auditors_see_images = auditors_see_images

    def _review(self, p: Principal, search_id: str, what: str, face: str) -> review_pb2.GetSearchReviewResponse:
        review = self.searches.review(p.agency_id, search_id)  # NOT_FOUND for another agency's search
        draft = current_draft()  # the attempt belongs to the search's case in the trail, refused or not
        draft.collection_id = review.collection_id
        draft.case_id, draft.search_id = review.context.case_id, review.search_id
        draft.details.update({"biometric_access": what, "face": face, "case_id": review.context.case_id})
        searcher = SEARCHER in p.roles and self.searches.ran_by(p, search_id)
        if not (REVIEWER in p.roles or searcher or (AUDITOR in p.roles and self.auditors_see_images)):
            raise PermissionDenied("the images of a search are shown to reviewers, to the person who ran it and, "
                                   "where the deployment allows, to auditors")
        return review

    def probe(self, p: Principal, request: review_pb2.GetProbeImageRequest) -> review_pb2.EvidenceImage:
        what = "probe photo" if request.whole_photo else "probe face crop"
        face = "all searched faces" if request.whole_photo else f"probe face {request.probe_face_index}"
        self._review(p, request.search_id, what, face)
        result = self.results.get(p.agency_id, request.search_id)
        if result is None:
            raise NotFound(f"the probe of search {request.search_id!r} is gone (purged after the agency's "
                           f"probe retention, or erased)")
        kind = result.WhichOneof("result")
        if kind == "search_faces_by_image":
            faces = [(r.face_index, r.searched_face.bounding_box) for r in result.search_faces_by_image.results]
        elif kind == "search_users_by_image" and result.search_users_by_image.HasField("searched_face"):
            faces = [(0, result.search_users_by_image.searched_face.bounding_box)]
        elif kind in ("search_faces_by_image", "search_users_by_image"):
            faces = []
        else:
            raise FailedPrecondition(f"search {request.search_id!r} was made with an enrolled face or user, not "
                                     f"a probe photo: there is no probe image")
        if request.whole_photo:
            ref = result.task.image
            mine = tuple(agency_key(p.agency_id, kind) + "/" for kind in ("probes", "images"))
            if ref.bucket != IMAGES_BUCKET or not ref.key.startswith(mine):
                raise NotFound(f"the probe of search {request.search_id!r} is gone")
            data = self._read(ref, f"the probe photo of search {request.search_id!r}")
            return review_pb2.EvidenceImage(
                search_id=request.search_id, image=data, content_type=content_type(data),
                faces=[review_pb2.EvidenceFace(face_index=i, bounding_box=box) for i, box in faces])
        if request.probe_face_index not in {i for i, _ in faces}:
            raise NotFound(f"search {request.search_id!r} searched no probe face {request.probe_face_index}")
        ref = common_pb2.ObjectRef(bucket=CROPS_BUCKET,
                                   key=crop_key(p.agency_id, request.search_id, request.probe_face_index))
        data = self._read(ref, f"probe face {request.probe_face_index} of search {request.search_id!r}")
        return review_pb2.EvidenceImage(search_id=request.search_id, image=data, content_type="image/png")

    def candidate(self, p: Principal, request: review_pb2.GetCandidateImageRequest) -> review_pb2.EvidenceImage:
        what = "candidate original photo" if request.original_photo else "candidate face crop"
        review = self._review(p, request.search_id, what, request.face_id)
        if not request.face_id or not any(c.face_id == request.face_id and
                                          c.state != review_pb2.CANDIDATE_REVIEW_STATE_ERASED
                                          for c in review.candidates):
            raise NotFound(f"face {request.face_id!r} is not a candidate of search {request.search_id!r}")
        target = self.access.searchable(p, review.collection_id)  # a grant must still hold
        if request.original_photo and target.granted:
            raise PermissionDenied("a grant shows the candidates of another agency's collection as face crops; "
                                   "their original photos stay with the owning agency")
        got = self.search.call("GetFaces", search_pb2.GetFacesRequest(
            agency_id=target.owner_agency_id, collection_id=target.collection_id, face_ids=[request.face_id]))
        if not got.faces:
            raise NotFound(f"face {request.face_id!r} is gone from collection {review.collection_id!r} (erased)")
        fv = got.faces[0]
        if request.original_photo:
            sha = fv.face.image_id
            if not _SHA256.fullmatch(sha):  # the row's photo id names an object key: nothing but a digest
                raise NotFound(f"face {request.face_id!r} has no stored original photo")
            ref = common_pb2.ObjectRef(bucket=IMAGES_BUCKET,
                                       key=agency_key(target.owner_agency_id, "images", sha[:2], sha))
        else:
            ref = fv.crop
            if ref.bucket != CROPS_BUCKET or not ref.key.startswith(agency_key(target.owner_agency_id, "crops") + "/"):
                raise NotFound(f"face {request.face_id!r} has no stored crop")
        data = self._read(ref, f"the {what} of face {request.face_id!r}")
        return review_pb2.EvidenceImage(search_id=request.search_id, face_id=request.face_id, image=data,
                                        content_type=content_type(data))

    def _read(self, ref: common_pb2.ObjectRef, what: str) -> bytes:
        try:
            return self.store.get(ref)
        except NotFound:
            raise NotFound(f"{what} is gone (erased or purged by retention)") from None


