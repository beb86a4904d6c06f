"""The authentication hook of every gRPC server.

The bootstrap calls an `Authenticator` for each RPC with the request metadata and stores the
resulting `Principal` in a context variable that servicers read. Internal services run with
`InternalAuthenticator` (their NetworkPolicy keeps outsiders away and the calling service passes the
agency explicitly); the public front door plugs in API-key authentication with roles
(`lineup.identity`).
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from lineup.errors import Unauthenticated


@dataclass(frozen=True)
class Principal:
    key_id: str
    agency_id: str
    holder: str = ""
    roles: frozenset[str] = field(default_factory=frozenset)


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
    """Trusts the network boundary; records the calling service's name when it sends one."""

    def authenticate(self, method: str, metadata: Mapping[str, str]) -> Principal | None:
        caller = metadata.get("x-lineup-caller", "")
        return Principal(key_id=f"service:{caller}", agency_id="") if caller else None

    def authorize(self, method: str, principal: Principal | None) -> None:
        """Internal services are reachable only from inside the release (NetworkPolicy)."""


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
