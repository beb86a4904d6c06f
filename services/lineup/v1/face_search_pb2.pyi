import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lineup.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_SUCCEEDED: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_PARTIALLY_SUCCEEDED: _ClassVar[JobState]

class RequestState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REQUEST_STATE_UNSPECIFIED: _ClassVar[RequestState]
    REQUEST_STATE_PENDING: _ClassVar[RequestState]
    REQUEST_STATE_DONE: _ClassVar[RequestState]
    REQUEST_STATE_FAILED: _ClassVar[RequestState]
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_SUCCEEDED: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_PARTIALLY_SUCCEEDED: JobState
REQUEST_STATE_UNSPECIFIED: RequestState
REQUEST_STATE_PENDING: RequestState
REQUEST_STATE_DONE: RequestState
REQUEST_STATE_FAILED: RequestState

class CreateCollectionRequest(_message.Message):
    __slots__ = ("collection_id", "face_model", "face_retention_days", "tags")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_FIELD_NUMBER: _ClassVar[int]
    FACE_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    face_model: str
    face_retention_days: int
    tags: _containers.ScalarMap[str, str]
    def __init__(self, collection_id: _Optional[str] = ..., face_model: _Optional[str] = ..., face_retention_days: _Optional[int] = ..., tags: _Optional[_Mapping[str, str]] = ...) -> None: ...

class CreateCollectionResponse(_message.Message):
    __slots__ = ("collection_id", "face_model_version")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    face_model_version: str
    def __init__(self, collection_id: _Optional[str] = ..., face_model_version: _Optional[str] = ...) -> None: ...

class DescribeCollectionRequest(_message.Message):
    __slots__ = ("collection_id",)
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    def __init__(self, collection_id: _Optional[str] = ...) -> None: ...

class DescribeCollectionResponse(_message.Message):
    __slots__ = ("collection_id", "face_count", "user_count", "face_model_version", "created_at", "face_retention_days", "tags", "owner_agency_id")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    USER_COUNT_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FACE_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    OWNER_AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    face_count: int
    user_count: int
    face_model_version: str
    created_at: _timestamp_pb2.Timestamp
    face_retention_days: int
    tags: _containers.ScalarMap[str, str]
    owner_agency_id: str
    def __init__(self, collection_id: _Optional[str] = ..., face_count: _Optional[int] = ..., user_count: _Optional[int] = ..., face_model_version: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., face_retention_days: _Optional[int] = ..., tags: _Optional[_Mapping[str, str]] = ..., owner_agency_id: _Optional[str] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class CollectionSummary(_message.Message):
    __slots__ = ("collection_id", "face_model_version", "owner_agency_id", "granted")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    OWNER_AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    face_model_version: str
    owner_agency_id: str
    granted: bool
    def __init__(self, collection_id: _Optional[str] = ..., face_model_version: _Optional[str] = ..., owner_agency_id: _Optional[str] = ..., granted: _Optional[bool] = ...) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections", "page")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[CollectionSummary]
    page: _common_pb2.PageResponse
    def __init__(self, collections: _Optional[_Iterable[_Union[CollectionSummary, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("collection_id",)
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    def __init__(self, collection_id: _Optional[str] = ...) -> None: ...

class DeleteCollectionResponse(_message.Message):
    __slots__ = ("deleted_faces", "erasure_receipt_id")
    DELETED_FACES_FIELD_NUMBER: _ClassVar[int]
    ERASURE_RECEIPT_ID_FIELD_NUMBER: _ClassVar[int]
    deleted_faces: int
    erasure_receipt_id: str
    def __init__(self, deleted_faces: _Optional[int] = ..., erasure_receipt_id: _Optional[str] = ...) -> None: ...

class IndexFacesRequest(_message.Message):
    __slots__ = ("collection_id", "image", "external_image_id", "max_faces", "quality_filter")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FILTER_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    image: _common_pb2.Image
    external_image_id: str
    max_faces: int
    quality_filter: _common_pb2.QualityFilter
    def __init__(self, collection_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., external_image_id: _Optional[str] = ..., max_faces: _Optional[int] = ..., quality_filter: _Optional[_Union[_common_pb2.QualityFilter, str]] = ...) -> None: ...

class FaceRecord(_message.Message):
    __slots__ = ("face", "face_detail")
    FACE_FIELD_NUMBER: _ClassVar[int]
    FACE_DETAIL_FIELD_NUMBER: _ClassVar[int]
    face: _common_pb2.Face
    face_detail: _common_pb2.FaceDetail
    def __init__(self, face: _Optional[_Union[_common_pb2.Face, _Mapping]] = ..., face_detail: _Optional[_Union[_common_pb2.FaceDetail, _Mapping]] = ...) -> None: ...

class IndexFacesResponse(_message.Message):
    __slots__ = ("face_records", "unindexed_faces", "face_model_version", "image_id", "request_id")
    FACE_RECORDS_FIELD_NUMBER: _ClassVar[int]
    UNINDEXED_FACES_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    face_records: _containers.RepeatedCompositeFieldContainer[FaceRecord]
    unindexed_faces: _containers.RepeatedCompositeFieldContainer[_common_pb2.UnindexedFace]
    face_model_version: str
    image_id: str
    request_id: str
    def __init__(self, face_records: _Optional[_Iterable[_Union[FaceRecord, _Mapping]]] = ..., unindexed_faces: _Optional[_Iterable[_Union[_common_pb2.UnindexedFace, _Mapping]]] = ..., face_model_version: _Optional[str] = ..., image_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListFacesRequest(_message.Message):
    __slots__ = ("collection_id", "user_id", "face_ids", "page")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    user_id: str
    face_ids: _containers.RepeatedScalarFieldContainer[str]
    page: _common_pb2.PageRequest
    def __init__(self, collection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., face_ids: _Optional[_Iterable[str]] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListFacesResponse(_message.Message):
    __slots__ = ("faces", "face_model_version", "page")
    FACES_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[_common_pb2.Face]
    face_model_version: str
    page: _common_pb2.PageResponse
    def __init__(self, faces: _Optional[_Iterable[_Union[_common_pb2.Face, _Mapping]]] = ..., face_model_version: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class DeleteFacesRequest(_message.Message):
    __slots__ = ("collection_id", "face_ids")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    face_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection_id: _Optional[str] = ..., face_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class UnsuccessfulFaceDeletion(_message.Message):
    __slots__ = ("face_id", "reason")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    face_id: str
    reason: str
    def __init__(self, face_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeleteFacesResponse(_message.Message):
    __slots__ = ("deleted_face_ids", "unsuccessful", "erasure_receipt_id")
    DELETED_FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    UNSUCCESSFUL_FIELD_NUMBER: _ClassVar[int]
    ERASURE_RECEIPT_ID_FIELD_NUMBER: _ClassVar[int]
    deleted_face_ids: _containers.RepeatedScalarFieldContainer[str]
    unsuccessful: _containers.RepeatedCompositeFieldContainer[UnsuccessfulFaceDeletion]
    erasure_receipt_id: str
    def __init__(self, deleted_face_ids: _Optional[_Iterable[str]] = ..., unsuccessful: _Optional[_Iterable[_Union[UnsuccessfulFaceDeletion, _Mapping]]] = ..., erasure_receipt_id: _Optional[str] = ...) -> None: ...

class FaceMatch(_message.Message):
    __slots__ = ("rank", "score", "face")
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    rank: int
    score: _common_pb2.MatchScore
    face: _common_pb2.Face
    def __init__(self, rank: _Optional[int] = ..., score: _Optional[_Union[_common_pb2.MatchScore, _Mapping]] = ..., face: _Optional[_Union[_common_pb2.Face, _Mapping]] = ...) -> None: ...

class SearchFacesRequest(_message.Message):
    __slots__ = ("collection_id", "face_id", "max_faces", "threshold", "context")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    face_id: str
    max_faces: int
    threshold: _common_pb2.Threshold
    context: _common_pb2.SearchContext
    def __init__(self, collection_id: _Optional[str] = ..., face_id: _Optional[str] = ..., max_faces: _Optional[int] = ..., threshold: _Optional[_Union[_common_pb2.Threshold, _Mapping]] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ...) -> None: ...

class SearchProvenance(_message.Message):
    __slots__ = ("search_id", "request_id", "trace_id", "threshold_applied", "face_model_version", "label", "notice")
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_APPLIED_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    search_id: str
    request_id: str
    trace_id: str
    threshold_applied: _common_pb2.MatchScore
    face_model_version: str
    label: _common_pb2.ResultLabel
    notice: str
    def __init__(self, search_id: _Optional[str] = ..., request_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., threshold_applied: _Optional[_Union[_common_pb2.MatchScore, _Mapping]] = ..., face_model_version: _Optional[str] = ..., label: _Optional[_Union[_common_pb2.ResultLabel, str]] = ..., notice: _Optional[str] = ...) -> None: ...

class SearchFacesResponse(_message.Message):
    __slots__ = ("searched_face_id", "face_matches", "provenance")
    SEARCHED_FACE_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_MATCHES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    searched_face_id: str
    face_matches: _containers.RepeatedCompositeFieldContainer[FaceMatch]
    provenance: SearchProvenance
    def __init__(self, searched_face_id: _Optional[str] = ..., face_matches: _Optional[_Iterable[_Union[FaceMatch, _Mapping]]] = ..., provenance: _Optional[_Union[SearchProvenance, _Mapping]] = ...) -> None: ...

class SearchFacesByImageRequest(_message.Message):
    __slots__ = ("collection_id", "image", "max_faces", "threshold", "quality_filter", "largest_face_only", "max_probe_faces", "context")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FILTER_FIELD_NUMBER: _ClassVar[int]
    LARGEST_FACE_ONLY_FIELD_NUMBER: _ClassVar[int]
    MAX_PROBE_FACES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    image: _common_pb2.Image
    max_faces: int
    threshold: _common_pb2.Threshold
    quality_filter: _common_pb2.QualityFilter
    largest_face_only: bool
    max_probe_faces: int
    context: _common_pb2.SearchContext
    def __init__(self, collection_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., max_faces: _Optional[int] = ..., threshold: _Optional[_Union[_common_pb2.Threshold, _Mapping]] = ..., quality_filter: _Optional[_Union[_common_pb2.QualityFilter, str]] = ..., largest_face_only: _Optional[bool] = ..., max_probe_faces: _Optional[int] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ...) -> None: ...

class ProbeFaceResult(_message.Message):
    __slots__ = ("face_index", "searched_face", "face_matches")
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    SEARCHED_FACE_FIELD_NUMBER: _ClassVar[int]
    FACE_MATCHES_FIELD_NUMBER: _ClassVar[int]
    face_index: int
    searched_face: _common_pb2.FaceDetail
    face_matches: _containers.RepeatedCompositeFieldContainer[FaceMatch]
    def __init__(self, face_index: _Optional[int] = ..., searched_face: _Optional[_Union[_common_pb2.FaceDetail, _Mapping]] = ..., face_matches: _Optional[_Iterable[_Union[FaceMatch, _Mapping]]] = ...) -> None: ...

class SearchFacesByImageResponse(_message.Message):
    __slots__ = ("results", "unsearched_faces", "probe_image_sha256", "provenance")
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    UNSEARCHED_FACES_FIELD_NUMBER: _ClassVar[int]
    PROBE_IMAGE_SHA256_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ProbeFaceResult]
    unsearched_faces: _containers.RepeatedCompositeFieldContainer[_common_pb2.UnindexedFace]
    probe_image_sha256: str
    provenance: SearchProvenance
    def __init__(self, results: _Optional[_Iterable[_Union[ProbeFaceResult, _Mapping]]] = ..., unsearched_faces: _Optional[_Iterable[_Union[_common_pb2.UnindexedFace, _Mapping]]] = ..., probe_image_sha256: _Optional[str] = ..., provenance: _Optional[_Union[SearchProvenance, _Mapping]] = ...) -> None: ...

class CompareFacesRequest(_message.Message):
    __slots__ = ("source_image", "target_image", "threshold", "quality_filter", "context")
    SOURCE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_IMAGE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FILTER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    source_image: _common_pb2.Image
    target_image: _common_pb2.Image
    threshold: _common_pb2.Threshold
    quality_filter: _common_pb2.QualityFilter
    context: _common_pb2.SearchContext
    def __init__(self, source_image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., target_image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., threshold: _Optional[_Union[_common_pb2.Threshold, _Mapping]] = ..., quality_filter: _Optional[_Union[_common_pb2.QualityFilter, str]] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ...) -> None: ...

class CompareFacesMatch(_message.Message):
    __slots__ = ("score", "face", "face_index")
    SCORE_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    score: _common_pb2.MatchScore
    face: _common_pb2.FaceDetail
    face_index: int
    def __init__(self, score: _Optional[_Union[_common_pb2.MatchScore, _Mapping]] = ..., face: _Optional[_Union[_common_pb2.FaceDetail, _Mapping]] = ..., face_index: _Optional[int] = ...) -> None: ...

class CompareFacesResponse(_message.Message):
    __slots__ = ("source_face", "face_matches", "unmatched_faces", "provenance")
    SOURCE_FACE_FIELD_NUMBER: _ClassVar[int]
    FACE_MATCHES_FIELD_NUMBER: _ClassVar[int]
    UNMATCHED_FACES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    source_face: _common_pb2.FaceDetail
    face_matches: _containers.RepeatedCompositeFieldContainer[CompareFacesMatch]
    unmatched_faces: _containers.RepeatedCompositeFieldContainer[CompareFacesMatch]
    provenance: SearchProvenance
    def __init__(self, source_face: _Optional[_Union[_common_pb2.FaceDetail, _Mapping]] = ..., face_matches: _Optional[_Iterable[_Union[CompareFacesMatch, _Mapping]]] = ..., unmatched_faces: _Optional[_Iterable[_Union[CompareFacesMatch, _Mapping]]] = ..., provenance: _Optional[_Union[SearchProvenance, _Mapping]] = ...) -> None: ...

class DetectFacesRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.Image
    def __init__(self, image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ...) -> None: ...

class DetectFacesResponse(_message.Message):
    __slots__ = ("face_details", "image_width", "image_height", "request_id")
    FACE_DETAILS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    face_details: _containers.RepeatedCompositeFieldContainer[_common_pb2.FaceDetail]
    image_width: int
    image_height: int
    request_id: str
    def __init__(self, face_details: _Optional[_Iterable[_Union[_common_pb2.FaceDetail, _Mapping]]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., request_id: _Optional[str] = ...) -> None: ...

class User(_message.Message):
    __slots__ = ("user_id", "face_count", "created_at")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    face_count: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, user_id: _Optional[str] = ..., face_count: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateUserRequest(_message.Message):
    __slots__ = ("collection_id", "user_id")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    user_id: str
    def __init__(self, collection_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class CreateUserResponse(_message.Message):
    __slots__ = ("user",)
    USER_FIELD_NUMBER: _ClassVar[int]
    user: User
    def __init__(self, user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class DeleteUserRequest(_message.Message):
    __slots__ = ("collection_id", "user_id", "delete_faces")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DELETE_FACES_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    user_id: str
    delete_faces: bool
    def __init__(self, collection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., delete_faces: _Optional[bool] = ...) -> None: ...

class DeleteUserResponse(_message.Message):
    __slots__ = ("erasure_receipt_id",)
    ERASURE_RECEIPT_ID_FIELD_NUMBER: _ClassVar[int]
    erasure_receipt_id: str
    def __init__(self, erasure_receipt_id: _Optional[str] = ...) -> None: ...

class ListUsersRequest(_message.Message):
    __slots__ = ("collection_id", "page")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    page: _common_pb2.PageRequest
    def __init__(self, collection_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListUsersResponse(_message.Message):
    __slots__ = ("users", "page")
    USERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    users: _containers.RepeatedCompositeFieldContainer[User]
    page: _common_pb2.PageResponse
    def __init__(self, users: _Optional[_Iterable[_Union[User, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class AssociateFacesRequest(_message.Message):
    __slots__ = ("collection_id", "user_id", "face_ids", "user_match_threshold")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    USER_MATCH_THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    user_id: str
    face_ids: _containers.RepeatedScalarFieldContainer[str]
    user_match_threshold: _common_pb2.Threshold
    def __init__(self, collection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., face_ids: _Optional[_Iterable[str]] = ..., user_match_threshold: _Optional[_Union[_common_pb2.Threshold, _Mapping]] = ...) -> None: ...

class UnsuccessfulFaceAssociation(_message.Message):
    __slots__ = ("face_id", "reason", "score")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    face_id: str
    reason: str
    score: _common_pb2.MatchScore
    def __init__(self, face_id: _Optional[str] = ..., reason: _Optional[str] = ..., score: _Optional[_Union[_common_pb2.MatchScore, _Mapping]] = ...) -> None: ...

class AssociateFacesResponse(_message.Message):
    __slots__ = ("associated_face_ids", "unsuccessful", "user")
    ASSOCIATED_FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    UNSUCCESSFUL_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    associated_face_ids: _containers.RepeatedScalarFieldContainer[str]
    unsuccessful: _containers.RepeatedCompositeFieldContainer[UnsuccessfulFaceAssociation]
    user: User
    def __init__(self, associated_face_ids: _Optional[_Iterable[str]] = ..., unsuccessful: _Optional[_Iterable[_Union[UnsuccessfulFaceAssociation, _Mapping]]] = ..., user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class DisassociateFacesRequest(_message.Message):
    __slots__ = ("collection_id", "user_id", "face_ids")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    user_id: str
    face_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., face_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DisassociateFacesResponse(_message.Message):
    __slots__ = ("disassociated_face_ids", "unsuccessful", "user")
    DISASSOCIATED_FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    UNSUCCESSFUL_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    disassociated_face_ids: _containers.RepeatedScalarFieldContainer[str]
    unsuccessful: _containers.RepeatedCompositeFieldContainer[UnsuccessfulFaceAssociation]
    user: User
    def __init__(self, disassociated_face_ids: _Optional[_Iterable[str]] = ..., unsuccessful: _Optional[_Iterable[_Union[UnsuccessfulFaceAssociation, _Mapping]]] = ..., user: _Optional[_Union[User, _Mapping]] = ...) -> None: ...

class UserMatch(_message.Message):
    __slots__ = ("rank", "score", "user", "best_face_id")
    RANK_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    BEST_FACE_ID_FIELD_NUMBER: _ClassVar[int]
    rank: int
    score: _common_pb2.MatchScore
    user: User
    best_face_id: str
    def __init__(self, rank: _Optional[int] = ..., score: _Optional[_Union[_common_pb2.MatchScore, _Mapping]] = ..., user: _Optional[_Union[User, _Mapping]] = ..., best_face_id: _Optional[str] = ...) -> None: ...

class SearchUsersRequest(_message.Message):
    __slots__ = ("collection_id", "user_id", "face_id", "max_users", "threshold", "context")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_USERS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    user_id: str
    face_id: str
    max_users: int
    threshold: _common_pb2.Threshold
    context: _common_pb2.SearchContext
    def __init__(self, collection_id: _Optional[str] = ..., user_id: _Optional[str] = ..., face_id: _Optional[str] = ..., max_users: _Optional[int] = ..., threshold: _Optional[_Union[_common_pb2.Threshold, _Mapping]] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ...) -> None: ...

class SearchUsersResponse(_message.Message):
    __slots__ = ("user_matches", "provenance")
    USER_MATCHES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    user_matches: _containers.RepeatedCompositeFieldContainer[UserMatch]
    provenance: SearchProvenance
    def __init__(self, user_matches: _Optional[_Iterable[_Union[UserMatch, _Mapping]]] = ..., provenance: _Optional[_Union[SearchProvenance, _Mapping]] = ...) -> None: ...

class SearchUsersByImageRequest(_message.Message):
    __slots__ = ("collection_id", "image", "max_users", "threshold", "quality_filter", "context")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MAX_USERS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FILTER_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    image: _common_pb2.Image
    max_users: int
    threshold: _common_pb2.Threshold
    quality_filter: _common_pb2.QualityFilter
    context: _common_pb2.SearchContext
    def __init__(self, collection_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.Image, _Mapping]] = ..., max_users: _Optional[int] = ..., threshold: _Optional[_Union[_common_pb2.Threshold, _Mapping]] = ..., quality_filter: _Optional[_Union[_common_pb2.QualityFilter, str]] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ...) -> None: ...

class SearchUsersByImageResponse(_message.Message):
    __slots__ = ("searched_face", "user_matches", "unsearched_faces", "provenance")
    SEARCHED_FACE_FIELD_NUMBER: _ClassVar[int]
    USER_MATCHES_FIELD_NUMBER: _ClassVar[int]
    UNSEARCHED_FACES_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    searched_face: _common_pb2.FaceDetail
    user_matches: _containers.RepeatedCompositeFieldContainer[UserMatch]
    unsearched_faces: _containers.RepeatedCompositeFieldContainer[_common_pb2.UnindexedFace]
    provenance: SearchProvenance
    def __init__(self, searched_face: _Optional[_Union[_common_pb2.FaceDetail, _Mapping]] = ..., user_matches: _Optional[_Iterable[_Union[UserMatch, _Mapping]]] = ..., unsearched_faces: _Optional[_Iterable[_Union[_common_pb2.UnindexedFace, _Mapping]]] = ..., provenance: _Optional[_Union[SearchProvenance, _Mapping]] = ...) -> None: ...

class StartIndexJobRequest(_message.Message):
    __slots__ = ("collection_id", "prefix", "manifest", "max_faces_per_image", "quality_filter", "client_token")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_PER_IMAGE_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FILTER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    prefix: _common_pb2.ObjectRef
    manifest: _common_pb2.ObjectRef
    max_faces_per_image: int
    quality_filter: _common_pb2.QualityFilter
    client_token: str
    def __init__(self, collection_id: _Optional[str] = ..., prefix: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., manifest: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., max_faces_per_image: _Optional[int] = ..., quality_filter: _Optional[_Union[_common_pb2.QualityFilter, str]] = ..., client_token: _Optional[str] = ...) -> None: ...

class StartIndexJobResponse(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class JobItemError(_message.Message):
    __slots__ = ("object_key", "reason")
    OBJECT_KEY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    object_key: str
    reason: str
    def __init__(self, object_key: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "collection_id", "state", "images_total", "images_done", "images_failed", "faces_indexed", "progress", "errors", "created_at", "updated_at", "reason")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    IMAGES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    IMAGES_DONE_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FAILED_FIELD_NUMBER: _ClassVar[int]
    FACES_INDEXED_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    collection_id: str
    state: JobState
    images_total: int
    images_done: int
    images_failed: int
    faces_indexed: int
    progress: float
    errors: _containers.RepeatedCompositeFieldContainer[JobItemError]
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, job_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., images_total: _Optional[int] = ..., images_done: _Optional[int] = ..., images_failed: _Optional[int] = ..., faces_indexed: _Optional[int] = ..., progress: _Optional[float] = ..., errors: _Optional[_Iterable[_Union[JobItemError, _Mapping]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobResponse(_message.Message):
    __slots__ = ("job",)
    JOB_FIELD_NUMBER: _ClassVar[int]
    job: Job
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("collection_id", "page")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    page: _common_pb2.PageRequest
    def __init__(self, collection_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "page")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    page: _common_pb2.PageResponse
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class GetRequestRequest(_message.Message):
    __slots__ = ("request_id",)
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    def __init__(self, request_id: _Optional[str] = ...) -> None: ...

class GetRequestResponse(_message.Message):
    __slots__ = ("request_id", "state", "error_code", "error_message", "index_faces", "search_faces_by_image", "detect_faces", "compare_faces", "search_users_by_image")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FACES_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FACES_BY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    DETECT_FACES_FIELD_NUMBER: _ClassVar[int]
    COMPARE_FACES_FIELD_NUMBER: _ClassVar[int]
    SEARCH_USERS_BY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    state: RequestState
    error_code: int
    error_message: str
    index_faces: IndexFacesResponse
    search_faces_by_image: SearchFacesByImageResponse
    detect_faces: DetectFacesResponse
    compare_faces: CompareFacesResponse
    search_users_by_image: SearchUsersByImageResponse
    def __init__(self, request_id: _Optional[str] = ..., state: _Optional[_Union[RequestState, str]] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ..., index_faces: _Optional[_Union[IndexFacesResponse, _Mapping]] = ..., search_faces_by_image: _Optional[_Union[SearchFacesByImageResponse, _Mapping]] = ..., detect_faces: _Optional[_Union[DetectFacesResponse, _Mapping]] = ..., compare_faces: _Optional[_Union[CompareFacesResponse, _Mapping]] = ..., search_users_by_image: _Optional[_Union[SearchUsersByImageResponse, _Mapping]] = ...) -> None: ...
