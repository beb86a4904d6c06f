"""gRPC servicer of `search`: lineup.v1.SearchService over the face store.

Each RPC converts the request to plain values, calls `FaceStore` (which validates and raises
lineup.errors.*; the bootstrap's interceptor maps those to status codes) and converts back.
Authorisation is not decided here: the front door checks keys, roles and grants and passes the agency
explicitly; this service makes sure a call can only ever touch the agency it names.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from lineup.v1 import common_pb2, face_search_pb2, search_pb2, search_pb2_grpc
from search.settings import SearchSettings
from search.store import BoundingBox, CollectionInfo, FaceRow, FaceStore, UserRecord


class SearchServiceServicer(search_pb2_grpc.SearchServiceServicer):
    def __init__(self, settings: SearchSettings, store: FaceStore | None = None) -> None:
        self.settings = settings
        self.store = store if store is not None else FaceStore.from_settings(settings)

    def EnsureCollection(self, request: search_pb2.EnsureCollectionRequest, context: grpc.ServicerContext,
                         ) -> search_pb2.EnsureCollectionResponse:
        created, version = self.store.ensure_collection(
            request.agency_id, request.collection_id, request.face_model_version, request.dimension,
            face_retention_days=request.face_retention_days, tags=dict(request.tags),
            must_create=request.must_create)
        return search_pb2.EnsureCollectionResponse(created=created, face_model_version=version)

    def DescribeCollection(self, request: search_pb2.DescribeVectorCollectionRequest,
                           context: grpc.ServicerContext) -> search_pb2.VectorCollection:
        if request.pin_only:
            return vector_collection(self.store.collection_info(request.agency_id, request.collection_id))
        described = self.store.describe_collection(request.agency_id, request.collection_id)
        return vector_collection(described.info, face_count=described.face_count,
                                 user_count=described.user_count)

    def ListCollections(self, request: search_pb2.ListVectorCollectionsRequest, context: grpc.ServicerContext,
                        ) -> search_pb2.ListVectorCollectionsResponse:
        # counts are left out: they cost two queries per collection; DescribeCollection has them
        page = self.store.list_collections(request.agency_id, page_size=request.page.page_size,
                                           page_token=request.page.page_token)
        return search_pb2.ListVectorCollectionsResponse(
            collections=[vector_collection(info) for info in page.collections],
            page=common_pb2.PageResponse(next_page_token=page.next_page_token))

    def DropCollection(self, request: search_pb2.DropCollectionRequest, context: grpc.ServicerContext,
                       ) -> search_pb2.DropCollectionResponse:
        dropped = self.store.drop_collection(request.agency_id, request.collection_id)
        return search_pb2.DropCollectionResponse(dropped_faces=dropped)

    def UpsertFaces(self, request: search_pb2.UpsertFacesRequest, context: grpc.ServicerContext,
                    ) -> search_pb2.UpsertFacesResponse:
        rows = [face_row(fv) for fv in request.faces]
        return search_pb2.UpsertFacesResponse(
            upserted=self.store.upsert_faces(request.agency_id, request.collection_id, rows))

    def SearchVectors(self, request: search_pb2.SearchVectorsRequest, context: grpc.ServicerContext,
                      ) -> search_pb2.SearchVectorsResponse:
        # a granted collection lives in its owner's database; the front door has checked the grant
        owner = request.owner_agency_id or request.agency_id
        result = self.store.search(owner, request.collection_id, [list(q.values) for q in request.queries],
                                   top_k=request.top_k, min_raw_score=request.min_raw_score,
                                   user_id=request.user_id)
        return search_pb2.SearchVectorsResponse(
            face_model_version=result.face_model_version,
            results=[search_pb2.CandidateList(matches=[
                search_pb2.VectorHit(face=face_message(hit.face, request.collection_id), raw_score=hit.raw_score)
                for hit in hits]) for hits in result.results])

    def GetFaces(self, request: search_pb2.GetFacesRequest, context: grpc.ServicerContext,
                 ) -> search_pb2.GetFacesResponse:
        page = self.store.get_faces(request.agency_id, request.collection_id, face_ids=list(request.face_ids),
                                    user_id=request.user_id, image_id=request.image_id,
                                    page_size=request.page.page_size,
                                    page_token=request.page.page_token, with_embeddings=request.with_embeddings)
        return search_pb2.GetFacesResponse(
            faces=[face_vector(row, request.collection_id) for row in page.faces],
            page=common_pb2.PageResponse(next_page_token=page.next_page_token))

    def DeleteFaceVectors(self, request: search_pb2.DeleteFaceVectorsRequest, context: grpc.ServicerContext,
                          ) -> search_pb2.DeleteFaceVectorsResponse:
        deleted = self.store.delete_faces(request.agency_id, request.collection_id, list(request.face_ids))
        return search_pb2.DeleteFaceVectorsResponse(deleted=[face_vector(r, request.collection_id) for r in deleted])

    def CountFaces(self, request: search_pb2.CountFacesRequest, context: grpc.ServicerContext,
                   ) -> search_pb2.CountFacesResponse:
        return search_pb2.CountFacesResponse(face_count=self.store.count_faces(request.agency_id,
                                                                               request.collection_id))

    # ------------------------------------------------------------------------------------------ users

    def CreateUser(self, request: search_pb2.VectorUserRequest, context: grpc.ServicerContext,
                   ) -> face_search_pb2.User:
        return user_message(self.store.create_user(request.agency_id, request.collection_id, request.user_id))

    def DeleteUser(self, request: search_pb2.VectorUserRequest, context: grpc.ServicerContext,
                   ) -> search_pb2.DeleteVectorUserResponse:
        done = self.store.delete_user(request.agency_id, request.collection_id, request.user_id,
                                      delete_faces=request.delete_faces)
        return search_pb2.DeleteVectorUserResponse(
            disassociated_face_ids=done.disassociated_face_ids,
            deleted_faces=[face_vector(row, request.collection_id) for row in done.deleted_faces])

    def ListUsers(self, request: search_pb2.ListVectorUsersRequest, context: grpc.ServicerContext,
                  ) -> face_search_pb2.ListUsersResponse:
        page = self.store.list_users(request.agency_id, request.collection_id, page_size=request.page.page_size,
                                     page_token=request.page.page_token)
        return face_search_pb2.ListUsersResponse(users=[user_message(u) for u in page.users],
                                                 page=common_pb2.PageResponse(next_page_token=page.next_page_token))

    def SetFacesUser(self, request: search_pb2.SetFacesUserRequest, context: grpc.ServicerContext,
                     ) -> search_pb2.SetFacesUserResponse:
        changes, user = self.store.set_faces_user(request.agency_id, request.collection_id, request.user_id,
                                                  list(request.face_ids))
        return search_pb2.SetFacesUserResponse(
            changes=[search_pb2.FaceUserChange(face_id=c.face_id, changed=c.changed, reason=c.reason)
                     for c in changes],
            user=user_message(user) if user is not None else None)


# ------------------------------------------------------------------------------------- proto <-> domain


def face_row(fv: search_pb2.FaceVector) -> FaceRow:
    """The stored form of a FaceVector. Its collection id is ignored: the request names the collection."""
    f, box = fv.face, fv.face.bounding_box
    indexed_at_ms = f.indexed_at.seconds * 1000 + f.indexed_at.nanos // 1_000_000 if f.HasField("indexed_at") else 0
    return FaceRow(face_id=f.face_id, image_id=f.image_id, external_image_id=f.external_image_id, user_id=f.user_id,
                   crop_bucket=fv.crop.bucket, crop_key=fv.crop.key, confidence=f.confidence,
                   bounding_box=BoundingBox(box.left, box.top, box.width, box.height),
                   indexed_at_ms=indexed_at_ms, face_model_version=f.face_model_version,
                   embedding=tuple(fv.embedding))


def face_message(row: FaceRow, collection_id: str) -> common_pb2.Face:
    box = row.bounding_box
    indexed_at = Timestamp()
    indexed_at.FromMilliseconds(row.indexed_at_ms)
    return common_pb2.Face(
        face_id=row.face_id, collection_id=collection_id, image_id=row.image_id,
        external_image_id=row.external_image_id, confidence=row.confidence, user_id=row.user_id,
        face_model_version=row.face_model_version, indexed_at=indexed_at,
        bounding_box=common_pb2.BoundingBox(left=box.left, top=box.top, width=box.width, height=box.height))


def timestamp_ms(ms: int) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def vector_collection(info: CollectionInfo, *, face_count: int = 0, user_count: int = 0,
                      ) -> search_pb2.VectorCollection:
    return search_pb2.VectorCollection(
        collection_id=info.collection_id, face_model_version=info.face_model_version, dimension=info.dimension,
        face_count=face_count, user_count=user_count,
        created_at=timestamp_ms(info.created_at_ms) if info.created_at_ms else None,
        face_retention_days=info.face_retention_days, tags=dict(info.tags))


def user_message(user: UserRecord) -> face_search_pb2.User:
    return face_search_pb2.User(user_id=user.user_id, face_count=user.face_count,
                                created_at=timestamp_ms(user.created_at_ms))


def face_vector(row: FaceRow, collection_id: str) -> search_pb2.FaceVector:
    crop = common_pb2.ObjectRef(bucket=row.crop_bucket, key=row.crop_key) if row.crop_key else None
    return search_pb2.FaceVector(face=face_message(row, collection_id), embedding=row.embedding, crop=crop)


def register(server: grpc.Server, servicer: SearchServiceServicer) -> Sequence[str]:
    search_pb2_grpc.add_SearchServiceServicer_to_server(servicer, server)
    return [search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name]
