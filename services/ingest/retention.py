"""The retention sweep: probes past their agency's retention period and enrolled faces past their
collection's are erased, each erasure with a receipt in the audit trail.

A probe leaves more than its photo: the face crops detection cut from it (`lineup-crops/<agency>/crops/<rid>/`),
the stored result of the search, comparison or detection (CompareFaces results hold 128-d embeddings), the task
ingest stored, and the request's data key (which shreds its Kafka records). The sweep finds them through the
request's task (`lineup-jobs/<agency>/requests/<rid>.task`, `probe` set) once it is older than the retention.

Every ingest replica runs the sweep; it is idempotent (what is gone is skipped), so two replicas sweeping
at once only repeat work. A retention day is `LINEUP_RETENTION_DAY_S` seconds (86,400; tests shorten it).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from google.protobuf.message import DecodeError

from ingest.erasure import Eraser
from ingest.search_client import SearchClient
from lineup.audit.emit import AuditEmitter
from lineup.errors import NotFound
from lineup.identity.store import IdentityStore
from lineup.objectstore import ObjectStore
from lineup.pipeline import RESULTS_BUCKET
from lineup.topology import IMAGES_BUCKET
from lineup.v1 import audit_pb2, common_pb2, events_pb2, search_pb2
from lineup.validation import MAX_FACE_IDS_PER_CALL

log = logging.getLogger(__name__)
OPERATION = "lineup.v1.Retention/Sweep"
ACTOR = "system:retention"


class RetentionSweeper:
    def __init__(self, identities: IdentityStore, store: ObjectStore, search: SearchClient,
                 auditor: AuditEmitter, eraser: Eraser, *, interval_s: float, day_s: float) -> None:
        self.identities = identities
        self.eraser = eraser
        self.store = store
        self.search = search
        self.auditor = auditor
        self.interval_s = interval_s
        self.day_s = day_s
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # a sweep that fails (MinIO or Milvus down) is retried next interval
                log.exception("retention sweep failed; retrying at the next interval")
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()

    def sweep(self, now: float | None = None) -> list[audit_pb2.AuditRecord]:
        """One pass over every agency; returns the audit records of what it erased."""
        now = time.time() if now is None else now
        records = []
        for agency in self.identities.list_agencies():
            probes = self._probes(agency.agency_id, agency.policy.probe_retention_days, now)
            done = ([probes] if probes is not None else []) + self._faces(agency.agency_id, now) + \
                self._resume(agency.agency_id, now)
            if done:  # each agency's receipts go out as soon as its erasure is done
                self.auditor.emit(done)
                records.extend(done)
            if self.eraser.idempotency is not None:  # answers kept for retries expire with their keys
                self.eraser.idempotency.purge(agency.agency_id, now=now)
        return records

    def _probes(self, agency_id: str, days: int, now: float) -> audit_pb2.AuditRecord | None:
        cutoff = now - days * self.day_s
        receipt = audit_pb2.ErasureReceipt(reason="retention")
        for ref, modified in self.store.list_modified(IMAGES_BUCKET, f"{agency_id}/probes/"):
            if modified <= cutoff:
                self.store.delete(ref)
                receipt.objects.append(ref)
        for ref, modified in list(self.store.list_modified(RESULTS_BUCKET, f"{agency_id}/requests/")):
            if modified > cutoff or not ref.key.endswith(".task"):
                continue
            rid = ref.key.rsplit("/", 1)[-1].removesuffix(".task")
            if self._is_probe(ref):
                self.eraser.erase_request(agency_id, rid, receipt)
        if not receipt.objects:
            return None
        log.info("retention: probes erased", extra={"agency_id": agency_id, "objects": len(receipt.objects)})
        return _record(agency_id, "", receipt, {"retention.kind": "probes", "retention.days": str(days)})

    def _is_probe(self, ref: common_pb2.ObjectRef) -> bool:
        """Whether a stored task was a probe's (search, compare, detect): enrolments are kept until erased."""
        try:
            task = events_pb2.PipelineTask.FromString(self.store.get(ref))
        except (DecodeError, NotFound):
            return False
        return task.probe

    def _faces(self, agency_id: str, now: float) -> list[audit_pb2.AuditRecord]:
        out = []
        token = ""
        while True:
            page = self.search.call("ListCollections", search_pb2.ListVectorCollectionsRequest(
                agency_id=agency_id, page=common_pb2.PageRequest(page_size=1000, page_token=token)))
            for c in page.collections:
                if c.face_retention_days > 0:
                    rec = self._expire(agency_id, c, now - c.face_retention_days * self.day_s)
                    if rec is not None:
                        out.append(rec)
            token = page.page.next_page_token
            if not token:
                return out

    def _expire(self, agency_id: str, c: search_pb2.VectorCollection, cutoff: float
                ) -> audit_pb2.AuditRecord | None:
        expired: list[search_pb2.FaceVector] = []
        token = ""
        while True:
            resp = self.search.call("GetFaces", search_pb2.GetFacesRequest(
                agency_id=agency_id, collection_id=c.collection_id,
                page=common_pb2.PageRequest(page_size=1000, page_token=token)))
            expired += [f for f in resp.faces if f.face.indexed_at.ToMilliseconds() / 1000 <= cutoff]
            token = resp.page.next_page_token
            if not token:
                break
        if not expired:
            return None
        ids = [f.face.face_id for f in expired]

        def delete() -> list[search_pb2.FaceVector]:
            deleted: list[search_pb2.FaceVector] = []
            step = MAX_FACE_IDS_PER_CALL
            for i in range(0, len(ids), step):
                deleted += self.search.call("DeleteFaceVectors", search_pb2.DeleteFaceVectorsRequest(
                    agency_id=agency_id, collection_id=c.collection_id, face_ids=ids[i:i + step])).deleted
            return deleted

        receipt = audit_pb2.ErasureReceipt(reason="retention")
        deleted = self.eraser.delete_and_erase(agency_id, expired, delete, receipt)
        log.info("retention: faces erased", extra={"agency_id": agency_id, "collection_id": c.collection_id,
                                                   "faces": len(deleted)})
        return _record(agency_id, c.collection_id, receipt,
                       {"retention.kind": "faces", "retention.days": str(c.face_retention_days)})

    def _resume(self, agency_id: str, now: float) -> list[audit_pb2.AuditRecord]:
        """Erasures that failed part-way (their journal is still there) are finished, with a receipt."""
        return [_record(agency_id, "", receipt, {"retention.kind": "resumed erasure"})
                for receipt in self.eraser.resume(agency_id, now=now)]


def _record(agency_id: str, collection_id: str, receipt: audit_pb2.ErasureReceipt,
            details: dict[str, str]) -> audit_pb2.AuditRecord:
    rec = audit_pb2.AuditRecord(record_id=uuid.uuid4().hex, agency_id=agency_id, actor_key_id=ACTOR,
                                actor_holder="retention sweep", operation=OPERATION, collection_id=collection_id,
                                decision=audit_pb2.AUDIT_DECISION_ALLOWED, erasure=receipt, details=details)
    rec.time.GetCurrentTime()
    return rec
