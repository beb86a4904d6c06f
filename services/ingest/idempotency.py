"""Idempotency keys: a client's `x-request-id`, scoped to (agency, key holder).

A caller that retries after a lost answer sends the same key and gets the original outcome instead of a
second search or enrolment; a key is never shared across agencies or people, so another caller cannot read
or overwrite what it names. Records live in the object store under the agency's prefix, named by a hash of
(holder, key) so no client text becomes part of a key, and expire after `ttl_s` (the retention sweep
deletes them; erasure deletes those that mention an erased face).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time

from lineup.auth import Principal
from lineup.errors import Aborted, InvalidArgument, NotFound
from lineup.grpcserver import Outcome
from lineup.identity.holders import person_of
from lineup.objectstore import ObjectStore, agency_key
from lineup.topology import JOBS_BUCKET
from lineup.v1 import common_pb2

BUCKET = JOBS_BUCKET
KIND = "idempotency"
DEFAULT_TTL_S = 24 * 3600.0


class IdempotencyStore:
    def __init__(self, store: ObjectStore, *, ttl_s: float = DEFAULT_TTL_S, claim_lease_s: float = 300.0,
                 bucket: str = BUCKET) -> None:
        self.store = store
        self.ttl_s = ttl_s
        #: a claim still "running" after this long was left by a replica that died mid-call: it is taken over
        self.claim_lease_s = claim_lease_s
        self.bucket = bucket
        self._lock = threading.Lock()  # claims on one replica are atomic; see docs/security.md for several

    def _ref(self, principal: Principal, key: str) -> common_pb2.ObjectRef:
        scope = f"{person_of(principal.holder)}\x00{key}".encode()
        name = hashlib.sha256(scope).hexdigest()
        return common_pb2.ObjectRef(bucket=self.bucket, key=agency_key(principal.agency_id, KIND, name))

    def _load(self, ref: common_pb2.ObjectRef) -> dict[str, object] | None:
        try:
            doc = json.loads(self.store.get(ref))
        except NotFound:
            return None
        if not isinstance(doc, dict) or time.time() - float(doc.get("time", 0)) > self.ttl_s:
            return None  # expired: the key may be used again
        return doc

    def begin(self, principal: Principal, method: str, key: str, request_sha256: str, request_id: str
              ) -> Outcome | None:
        ref = self._ref(principal, key)
        with self._lock:
            doc = self._load(ref)
            if doc is not None and doc.get("state") != "done" and \
                    time.time() - float(doc.get("time", 0)) > self.claim_lease_s:  # type: ignore[arg-type]
                doc = None  # abandoned by a replica that died mid-call
            if doc is None:
                claim = {"method": method, "request_sha256": request_sha256, "request_id": request_id,
                         "state": "running", "time": time.time()}
                self.store.put(ref.bucket, ref.key, json.dumps(claim).encode(), "application/json")
                return None
        if doc.get("method") != method or doc.get("request_sha256") != request_sha256:
            raise InvalidArgument(f"x-request-id {key!r} was already used for a different request; use a new "
                                  "idempotency key for a new request")
        if doc.get("state") != "done":
            raise Aborted(f"the request first sent with x-request-id {key!r} (request id {doc.get('request_id')}) "
                          "is still running; look it up with GetRequest or retry later")
        return Outcome(request_id=str(doc["request_id"]), code=int(doc.get("code", 0)),  # type: ignore[call-overload]
                       message=str(doc.get("message", "")),
                       response=base64.b64decode(str(doc.get("response", ""))))

    def finish(self, principal: Principal, key: str, outcome: Outcome) -> None:
        ref = self._ref(principal, key)
        with self._lock:
            doc = self._load(ref) or {}
            if doc.get("request_id") != outcome.request_id:
                return  # not ours (expired and re-claimed meanwhile): never overwrite another call's record
            doc.update(state="done", code=outcome.code, message=outcome.message,
                       response=base64.b64encode(outcome.response).decode())
            self.store.put(ref.bucket, ref.key, json.dumps(doc).encode(), "application/json")

    def abandon(self, principal: Principal, key: str) -> None:
        ref = self._ref(principal, key)
        with self._lock:
            doc = self._load(ref)
            if doc is not None and doc.get("state") != "done":
                self.store.delete(ref)

    def purge(self, agency_id: str, *, now: float | None = None, mentions: tuple[str, ...] = ()) -> list[str]:
        """Delete expired records, and records whose stored answer mentions any of `mentions` (erased face
        ids); returns the deleted keys."""
        now = time.time() if now is None else now
        gone = []
        for ref, modified in self.store.list_modified(self.bucket, agency_key(agency_id, KIND) + "/"):
            expired = now - modified > self.ttl_s
            if not expired and mentions:
                try:
                    blob = self.store.get(ref)
                except NotFound:
                    continue
                doc = json.loads(blob)
                answer = base64.b64decode(str(doc.get("response", ""))) + str(doc.get("message", "")).encode()
                expired = any(m.encode() in answer for m in mentions)
            if expired:
                self.store.delete(ref)
                gone.append(ref.key)
        return gone
