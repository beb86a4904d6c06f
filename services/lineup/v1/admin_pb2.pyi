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

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_ADMIN: _ClassVar[Role]
    ROLE_ENROLLER: _ClassVar[Role]
    ROLE_SEARCHER: _ClassVar[Role]
    ROLE_REVIEWER: _ClassVar[Role]
    ROLE_AUDITOR: _ClassVar[Role]
ROLE_UNSPECIFIED: Role
ROLE_ADMIN: Role
ROLE_ENROLLER: Role
ROLE_SEARCHER: Role
ROLE_REVIEWER: Role
ROLE_AUDITOR: Role

class AgencyPolicy(_message.Message):
    __slots__ = ("allowed_purposes", "threshold_floor", "probe_retention_days", "require_justification")
    ALLOWED_PURPOSES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FLOOR_FIELD_NUMBER: _ClassVar[int]
    PROBE_RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    REQUIRE_JUSTIFICATION_FIELD_NUMBER: _ClassVar[int]
    allowed_purposes: _containers.RepeatedScalarFieldContainer[str]
    threshold_floor: _common_pb2.Threshold
    probe_retention_days: int
    require_justification: bool
    def __init__(self, allowed_purposes: _Optional[_Iterable[str]] = ..., threshold_floor: _Optional[_Union[_common_pb2.Threshold, _Mapping]] = ..., probe_retention_days: _Optional[int] = ..., require_justification: _Optional[bool] = ...) -> None: ...

class Agency(_message.Message):
    __slots__ = ("agency_id", "display_name", "policy", "created_at")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    display_name: str
    policy: AgencyPolicy
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, agency_id: _Optional[str] = ..., display_name: _Optional[str] = ..., policy: _Optional[_Union[AgencyPolicy, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateAgencyRequest(_message.Message):
    __slots__ = ("agency_id", "display_name", "policy")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    display_name: str
    policy: AgencyPolicy
    def __init__(self, agency_id: _Optional[str] = ..., display_name: _Optional[str] = ..., policy: _Optional[_Union[AgencyPolicy, _Mapping]] = ...) -> None: ...

class CreateAgencyResponse(_message.Message):
    __slots__ = ("agency", "created")
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    agency: Agency
    created: bool
    def __init__(self, agency: _Optional[_Union[Agency, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetAgencyRequest(_message.Message):
    __slots__ = ("agency_id",)
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    def __init__(self, agency_id: _Optional[str] = ...) -> None: ...

class GetAgencyResponse(_message.Message):
    __slots__ = ("agency",)
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    agency: Agency
    def __init__(self, agency: _Optional[_Union[Agency, _Mapping]] = ...) -> None: ...

class ListAgenciesRequest(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: _common_pb2.PageRequest
    def __init__(self, page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListAgenciesResponse(_message.Message):
    __slots__ = ("agencies", "page")
    AGENCIES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    agencies: _containers.RepeatedCompositeFieldContainer[Agency]
    page: _common_pb2.PageResponse
    def __init__(self, agencies: _Optional[_Iterable[_Union[Agency, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class SetAgencyPolicyRequest(_message.Message):
    __slots__ = ("agency_id", "policy")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    policy: AgencyPolicy
    def __init__(self, agency_id: _Optional[str] = ..., policy: _Optional[_Union[AgencyPolicy, _Mapping]] = ...) -> None: ...

class SetAgencyPolicyResponse(_message.Message):
    __slots__ = ("agency",)
    AGENCY_FIELD_NUMBER: _ClassVar[int]
    agency: Agency
    def __init__(self, agency: _Optional[_Union[Agency, _Mapping]] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("key_id", "agency_id", "holder", "roles", "created_at", "expires_at", "revoked_at")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    agency_id: str
    holder: str
    roles: _containers.RepeatedScalarFieldContainer[Role]
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, key_id: _Optional[str] = ..., agency_id: _Optional[str] = ..., holder: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[Role, str]]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("agency_id", "holder", "roles", "expires_at")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    ROLES_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    holder: str
    roles: _containers.RepeatedScalarFieldContainer[Role]
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, agency_id: _Optional[str] = ..., holder: _Optional[str] = ..., roles: _Optional[_Iterable[_Union[Role, str]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key", "secret")
    KEY_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    secret: str
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("agency_id", "page")
    AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    agency_id: str
    page: _common_pb2.PageRequest
    def __init__(self, agency_id: _Optional[str] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("keys", "page")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    page: _common_pb2.PageResponse
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("key_id",)
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    def __init__(self, key_id: _Optional[str] = ...) -> None: ...

class RevokeApiKeyResponse(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: ApiKey
    def __init__(self, key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class Grant(_message.Message):
    __slots__ = ("grant_id", "owner_agency_id", "collection_id", "grantee_agency_id", "legal_basis", "expires_at", "created_at", "revoked_at")
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    OWNER_AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    owner_agency_id: str
    collection_id: str
    grantee_agency_id: str
    legal_basis: str
    expires_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    def __init__(self, grant_id: _Optional[str] = ..., owner_agency_id: _Optional[str] = ..., collection_id: _Optional[str] = ..., grantee_agency_id: _Optional[str] = ..., legal_basis: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantCollectionAccessRequest(_message.Message):
    __slots__ = ("collection_id", "grantee_agency_id", "legal_basis", "expires_at")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTEE_AGENCY_ID_FIELD_NUMBER: _ClassVar[int]
    LEGAL_BASIS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    grantee_agency_id: str
    legal_basis: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, collection_id: _Optional[str] = ..., grantee_agency_id: _Optional[str] = ..., legal_basis: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GrantCollectionAccessResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class RevokeGrantRequest(_message.Message):
    __slots__ = ("grant_id",)
    GRANT_ID_FIELD_NUMBER: _ClassVar[int]
    grant_id: str
    def __init__(self, grant_id: _Optional[str] = ...) -> None: ...

class RevokeGrantResponse(_message.Message):
    __slots__ = ("grant",)
    GRANT_FIELD_NUMBER: _ClassVar[int]
    grant: Grant
    def __init__(self, grant: _Optional[_Union[Grant, _Mapping]] = ...) -> None: ...

class ListGrantsRequest(_message.Message):
    __slots__ = ("received", "page")
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    received: bool
    page: _common_pb2.PageRequest
    def __init__(self, received: _Optional[bool] = ..., page: _Optional[_Union[_common_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class ListGrantsResponse(_message.Message):
    __slots__ = ("grants", "page")
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    grants: _containers.RepeatedCompositeFieldContainer[Grant]
    page: _common_pb2.PageResponse
    def __init__(self, grants: _Optional[_Iterable[_Union[Grant, _Mapping]]] = ..., page: _Optional[_Union[_common_pb2.PageResponse, _Mapping]] = ...) -> None: ...
