"""API-key authentication of the public front door.

The key is looked up on every call (see `store`), so revocation and expiry apply to the next request. The
bootstrap credential comes from configuration (a Secret); it is compared in constant time and never stored.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from lineup.auth import INTERNAL_TOKEN_KEY, Principal
from lineup.errors import Unauthenticated
from lineup.identity import keys, roles
from lineup.identity.store import IdentityStore, is_past
from lineup.v1 import admin_pb2

BOOTSTRAP_KEY_ID = "bootstrap"


def role_names(values: list[int] | tuple[int, ...]) -> frozenset[str]:
    return frozenset(admin_pb2.Role.Name(v).removeprefix("ROLE_").lower() for v in values if v)


class ApiKeyAuthenticator:
    def __init__(self, identities: IdentityStore, bootstrap_key: str, internal_token: str = "") -> None:
        self.identities = identities
        self._bootstrap = bootstrap_key
        self._internal = internal_token

    def authenticate(self, method: str, metadata: Mapping[str, str]) -> Principal | None:
        header = metadata.get("authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() == "session":
            return self._session(token, metadata)
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

    def _session(self, session_id: str, metadata: Mapping[str, str]) -> Principal:
        """A call under a session. Only the Rekognition endpoint may make one: it verified the caller's AWS
        signature and proves itself with the internal credential, so a client that merely learned a session id
        (it is the AWS access key id, not a secret) cannot act under it here. Expiry, revocation and the
        creating key's own state are checked on every call; the roles are the session's and the key's common
        ones, so revoking or narrowing the key narrows its sessions at once."""
        presented = metadata.get(INTERNAL_TOKEN_KEY, "")
        if not self._internal or not presented or not hmac.compare_digest(presented.encode(),
                                                                          self._internal.encode()):
            raise Unauthenticated("session credentials are accepted only through the Rekognition endpoint; "
                                  "call ingest with `authorization: Bearer <API key>`")
        session = self.identities.get_session(session_id)
        if session is None:
            raise Unauthenticated("the session is not valid")
        if session.HasField("revoked_at"):
            raise Unauthenticated(f"session {session.session_id} was revoked; start a new one with "
                                  f"`lineup session start`")
        if is_past(session.expires_at):
            raise Unauthenticated(f"session {session.session_id} expired; start a new one with `lineup session start`")
        found = self.identities.get_key(session.key_id)
        if found is None or found[0].HasField("revoked_at") or is_past(found[0].expires_at):
            raise Unauthenticated(f"the API key that started session {session.session_id} is no longer valid")
        granted = role_names(tuple(session.roles)) & role_names(tuple(found[0].roles))
        return Principal(key_id=session.key_id, agency_id=session.agency_id, holder=session.holder, roles=granted,
                         session_id=session.session_id, case_id=session.context.case_id,
                         purpose=session.context.purpose, justification=session.context.justification)

    def authorize(self, method: str, principal: Principal | None) -> None:
        roles.authorize(method, principal)
