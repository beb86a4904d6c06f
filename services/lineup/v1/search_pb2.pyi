import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lineup.v1 import common_pb2 as _common_pb2
from lineup.v1 import face_search_pb2 as _face_search_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SearchFacesByFaceIdRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "face_id", "top_k", "min_raw_score", "request_id", "trace_id")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    face_id: str
    top_k: int
    min_raw_score: float
    request_id: str
    trace_id: str
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., face_id: _Optional[str] = ..., top_k: _Optional[int] = ..., min_raw_score: _Optional[float] = ..., request_id: _Optional[str] = ..., trace_id: _Optional[str] = ...) -> None: ...

class SearchUsersByFacesRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "user_id", "face_id", "max_users", "min_raw_score", "request_id", "trace_id")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_USERS_FIELD_NUMBER: _ClassVar[int]
    MIN_RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    user_id: str
    face_id: str
    max_users: int
    min_raw_score: float
    request_id: str
    trace_id: str
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., face_id: _Optional[str] = ..., max_users: _Optional[int] = ..., min_raw_score: _Optional[float] = ..., request_id: _Optional[str] = ..., trace_id: _Optional[str] = ...) -> None: ...

class EnsureCollectionRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "face_model_version", "dimension", "face_retention_days", "tags", "must_create")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    FACE_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    MUST_CREATE_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    face_model_version: str
    dimension: int
    face_retention_days: int
    tags: _containers.ScalarMap[str, str]
    must_create: bool
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., face_model_version: _Optional[str] = ..., dimension: _Optional[int] = ..., face_retention_days: _Optional[int] = ..., tags: _Optional[_Mapping[str, str]] = ..., must_create: _Optional[bool] = ...) -> None: ...

class EnsureCollectionResponse(_message.Message):
    __slots__ = ("created", "face_model_version")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    created: bool
    face_model_version: str
    def __init__(self, created: _Optional[bool] = ..., face_model_version: _Optional[str] = ...) -> None: ...

class DropCollectionRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ...) -> None: ...

class DropCollectionResponse(_message.Message):
    __slots__ = ("dropped_faces",)
    DROPPED_FACES_FIELD_NUMBER: _ClassVar[int]
    dropped_faces: int
    def __init__(self, dropped_faces: _Optional[int] = ...) -> None: ...

class FaceVector(_message.Message):
    __slots__ = ("face", "embedding", "crop")
    FACE_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    face: _common_pb2.Face
    embedding: _containers.RepeatedScalarFieldContainer[float]
    crop: _common_pb2.ObjectRef
    def __init__(self, face: _Optional[_Union[_common_pb2.Face, _Mapping]] = ..., embedding: _Optional[_Iterable[float]] = ..., crop: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ...) -> None: ...

class UpsertFacesRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "faces")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    faces: _containers.RepeatedCompositeFieldContainer[FaceVector]
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., faces: _Optional[_Iterable[_Union[FaceVector, _Mapping]]] = ...) -> None: ...

class UpsertFacesResponse(_message.Message):
    __slots__ = ("upserted",)
    UPSERTED_FIELD_NUMBER: _ClassVar[int]
    upserted: int
    def __init__(self, upserted: _Optional[int] = ...) -> None: ...

class QueryVector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class SearchVectorsRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "owner_agency_id", "queries", "top_k", "min_raw_score", "user_id")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    owner_agency_id: str
    queries: _containers.RepeatedCompositeFieldContainer[QueryVector]
    top_k: int
    min_raw_score: float
    user_id: str
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., owner_agency_id: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[QueryVector, _Mapping]]] = ..., top_k: _Optional[int] = ..., min_raw_score: _Optional[float] = ..., user_id: _Optional[str] = ...) -> None: ...

class CandidateList(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[VectorHit]
    def __init__(self, matches: _Optional[_Iterable[_Union[VectorHit, _Mapping]]] = ...) -> None: ...

class VectorHit(_message.Message):
    __slots__ = ("face", "raw_score")
    FACE_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    face: _common_pb2.Face
    raw_score: float
    def __init__(self, face: _Optional[_Union[_common_pb2.Face, _Mapping]] = ..., raw_score: _Optional[float] = ...) -> None: ...

class SearchVectorsResponse(_message.Message):
    __slots__ = ("results", "face_model_version")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[CandidateList]
    face_model_version: str
    def __init__(self, results: _Optional[_Iterable[_Union[CandidateList, _Mapping]]] = ..., face_model_version: _Optional[str] = ...) -> None: ...

class GetFacesRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "face_ids", "user_id", "page", "with_embeddings", "image_id")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    WITH_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    face_ids: _containers.RepeatedScalarFieldContainer[str]
    user_id: str
    page: _common_pb2.PageRequest
    with_embeddings: bool
    image_id: str
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., face_ids: _Optional[_Iterable[str]] = ..., user_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ..., with_embeddings: _Optional[bool] = ..., image_id: _Optional[str] = ...) -> None: ...

class GetFacesResponse(_message.Message):
    __slots__ = ("faces", "page")
    FACES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[FaceVector]
    page: _common_pb2.PageResponse
    def __init__(self, faces: _Optional[_Iterable[_Union[FaceVector, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class DeleteFaceVectorsRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "face_ids")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    face_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., face_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteFaceVectorsResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: _containers.RepeatedCompositeFieldContainer[FaceVector]
    def __init__(self, deleted: _Optional[_Iterable[_Union[FaceVector, _Mapping]]] = ...) -> None: ...

class CountFacesRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ...) -> None: ...

class CountFacesResponse(_message.Message):
    __slots__ = ("face_count",)
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    face_count: int
    def __init__(self, face_count: _Optional[int] = ...) -> None: ...

class DescribeVectorCollectionRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "pin_only")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PIN_ONLY_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    pin_only: bool
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., pin_only: _Optional[bool] = ...) -> None: ...

class VectorCollection(_message.Message):
    __slots__ = ("collection_id", "face_model_version", "dimension", "face_count", "user_count", "created_at", "face_retention_days", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    USER_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FACE_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    face_model_version: str
    dimension: int
    face_count: int
    user_count: int
    created_at: _timestamp_pb2.Timestamp
    face_retention_days: int
    tags: _containers.ScalarMap[str, str]
    def __init__(self, collection_id: _Optional[str] = ..., face_model_version: _Optional[str] = ..., dimension: _Optional[int] = ..., face_count: _Optional[int] = ..., user_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., face_retention_days: _Optional[int] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ListVectorCollectionsRequest(_message.Message):
    __slots__ = ("agency_id", "page")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    page: _common_pb2.PageRequest
    def __init__(self, agency_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListVectorCollectionsResponse(_message.Message):
    __slots__ = ("collections", "page")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[VectorCollection]
    page: _common_pb2.PageResponse
    def __init__(self, collections: _Optional[_Iterable[_Union[VectorCollection, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class VectorUserRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "user_id", "delete_faces")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_FACES_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    user_id: str
    delete_faces: bool
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., delete_faces: _Optional[bool] = ...) -> None: ...

class DeleteVectorUserResponse(_message.Message):
    __slots__ = ("disassociated_face_ids", "deleted_faces")
    DISASSOCIATED_FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    DELETED_FACES_FIELD_NUMBER: _ClassVar[int]
    disassociated_face_ids: _containers.RepeatedScalarFieldContainer[str]
    deleted_faces: _containers.RepeatedCompositeFieldContainer[FaceVector]
    def __init__(self, disassociated_face_ids: _Optional[_Iterable[str]] = ..., deleted_faces: _Optional[_Iterable[_Union[FaceVector, _Mapping]]] = ...) -> None: ...

class ListVectorUsersRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "page")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    page: _common_pb2.PageRequest
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class SetFacesUserRequest(_message.Message):
    __slots__ = ("agency_id", "collection_id", "user_id", "face_ids")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    collection_id: str
    user_id: str
    face_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., face_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class FaceUserChange(_message.Message):
    __slots__ = ("face_id", "changed", "reason")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    face_id: str
    changed: bool
    reason: str
    def __init__(self, face_id: _Optional[str] = ..., changed: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class SetFacesUserResponse(_message.Message):
    __slots__ = ("changes", "user")
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    changes: _containers.RepeatedCompositeFieldContainer[FaceUserChange]
    user: _face_search_pb2.User
    def __init__(self, changes: _Optional[_Iterable[_Union[FaceUserChange, _Mapping]]] = ..., user: _Optional[_Union[_face_search_pb2.User, _Mapping]] = ...) -> None: ...
