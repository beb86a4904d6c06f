"""gRPC servicer of `search`: lineup.v1.SearchService over the face store.

Each RPC converts the request to plain values, calls `FaceStore` (which validates and raises
lineup.errors.*; the bootstrap's interceptor maps those to status codes) and converts back.
Authorisation is not decided here: the front door checks keys, roles and grants and passes the agency
explicitly; this service makes sure a call can only ever touch the agency it names.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from lineup.errors import InvalidArgument
from lineup.scoring import load_score_model, provenance
from lineup.telemetry import current_trace_id
from lineup.v1 import common_pb2, face_search_pb2, search_pb2, search_pb2_grpc
from search.messages import (
    face_matches,
    face_message,
    face_row,
    face_vector,
    user_matches,
    user_message,
    vector_collection,
)
from search.ranking import query_vectors_of, rank_by_face, rank_users
from search.settings import SearchSettings
from search.store import FaceStore


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

    # ------------------------------------------------------------------------------------- rankings

    def SearchFacesByFaceId(self, request: search_pb2.SearchFacesByFaceIdRequest, context: grpc.ServicerContext,
                            ) -> face_search_pb2.SearchFacesResponse:
        if not request.face_id:
            raise InvalidArgument("face_id is empty: name the face to search with")
        info, hits = rank_by_face(self.store, request.agency_id, request.collection_id, request.face_id,
                                  top_k=request.top_k, min_raw_score=request.min_raw_score)
        scores = load_score_model(info.face_model_version)
        return face_search_pb2.SearchFacesResponse(
            searched_face_id=request.face_id, face_matches=face_matches(hits, scores, request.collection_id),
            provenance=provenance(request.request_id, request.trace_id or current_trace_id(), scores,
                                  request.min_raw_score))

    def SearchUsersByFaces(self, request: search_pb2.SearchUsersByFacesRequest, context: grpc.ServicerContext,
                           ) -> face_search_pb2.SearchUsersResponse:
        query = request.WhichOneof("query")
        if query is None or not getattr(request, query):
            raise InvalidArgument("set user_id or face_id (not empty) to search with")
        user_id = request.user_id if query == "user_id" else ""
        vectors = query_vectors_of(self.store, request.agency_id, request.collection_id, user_id=user_id,
                                   face_id=request.face_id if query == "face_id" else "")
        info, ranked = rank_users(self.store, request.agency_id, request.collection_id, vectors,
                                  max_users=request.max_users, min_raw_score=request.min_raw_score,
                                  exclude_user_id=user_id)
        scores = load_score_model(info.face_model_version)
        return face_search_pb2.SearchUsersResponse(
            user_matches=user_matches(ranked, scores),
            provenance=provenance(request.request_id, request.trace_id or current_trace_id(), scores,
                                  request.min_raw_score))


def register(server: grpc.Server, servicer: SearchServiceServicer) -> Sequence[str]:
    search_pb2_grpc.add_SearchServiceServicer_to_server(servicer, server)
    return [search_pb2.DESCRIPTOR.services_by_name["SearchService"].full_name]
