"""Agencies, API keys and grants, kept as small JSON objects in the object store.

Every ingest replica reads them on each call instead of caching, so a revoked key or grant stops working
on the very next request on every replica; a MinIO GET on the same network costs a few milliseconds.
Objects are protobuf messages in their JSON form so an operator can read them with any S3 tool; key
objects carry only the SHA-256 of the secret.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from typing import TypeVar

from google.protobuf import json_format
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from lineup.errors import AlreadyExists, InvalidArgument, NotFound
from lineup.identity.sessions import SESSION_ID_RE
from lineup.objectstore import ObjectStore
from lineup.topology import ADMIN_BUCKET
from lineup.v1 import admin_pb2, common_pb2, session_pb2

AGENCY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
#: a new agency's policy until its admin sets one: searches at FMR 1e-3 or stricter, probes kept 30 days,
#: and no purpose allowed yet, so nobody searches before the agency has said what searches are for
DEFAULT_FLOOR_FMR = 1e-3
DEFAULT_PROBE_RETENTION_DAYS = 30

M = TypeVar("M", bound=Message)


def now_ts() -> Timestamp:
    ts = Timestamp()
    ts.GetCurrentTime()
    return ts


def is_past(ts: Timestamp) -> bool:
    return ts.ByteSize() > 0 and ts.ToMilliseconds() <= int(time.time() * 1000)


def default_policy() -> admin_pb2.AgencyPolicy:
    return admin_pb2.AgencyPolicy(threshold_floor=common_pb2.Threshold(max_fmr=DEFAULT_FLOOR_FMR),
                                  probe_retention_days=DEFAULT_PROBE_RETENTION_DAYS)


def check_policy(policy: admin_pb2.AgencyPolicy) -> None:
    if policy.probe_retention_days < 0:
        raise InvalidArgument("probe_retention_days must be >= 0 (0 deletes probes at the next retention sweep)")
    for purpose in policy.allowed_purposes:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,63}", purpose):
            raise InvalidArgument(f"purpose {purpose!r} is invalid: use 1-64 of a-z, 0-9, '_', '-'")


class IdentityStore:
    def __init__(self, store: ObjectStore, bucket: str = ADMIN_BUCKET) -> None:
        self.store = store
        self.bucket = bucket

    # ---------------------------------------------------------------------------------- plumbing
    def _ref(self, key: str) -> common_pb2.ObjectRef:
        return common_pb2.ObjectRef(bucket=self.bucket, key=key)

    def _put(self, key: str, msg: Message, **extra: str) -> None:
        doc = {"message": json_format.MessageToDict(msg), **extra}
        self.store.put(self.bucket, key, json.dumps(doc, sort_keys=True).encode(), "application/json")

    def _get(self, key: str, cls: type[M]) -> tuple[M, dict[str, str]] | None:
        try:
            doc = json.loads(self.store.get(self._ref(key)))
        except NotFound:
            return None
        msg = json_format.ParseDict(doc.pop("message"), cls())
        return msg, doc

    def _all(self, prefix: str, cls: type[M]) -> Iterator[M]:
        for ref in self.store.list(self.bucket, prefix):
            found = self._get(ref.key, cls)
            if found is not None:
                yield found[0]

    # ---------------------------------------------------------------------------------- agencies
    def create_agency(self, agency_id: str, display_name: str, policy: admin_pb2.AgencyPolicy | None
                      ) -> tuple[admin_pb2.Agency, bool]:
        if not AGENCY_RE.fullmatch(agency_id):
            raise InvalidArgument(f"agency_id {agency_id!r} is invalid: use 2-63 of a-z, 0-9 and '-'")
        existing = self.get_agency(agency_id)
        if existing is not None:
            return existing, False
        chosen = policy if policy is not None and policy.ByteSize() else default_policy()
        check_policy(chosen)
        agency = admin_pb2.Agency(agency_id=agency_id, display_name=display_name or agency_id, policy=chosen,
                                  created_at=now_ts())
        self._put(f"agencies/{agency_id}.json", agency)
        return agency, True

    def get_agency(self, agency_id: str) -> admin_pb2.Agency | None:
        if not AGENCY_RE.fullmatch(agency_id):
            return None
        found = self._get(f"agencies/{agency_id}.json", admin_pb2.Agency)
        return found[0] if found else None

    def require_agency(self, agency_id: str) -> admin_pb2.Agency:
        agency = self.get_agency(agency_id)
        if agency is None:
            raise NotFound(f"agency {agency_id!r} not found")
        return agency

    def list_agencies(self) -> list[admin_pb2.Agency]:
        return sorted(self._all("agencies/", admin_pb2.Agency), key=lambda a: a.agency_id)

    def set_policy(self, agency_id: str, policy: admin_pb2.AgencyPolicy,
                   display_name: str = "") -> admin_pb2.Agency:
        check_policy(policy)
        agency = self.require_agency(agency_id)
        agency.policy.CopyFrom(policy)
        if display_name:
            agency.display_name = display_name
        self._put(f"agencies/{agency_id}.json", agency)
        return agency

    # -------------------------------------------------------------------------------------- keys
    def put_key(self, key: admin_pb2.ApiKey, secret_sha256: str) -> None:
        self._put(f"keys/{key.key_id}.json", key, secret_sha256=secret_sha256)

    def get_key(self, key_id: str) -> tuple[admin_pb2.ApiKey, str] | None:
        if not re.fullmatch(r"[0-9a-f]{16}", key_id):
            return None
        found = self._get(f"keys/{key_id}.json", admin_pb2.ApiKey)
        return (found[0], found[1].get("secret_sha256", "")) if found else None

    def list_keys(self, agency_id: str) -> list[admin_pb2.ApiKey]:
        return sorted((k for k in self._all("keys/", admin_pb2.ApiKey) if k.agency_id == agency_id),
                      key=lambda k: (k.created_at.ToMilliseconds(), k.key_id))

    def revoke_key(self, key_id: str) -> admin_pb2.ApiKey:
        found = self.get_key(key_id)
        if found is None:
            raise NotFound(f"API key {key_id!r} not found")
        key, digest = found
        if not key.HasField("revoked_at"):
            key.revoked_at.CopyFrom(now_ts())
            self.put_key(key, digest)
        return key

    # ---------------------------------------------------------------------------------- sessions
    def put_session(self, session: session_pb2.Session) -> None:
        self._put(f"sessions/{session.session_id}.json", session)

    def get_session(self, session_id: str) -> session_pb2.Session | None:
        if not SESSION_ID_RE.fullmatch(session_id):
            return None  # never let a caller-chosen string become an object key
        found = self._get(f"sessions/{session_id}.json", session_pb2.Session)
        return found[0] if found else None

    def revoke_session(self, agency_id: str, session_id: str) -> session_pb2.Session:
        session = self.get_session(session_id)
        if session is None or session.agency_id != agency_id:
            raise NotFound(f"session {session_id!r} not found")
        if not session.HasField("revoked_at"):
            session.revoked_at.CopyFrom(now_ts())
            self.put_session(session)
        return session

    # ------------------------------------------------------------------------------------ grants
    def _grant_key(self, owner: str, collection_id: str, grant_id: str) -> str:
        return f"grants/{owner}/{collection_id}/{grant_id}.json"

    def create_grant(self, owner: str, collection_id: str, grantee: str, legal_basis: str,
                     expires_at: Timestamp) -> admin_pb2.Grant:
        if grantee == owner:
            raise InvalidArgument("an agency cannot grant access to itself")
        if self.get_agency(grantee) is None:
            raise NotFound(f"agency {grantee!r} not found")
        if len(legal_basis.strip()) < 5:
            raise InvalidArgument("legal_basis is required: cite the agreement or order that allows this sharing")
        if expires_at.ByteSize() == 0 or is_past(expires_at):
            raise InvalidArgument("expires_at is required and must be in the future")
        for g in self.grants_for(owner, collection_id):
            if g.grantee_agency_id == grantee and grant_active(g):
                raise AlreadyExists(f"agency {grantee!r} already has an active grant {g.grant_id} on "
                                    f"{collection_id!r}; revoke it first to change its terms")
        grant = admin_pb2.Grant(grant_id=f"g-{secrets.token_hex(8)}", owner_agency_id=owner,
                                collection_id=collection_id, grantee_agency_id=grantee, legal_basis=legal_basis,
                                expires_at=expires_at, created_at=now_ts())
        self._put(self._grant_key(owner, collection_id, grant.grant_id), grant)
        return grant

    def grants_for(self, owner: str, collection_id: str) -> list[admin_pb2.Grant]:
        return list(self._all(f"grants/{owner}/{collection_id}/", admin_pb2.Grant))

    def all_grants(self) -> list[admin_pb2.Grant]:
        return sorted(self._all("grants/", admin_pb2.Grant), key=lambda g: (g.created_at.ToMilliseconds(),
                                                                             g.grant_id))

    def active_grant(self, owner: str, collection_id: str, grantee: str) -> admin_pb2.Grant | None:
        for g in self.grants_for(owner, collection_id):
            if g.grantee_agency_id == grantee and grant_active(g):
                return g
        return None

    def revoke_grant(self, owner: str, grant_id: str) -> admin_pb2.Grant:
        for g in self._all(f"grants/{owner}/", admin_pb2.Grant):
            if g.grant_id == grant_id:
                if not g.HasField("revoked_at"):
                    g.revoked_at.CopyFrom(now_ts())
                    self._put(self._grant_key(owner, g.collection_id, g.grant_id), g)
                return g
        raise NotFound(f"grant {grant_id!r} not found")


def grant_active(g: admin_pb2.Grant) -> bool:
    return not g.HasField("revoked_at") and not is_past(g.expires_at)
