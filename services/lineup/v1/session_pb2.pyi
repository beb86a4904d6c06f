import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from lineup.v1 import admin_pb2 as _admin_pb2
from lineup.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Session(_message.Message):
    __slots__ = ("session_id", "agency_id", "key_id", "holder", "roles", "context", "created_at", "expires_at", "revoked_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    agency_id: str
    key_id: str
    holder: str
    roles: _containers.RepeatedScalarFieldContainer[_admin_pb2.Role]
    context: _common_pb2.SearchContext
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., agency_id: _Optional[str] = ..., key_id: _Optional[str] = ..., holder: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_admin_pb2.Role, str]]] = ..., context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("context", "ttl_seconds", "roles")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    context: _common_pb2.SearchContext
    ttl_seconds: int
    roles: _containers.RepeatedScalarFieldContainer[_admin_pb2.Role]
    def __init__(self, context: _Optional[_Union[_common_pb2.SearchContext, _Mapping]] = ..., ttl_seconds: _Optional[int] = ..., roles: _Optional[_Iterable[_Union[_admin_pb2.Role, str]]] = ...) -> None: ...

class CreateSessionResponse(_message.Message):
    __slots__ = ("session", "access_key_id", "secret_access_key", "session_token")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    ACCESS_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SECRET_ACCESS_KEY_FIELD_NUMBER: _ClassVar[int]
    SESSION_TOKEN_FIELD_NUMBER: _ClassVar[int]
    session: Session
    access_key_id: str
    secret_access_key: str
    session_token: str
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ..., access_key_id: _Optional[str] = ..., secret_access_key: _Optional[str] = ..., session_token: _Optional[str] = ...) -> None: ...

class RevokeSessionRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class RevokeSessionResponse(_message.Message):
    __slots__ = ("session",)
    SESSION_FIELD_NUMBER: _ClassVar[int]
    session: Session
    def __init__(self, session: _Optional[_Union[Session, _Mapping]] = ...) -> None: ...

class GetCallerIdentityRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetCallerIdentityResponse(_message.Message):
    __slots__ = ("agency_id", "agency_display_name", "key_id", "holder", "roles", "policy")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    AGENCY_DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    agency_display_name: str
    key_id: str
    holder: str
    roles: _containers.RepeatedScalarFieldContainer[_admin_pb2.Role]
    policy: _admin_pb2.AgencyPolicy
    def __init__(self, agency_id: _Optional[str] = ..., agency_display_name: _Optional[str] = ..., key_id: _Optional[str] = ..., holder: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[_admin_pb2.Role, str]]] = ..., policy: _Optional[_Union[_admin_pb2.AgencyPolicy, _Mapping]] = ...) -> None: ...
