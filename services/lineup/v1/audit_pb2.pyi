import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lineup.v1 import admin_pb2 as _admin_pb2
from lineup.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AUDIT_DECISION_UNSPECIFIED: _ClassVar[AuditDecision]
    AUDIT_DECISION_ALLOWED: _ClassVar[AuditDecision]
    AUDIT_DECISION_DENIED: _ClassVar[AuditDecision]
    AUDIT_DECISION_FAILED: _ClassVar[AuditDecision]
AUDIT_DECISION_UNSPECIFIED: AuditDecision
AUDIT_DECISION_ALLOWED: AuditDecision
AUDIT_DECISION_DENIED: AuditDecision
AUDIT_DECISION_FAILED: AuditDecision

class AuditCandidate(_message.Message):
    __slots__ = ("face_id", "user_id", "raw_score", "similarity", "probe_face_index", "rank")
    FACE_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    RAW_SCORE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    PROBE_FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    face_id: str
    user_id: str
    raw_score: float
    similarity: float
    probe_face_index: int
    rank: int
    def __init__(self, face_id: _Optional[str] = ..., user_id: _Optional[str] = ..., raw_score: _Optional[float] = ..., similarity: _Optional[float] = ..., probe_face_index: _Optional[int] = ..., rank: _Optional[int] = ...) -> None: ...

class ErasureReceipt(_message.Message):
    __slots__ = ("face_ids", "objects", "reason", "redacted")
    FACE_IDS_FIELD_NUMBER: _ClassVar[int]
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REDACTED_FIELD_NUMBER: _ClassVar[int]
    face_ids: _containers.RepeatedScalarFieldContainer[str]
    objects: _containers.RepeatedCompositeFieldContainer[_common_pb2.ObjectRef]
    reason: str
    redacted: _containers.RepeatedCompositeFieldContainer[_common_pb2.ObjectRef]
    def __init__(self, face_ids: _Optional[_Iterable[str]] = ..., objects: _Optional[_Iterable[_Union[_common_pb2.ObjectRef, _Mapping]]] = ..., reason: _Optional[str] = ..., redacted: _Optional[_Iterable[_Union[_common_pb2.ObjectRef, _Mapping]]] = ...) -> None: ...

class AuditRecord(_message.Message):
    __slots__ = ("record_id", "time", "agency_id", "actor_key_id", "actor_holder", "actor_roles", "actor_agency_id", "operation", "collection_id", "case_id", "purpose", "justification", "probe_image_sha256", "candidates", "decision", "status_code", "status_message", "request_id", "trace_id", "search_id", "grant_id", "erasure", "details", "sequence", "prev_hash", "hash")
    class DetailsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_HOLDER_FIELD_NUMBER: _ClassVar[int]
    ACTOR_ROLES_FIELD_NUMBER: _ClassVar[int]
    ACTOR_AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    PROBE_IMAGE_SHA256_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    ERASURE_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    record_id: str
    time: _timestamp_pb2.Timestamp
    agency_id: str
    actor_key_id: str
    actor_holder: str
    actor_roles: _containers.RepeatedScalarFieldContainer[_admin_pb2.Role]
    actor_agency_id: str
    operation: str
    collection_id: str
    case_id: str
    purpose: str
    justification: str
    probe_image_sha256: str
    candidates: _containers.RepeatedCompositeFieldContainer[AuditCandidate]
    decision: AuditDecision
    status_code: int
    status_message: str
    request_id: str
    trace_id: str
    search_id: str
    grant_id: str
    erasure: ErasureReceipt
    details: _containers.ScalarMap[str, str]
    sequence: int
    prev_hash: str
    hash: str
    def __init__(self, record_id: _Optional[str] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agency_id: _Optional[str] = ..., actor_key_id: _Optional[str] = ..., actor_holder: _Optional[str] = ..., actor_roles: _Optional[_Iterable[_Union[_admin_pb2.Role, str]]] = ..., actor_agency_id: _Optional[str] = ..., operation: _Optional[str] = ..., collection_id: _Optional[str] = ..., case_id: _Optional[str] = ..., purpose: _Optional[str] = ..., justification: _Optional[str] = ..., probe_image_sha256: _Optional[str] = ..., candidates: _Optional[_Iterable[_Union[AuditCandidate, _Mapping]]] = ..., decision: _Optional[_Union[AuditDecision, str]] = ..., status_code: _Optional[int] = ..., status_message: _Optional[str] = ..., request_id: _Optional[str] = ..., trace_id: _Optional[str] = ..., search_id: _Optional[str] = ..., grant_id: _Optional[str] = ..., erasure: _Optional[_Union[ErasureReceipt, _Mapping]] = ..., details: _Optional[_Mapping[str, str]] = ..., sequence: _Optional[int] = ..., prev_hash: _Optional[str] = ..., hash: _Optional[str] = ...) -> None: ...

class QueryAuditRecordsRequest(_message.Message):
    __slots__ = ("case_id", "actor_key_id", "operation", "from_time", "to_time", "search_id", "page")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTOR_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    TO_TIME_FIELD_NUMBER: _ClassVar[int]
    SEARCH_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    actor_key_id: str
    operation: str
    from_time: _timestamp_pb2.Timestamp
    to_time: _timestamp_pb2.Timestamp
    search_id: str
    page: _common_pb2.PageRequest
    def __init__(self, case_id: _Optional[str] = ..., actor_key_id: _Optional[str] = ..., operation: _Optional[str] = ..., from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., to_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., search_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class QueryAuditRecordsResponse(_message.Message):
    __slots__ = ("records", "page")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AuditRecord]
    page: _common_pb2.PageResponse
    def __init__(self, records: _Optional[_Iterable[_Union[AuditRecord, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class VerifyAuditChainRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BrokenLink(_message.Message):
    __slots__ = ("segment", "sequence", "record_id", "reason")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    segment: str
    sequence: int
    record_id: str
    reason: str
    def __init__(self, segment: _Optional[str] = ..., sequence: _Optional[int] = ..., record_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class VerifyAuditChainResponse(_message.Message):
    __slots__ = ("intact", "records_checked", "segments_checked", "first_broken", "head_sequence", "head_hash")
    INTACT_FIELD_NUMBER: _ClassVar[int]
    RECORDS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_BROKEN_FIELD_NUMBER: _ClassVar[int]
    HEAD_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    intact: bool
    records_checked: int
    segments_checked: int
    first_broken: BrokenLink
    head_sequence: int
    head_hash: str
    def __init__(self, intact: _Optional[bool] = ..., records_checked: _Optional[int] = ..., segments_checked: _Optional[int] = ..., first_broken: _Optional[_Union[BrokenLink, _Mapping]] = ..., head_sequence: _Optional[int] = ..., head_hash: _Optional[str] = ...) -> None: ...
