"""The console's one way to Lineup: the public gRPC API, called with the signed-in person's API key.

The console holds no credential of its own. Whatever a page shows, ingest decided with that person's key
(roles, tenancy, grants, the two-person rule) and wrote in the audit trail, exactly as for a CLI call; the
console only presents it. Errors come back as `ApiError`, in words a person can act on, with the request id
the operator needs to find the call in the audit trail and the logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from lineup.identity.authenticator import role_names
from lineup.v1 import audit_pb2_grpc, face_search_pb2_grpc, review_pb2_grpc, session_pb2, session_pb2_grpc

#: a probe photo is at most 15 MB, a page of audit records a few MB
_MAX_MESSAGE = 64 * 1024 * 1024
_STUBS = {"FaceSearch": face_search_pb2_grpc.FaceSearchStub, "Review": review_pb2_grpc.ReviewStub,
          "Audit": audit_pb2_grpc.AuditStub, "Sessions": session_pb2_grpc.SessionsStub}

_WHAT_TO_DO = {
    grpc.StatusCode.UNAUTHENTICATED: "Lineup did not accept your API key (revoked, expired or mistyped). Sign in "
                                     "again with a valid key.",
    grpc.StatusCode.UNAVAILABLE: "Lineup's API is not reachable right now. Try again in a minute; if it persists, "
                                 "tell your operator.",
    grpc.StatusCode.DEADLINE_EXCEEDED: "Lineup's API did not answer in time. Try again; a search of a large photo "
                                       "can take a while.",
    grpc.StatusCode.RESOURCE_EXHAUSTED: "Lineup is busy or the request is too large. Try again shortly, or use a "
                                        "smaller photo.",
    grpc.StatusCode.INTERNAL: "Lineup failed on its side. Tell your operator, quoting the request id.",
    grpc.StatusCode.UNKNOWN: "Lineup failed on its side. Tell your operator, quoting the request id.",
}
#: the server's own message is written for the caller: shown as is for these codes
_SERVER_WORDS = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED,
                 grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.OUT_OF_RANGE}


class ApiError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str, request_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id

    @property
    def signed_out(self) -> bool:
        """The key no longer works: the session must end."""
        return self.code == grpc.StatusCode.UNAUTHENTICATED

    @property
    def http_status(self) -> int:
        return {grpc.StatusCode.NOT_FOUND: 404, grpc.StatusCode.PERMISSION_DENIED: 403,
                grpc.StatusCode.UNAUTHENTICATED: 401, grpc.StatusCode.INVALID_ARGUMENT: 400,
                grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.UNAVAILABLE: 503,
                grpc.StatusCode.DEADLINE_EXCEEDED: 504}.get(self.code, 502)

    @classmethod
    def of(cls, exc: grpc.RpcError) -> ApiError:
        code = exc.code()  # type: ignore[attr-defined]
        details = (exc.details() or "")[:1000]  # type: ignore[attr-defined]
        rid = ""
        for k, v in exc.trailing_metadata() or ():  # type: ignore[attr-defined]
            if k == "x-request-id" and isinstance(v, str):
                rid = v[:64]
        words = details if code in _SERVER_WORDS and details else _WHAT_TO_DO.get(code, details or code.name)
        return cls(code, words, rid)


@dataclass(frozen=True)
class Identity:
    """Who a key is, as ingest says (Sessions.GetCallerIdentity); shown on every page and used to show only
    what the roles allow (ingest enforces it again on every call)."""

    agency_id: str
    agency_name: str
    key_id: str
    holder: str
    roles: frozenset[str]
    purposes: tuple[str, ...]
    require_justification: bool

    def can(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))


class LineupApi:
    def __init__(self, target: str, timeout_s: float, tls_ca_file: str = "") -> None:
        options = [("grpc.max_receive_message_length", _MAX_MESSAGE), ("grpc.max_send_message_length", _MAX_MESSAGE)]
        if tls_ca_file:
            creds = grpc.ssl_channel_credentials(root_certificates=Path(tls_ca_file).read_bytes())
            self._channel = grpc.secure_channel(target, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._stubs = {name: make(self._channel) for name, make in _STUBS.items()}
        self._timeout = timeout_s

    def call(self, key: str, service: str, method: str, request: Any) -> Any:
        try:
            return getattr(self._stubs[service], method)(request, metadata=[("authorization", f"Bearer {key}")],
                                                         timeout=self._timeout)
        except grpc.RpcError as exc:
            raise ApiError.of(exc) from None

    def identify(self, key: str) -> Identity:
        me = self.call(key, "Sessions", "GetCallerIdentity", session_pb2.GetCallerIdentityRequest())
        return Identity(agency_id=me.agency_id, agency_name=me.agency_display_name or me.agency_id, key_id=me.key_id,
                        holder=me.holder, roles=role_names(tuple(me.roles)),
                        purposes=tuple(me.policy.allowed_purposes),
                        require_justification=me.policy.require_justification)

    def close(self) -> None:
        self._channel.close()
