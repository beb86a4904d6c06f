import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lineup.v1 import audit_pb2 as _audit_pb2
from lineup.v1 import common_pb2 as _common_pb2
from lineup.v1 import face_search_pb2 as _face_search_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PipelineOperation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PIPELINE_OPERATION_UNSPECIFIED: _ClassVar[PipelineOperation]
    PIPELINE_OPERATION_INDEX: _ClassVar[PipelineOperation]
    PIPELINE_OPERATION_SEARCH: _ClassVar[PipelineOperation]
    PIPELINE_OPERATION_DETECT: _ClassVar[PipelineOperation]
    PIPELINE_OPERATION_COMPARE_SOURCE: _ClassVar[PipelineOperation]
    PIPELINE_OPERATION_COMPARE_TARGET: _ClassVar[PipelineOperation]
    PIPELINE_OPERATION_SEARCH_USERS: _ClassVar[PipelineOperation]
PIPELINE_OPERATION_UNSPECIFIED: PipelineOperation
PIPELINE_OPERATION_INDEX: PipelineOperation
PIPELINE_OPERATION_SEARCH: PipelineOperation
PIPELINE_OPERATION_DETECT: PipelineOperation
PIPELINE_OPERATION_COMPARE_SOURCE: PipelineOperation
PIPELINE_OPERATION_COMPARE_TARGET: PipelineOperation
PIPELINE_OPERATION_SEARCH_USERS: PipelineOperation

class Actor(_message.Message):
    __slots__ = ("key_id", "holder", "agency_id")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    holder: str
    agency_id: str
    def __init__(self, key_id: _Optional[str] = ..., holder: _Optional[str] = ..., agency_id: _Optional[str] = ...) -> None: ...

class Envelope(_message.Message):
    __slots__ = ("event_id", "request_id", "agency_id", "actor", "created_at", "schema_version", "producer", "image_accepted", "faces_detected", "faces_embedded", "pipeline_result", "audit_record", "dead_letter", "sealed")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    PRODUCER_FIELD_NUMBER: _ClassVar[int]
    IMAGE_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    FACES_DETECTED_FIELD_NUMBER: _ClassVar[int]
    FACES_EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    PIPELINE_RESULT_FIELD_NUMBER: _ClassVar[int]
    AUDIT_RECORD_FIELD_NUMBER: _ClassVar[int]
    DEAD_LETTER_FIELD_NUMBER: _ClassVar[int]
    SEALED_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    request_id: str
    agency_id: str
    actor: Actor
    created_at: _timestamp_pb2.Timestamp
    schema_version: int
    producer: str
    image_accepted: ImageAccepted
    faces_detected: FacesDetected
    faces_embedded: FacesEmbedded
    pipeline_result: PipelineResult
    audit_record: _audit_pb2.AuditRecord
    dead_letter: DeadLetter
    sealed: SealedPayload
    def __init__(self, event_id: _Optional[str] = ..., request_id: _Optional[str] = ..., agency_id: _Optional[str] = ..., actor: _Optional[_Union[Actor, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., schema_version: _Optional[int] = ..., producer: _Optional[str] = ..., image_accepted: _Optional[_Union[ImageAccepted, _Mapping]] = ..., faces_detected: _Optional[_Union[FacesDetected, _Mapping]] = ..., faces_embedded: _Optional[_Union[FacesEmbedded, _Mapping]] = ..., pipeline_result: _Optional[_Union[PipelineResult, _Mapping]] = ..., audit_record: _Optional[_Union[_audit_pb2.AuditRecord, _Mapping]] = ..., dead_letter: _Optional[_Union[DeadLetter, _Mapping]] = ..., sealed: _Optional[_Union[SealedPayload, _Mapping]] = ...) -> None: ...

class SealedPayload(_message.Message):
    __slots__ = ("algorithm", "nonce", "ciphertext")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    NONCE_FIELD_NUMBER: _ClassVar[int]
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    algorithm: str
    nonce: bytes
    ciphertext: bytes
    def __init__(self, algorithm: _Optional[str] = ..., nonce: _Optional[bytes] = ..., ciphertext: _Optional[bytes] = ...) -> None: ...

class PipelineTask(_message.Message):
    __slots__ = ("operation", "collection_id", "owner_agency_id", "image", "image_sha256", "image_width", "image_height", "external_image_id", "max_faces", "quality_filter", "largest_face_only", "max_matches", "min_raw_score", "context", "job_id", "reply_topic", "face_model_version", "probe")
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SHA256_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_FACES_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FILTER_FIELD_NUMBER: _ClassVar[int]
    LARGEST_FACE_ONLY_FIELD_NUMBER: _ClassVar[int]
    MAX_MATCHES_FIELD_NUMBER: _ClassVar[int]
    MIN_RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    REPLY_TOPIC_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    PROBE_FIELD_NUMBER: _ClassVar[int]
    operation: PipelineOperation
    collection_id: str
    owner_agency_id: str
    image: _common_pb2.ObjectRef
    image_sha256: str
    image_width: int
    image_height: int
    external_image_id: str
    max_faces: int
    quality_filter: _common_pb2.QualityFilter
    largest_face_only: bool
    max_matches: int
    min_raw_score: float
    context: _common_pb2.SearchContext
    job_id: str
    reply_topic: str
    face_model_version: str
    probe: bool
    def __init__(self, operation: _Optional[_Union[PipelineOperation, str]] = ..., collection_id: _Optional[str] = ..., owner_agency_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., image_sha256: _Optional[str] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ..., external_image_id: _Optional[str] = ..., max_faces: _Optional[int] = ..., quality_filter: _Optional[_Union[_common_pb2.QualityFilter, str]] = ..., largest_face_only: _Optional[bool] = ..., max_matches: _Optional[int] = ..., min_raw_score: _Optional[float] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ..., job_id: _Optional[str] = ..., reply_topic: _Optional[str] = ..., face_model_version: _Optional[str] = ..., probe: _Optional[bool] = ...) -> None: ...

class ImageAccepted(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: PipelineTask
    def __init__(self, task: _Optional[_Union[PipelineTask, _Mapping]] = ...) -> None: ...

class DetectedFaceCrop(_message.Message):
    __slots__ = ("face_index", "detail", "crop", "chip_png")
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    CHIP_PNG_FIELD_NUMBER: _ClassVar[int]
    face_index: int
    detail: _common_pb2.FaceDetail
    crop: _common_pb2.ObjectRef
    chip_png: bytes
    def __init__(self, face_index: _Optional[int] = ..., detail: _Optional[_Union[_common_pb2.FaceDetail, _Mapping]] = ..., crop: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., chip_png: _Optional[bytes] = ...) -> None: ...

class FacesDetected(_message.Message):
    __slots__ = ("task", "faces", "filtered", "detector_model_version")
    TASK_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    FILTERED_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    task: PipelineTask
    faces: _containers.RepeatedCompositeFieldContainer[DetectedFaceCrop]
    filtered: _containers.RepeatedCompositeFieldContainer[_common_pb2.UnindexedFace]
    detector_model_version: str
    def __init__(self, task: _Optional[_Union[PipelineTask, _Mapping]] = ..., faces: _Optional[_Iterable[_Union[DetectedFaceCrop, _Mapping]]] = ..., filtered: _Optional[_Iterable[_Union[_common_pb2.UnindexedFace, _Mapping]]] = ..., detector_model_version: _Optional[str] = ...) -> None: ...

class EmbeddedFace(_message.Message):
    __slots__ = ("face_index", "detail", "crop", "embedding")
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CROP_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    face_index: int
    detail: _common_pb2.FaceDetail
    crop: _common_pb2.ObjectRef
    embedding: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, face_index: _Optional[int] = ..., detail: _Optional[_Union[_common_pb2.FaceDetail, _Mapping]] = ..., crop: _Optional[_Union[_common_pb2.ObjectRef, _Mapping]] = ..., embedding: _Optional[_Iterable[float]] = ...) -> None: ...

class FacesEmbedded(_message.Message):
    __slots__ = ("task", "faces", "filtered", "face_model_version")
    TASK_FIELD_NUMBER: _ClassVar[int]
    FACES_FIELD_NUMBER: _ClassVar[int]
    FILTERED_FIELD_NUMBER: _ClassVar[int]
    FACE_MODEL_VERSION_FIELD_NUMBER: _ClassVar[int]
    task: PipelineTask
    faces: _containers.RepeatedCompositeFieldContainer[EmbeddedFace]
    filtered: _containers.RepeatedCompositeFieldContainer[_common_pb2.UnindexedFace]
    face_model_version: str
    def __init__(self, task: _Optional[_Union[PipelineTask, _Mapping]] = ..., faces: _Optional[_Iterable[_Union[EmbeddedFace, _Mapping]]] = ..., filtered: _Optional[_Iterable[_Union[_common_pb2.UnindexedFace, _Mapping]]] = ..., face_model_version: _Optional[str] = ...) -> None: ...

class PipelineResult(_message.Message):
    __slots__ = ("task", "error_code", "error_message", "index_faces", "search_faces_by_image", "detect_faces", "embedded", "search_users_by_image")
    TASK_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INDEX_FACES_FIELD_NUMBER: _ClassVar[int]
    SEARCH_FACES_BY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    DETECT_FACES_FIELD_NUMBER: _ClassVar[int]
    EMBEDDED_FIELD_NUMBER: _ClassVar[int]
    SEARCH_USERS_BY_IMAGE_FIELD_NUMBER: _ClassVar[int]
    task: PipelineTask
    error_code: int
    error_message: str
    index_faces: _face_search_pb2.IndexFacesResponse
    search_faces_by_image: _face_search_pb2.SearchFacesByImageResponse
    detect_faces: _face_search_pb2.DetectFacesResponse
    embedded: FacesEmbedded
    search_users_by_image: _face_search_pb2.SearchUsersByImageResponse
    def __init__(self, task: _Optional[_Union[PipelineTask, _Mapping]] = ..., error_code: _Optional[int] = ..., error_message: _Optional[str] = ..., index_faces: _Optional[_Union[_face_search_pb2.IndexFacesResponse, _Mapping]] = ..., search_faces_by_image: _Optional[_Union[_face_search_pb2.SearchFacesByImageResponse, _Mapping]] = ..., detect_faces: _Optional[_Union[_face_search_pb2.DetectFacesResponse, _Mapping]] = ..., embedded: _Optional[_Union[FacesEmbedded, _Mapping]] = ..., search_users_by_image: _Optional[_Union[_face_search_pb2.SearchUsersByImageResponse, _Mapping]] = ...) -> None: ...

class DeadLetter(_message.Message):
    __slots__ = ("source_topic", "source_partition", "source_offset", "original_value", "original_headers", "service", "reason", "error_code", "attempts", "failed_at")
    class OriginalHeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SOURCE_TOPIC_FIELD_NUMBER: _ClassVar[int]
    SOURCE_PARTITION_FIELD_NUMBER: _ClassVar[int]
    SOURCE_OFFSET_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_VALUE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_HEADERS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    FAILED_AT_FIELD_NUMBER: _ClassVar[int]
    source_topic: str
    source_partition: int
    source_offset: int
    original_value: bytes
    original_headers: _containers.ScalarMap[str, str]
    service: str
    reason: str
    error_code: int
    attempts: int
    failed_at: _timestamp_pb2.Timestamp
    def __init__(self, source_topic: _Optional[str] = ..., source_partition: _Optional[int] = ..., source_offset: _Optional[int] = ..., original_value: _Optional[bytes] = ..., original_headers: _Optional[_Mapping[str, str]] = ..., service: _Optional[str] = ..., reason: _Optional[str] = ..., error_code: _Optional[int] = ..., attempts: _Optional[int] = ..., failed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
