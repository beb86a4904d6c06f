"""The authentication hook of every gRPC server.

The bootstrap calls an `Authenticator` for each RPC with the request metadata and stores the
resulting `Principal` in a context variable that servicers read. Internal services (detection,
embedding, search, audit) run with `InternalAuthenticator`: their callers pass the agency explicitly, so
anyone who can reach them could act for any agency — the NetworkPolicy alone is one misconfiguration
away from that. Every internal call therefore carries the deployment's internal credential (a shared
secret from a Kubernetes Secret), checked in constant time. The public front door plugs in API-key
authentication with roles (`lineup.identity`).
"""

from __future__ import annotations

import contextvars
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lineup.errors import Unauthenticated
from lineup.settings import MIN_INTERNAL_TOKEN_LEN

#: gRPC metadata key of the internal service credential (setting LINEUP_INTERNAL_TOKEN)
INTERNAL_TOKEN_KEY = "x-lineup-internal-token"
#: gRPC metadata key naming the calling service (informational: audit and logs; never trusted for access)
CALLER_KEY = "x-lineup-caller"
_CALLER_RE = re.compile(r"[a-z0-9][a-z0-9_.@-]{0,62}")


@dataclass(frozen=True)
class Principal:
    key_id: str
    agency_id: str
    holder: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)
    #: set when the call is made under a session (lineup.identity.sessions): its id, case and purpose, which
    #: ingest applies to every search of the call and writes to its audit record
    session_id: str = ""
    case_id: str = ""
    purpose: str = ""
    justification: str = ""


class Authenticator(Protocol):
    def authenticate(self, method: str, metadata: Mapping[str, str]) -> Principal | None:
        """Return who is calling (None: no credentials), or raise lineup.errors.Unauthenticated."""
        ...

    def authorize(self, method: str, principal: Principal | None) -> None:
        """Raise lineup.errors.Unauthenticated / PermissionDenied unless `principal` may call `method`.

        Separate from `authenticate` so that a refused call still has a known caller for its audit record.
        """
        ...


class InternalAuthenticator:
    """Admits only callers that present the deployment's internal credential.

    Health checks never reach an authenticator (the server exempts them), so kubelet probes keep working
    without the secret. A missing or wrong credential is UNAUTHENTICATED without saying which, and the
    comparison takes the same time whatever the token, so the secret cannot be guessed byte by byte.
    """

    def __init__(self, token: str) -> None:
        if len(token) < MIN_INTERNAL_TOKEN_LEN:
            # a programming error, not a user one: settings already refuse short tokens with the variable's name
            raise ValueError(f"the internal token must be at least {MIN_INTERNAL_TOKEN_LEN} characters")
        self._token = token.encode()

    def authenticate(self, method: str, metadata: Mapping[str, str]) -> Principal | None:
        presented = metadata.get(INTERNAL_TOKEN_KEY, "")
        if not presented:
            return None
        if not hmac.compare_digest(presented.encode(), self._token):
            raise Unauthenticated(f"the internal service credential ({INTERNAL_TOKEN_KEY}) is not valid")
        caller = metadata.get(CALLER_KEY, "")
        return Principal(key_id=f"service:{caller if _CALLER_RE.fullmatch(caller) else 'unnamed'}", agency_id="")

    def authorize(self, method: str, principal: Principal | None) -> None:
        if principal is None:
            raise Unauthenticated(f"{method.rsplit('/', 1)[-1]} is an internal API: send the deployment's internal "
                                  f"service credential in {INTERNAL_TOKEN_KEY} (setting LINEUP_INTERNAL_TOKEN)")


class HealthOnlyAuthenticator:
    """For a service whose gRPC port carries nothing but health (the examiner console): every other method
    is refused, so the service needs no credential to guard it."""

    def authenticate(self, method: str, metadata: Mapping[str, str]) -> Principal | None:
        return None

    def authorize(self, method: str, principal: Principal | None) -> None:
        raise Unauthenticated(f"{method.rsplit('/', 1)[-1]}: this port serves only grpc.health.v1")


def internal_metadata(token: str, caller: str) -> list[tuple[str, str]]:
    """The metadata every internal client sends: the internal credential and the calling service's name."""
    return [(INTERNAL_TOKEN_KEY, token), (CALLER_KEY, caller)]


_current: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("lineup_principal", default=None)


def current_principal() -> Principal | None:
    return _current.get()


def require_principal(*, agency: bool = True) -> Principal:
    """The caller of the RPC in hand. The interceptor has already checked roles; this guards servicers
    against being reached without it (and, with `agency`, by the deployment credential, which has none)."""
    p = _current.get()
    if p is None or (agency and not p.agency_id):
        raise Unauthenticated("no agency identity: call with an agency's API key (authorization: Bearer <key>; "
                              "see docs/api.md)")
    return p


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _current.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _current.reset(token)
