"""API-key authentication of the public front door.

The key is looked up on every call (see `store`), so revocation and expiry apply to the next request. The
bootstrap credential comes from configuration (a Secret); it is compared in constant time and never stored.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from lineup.auth import Principal
from lineup.errors import Unauthenticated
from lineup.identity import keys, roles
from lineup.identity.store import IdentityStore, is_past
from lineup.v1 import admin_pb2

BOOTSTRAP_KEY_ID = "bootstrap"


def role_names(values: list[int] | tuple[int, ...]) -> frozenset[str]:
    return frozenset(admin_pb2.Role.Name(v).removeprefix("ROLE_").lower() for v in values if v)


class ApiKeyAuthenticator:
    def __init__(self, identities: IdentityStore, bootstrap_key: str) -> None:
        self.identities = identities
        self._bootstrap = bootstrap_key

    def authenticate(self, method: str, metadata: Mapping[str, str]) -> Principal | None:
        header = metadata.get("authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("the authorization metadata must be `Bearer <API key>`")
        if self._bootstrap and hmac.compare_digest(token.encode(), self._bootstrap.encode()):
            return Principal(key_id=BOOTSTRAP_KEY_ID, agency_id="", holder="deployment bootstrap",
                             roles=frozenset({roles.DEPLOYMENT_ADMIN}))
        parsed = keys.parse(token)
        found = self.identities.get_key(parsed[0]) if parsed else None
        if parsed is None or found is None or not keys.matches(parsed[1], found[1]):
            raise Unauthenticated("the API key is not valid")
        key = found[0]
        if key.HasField("revoked_at"):
            raise Unauthenticated(f"API key {key.key_id} was revoked; ask your agency admin for a new one")
        if is_past(key.expires_at):
            raise Unauthenticated(f"API key {key.key_id} expired; ask your agency admin for a new one")
        return Principal(key_id=key.key_id, agency_id=key.agency_id, holder=key.holder,
                         roles=role_names(tuple(key.roles)))

    def authorize(self, method: str, principal: Principal | None) -> None:
        roles.authorize(method, principal)
