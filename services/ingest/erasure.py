"""Erasure: what deleting faces removes besides their vectors, and the receipt that lists it.

A face leaves copies in several places, and erasure must reach all of them (docs/accountability.md):

- its crop (`lineup-crops/<agency>/crops/<rid>/<idx>.png`), which belongs to it alone;
- the source photo, once no face of the agency, in any collection, still refers to it (one photo can be
  enrolled in several collections);
- the enrolment request `<rid>` that produced it (the request id is in the crop key): the request's data key
  (`lineup-jobs/<agency>/keys/<rid>`), which crypto-shreds every Kafka record of the request, including the
  embedding on `lineup.faces.embedded`; its stored result and task (`lineup-jobs/<agency>/requests/<rid>` and
  `<rid>.task`), removed when no face of the request is left (else rewritten without the erased faces);
- every search that returned it as a candidate, in any agency (a grantee searches the owner's faces): the review
  record keeps an "erased" marker instead of the face id and score, the stored search result loses the
  candidate, and the search's data key is shredded (its Kafka result record named the face).

The receipt lists every object removed (including data keys) and every object redacted; it names faces only
by their opaque ids, never a biometric. It goes to the audit trail, so an agency can show what was removed.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence

from ingest.idempotency import IdempotencyStore
from ingest.reviews import SearchRecords
from ingest.search_client import SearchClient
from lineup.errors import NotFound
from lineup.identity.store import AGENCY_RE
from lineup.kafka.sealing import REQUEST_ID_RE, KeyRing
from lineup.objectstore import ObjectStore, agency_key
from lineup.pipeline import ResultStore
from lineup.topology import ADMIN_BUCKET, CROPS_BUCKET, IMAGES_BUCKET, JOBS_BUCKET
from lineup.v1 import audit_pb2, common_pb2, events_pb2, search_pb2
from lineup.validation import MAX_FACE_IDS_PER_CALL

log = logging.getLogger(__name__)


def request_of_crop(agency_id: str, crop: common_pb2.ObjectRef) -> str:
    """The request id in a crop key `<agency>/crops/<rid>/<idx>.png`, or "" for a key of another shape."""
    parts = crop.key.split("/")
    if crop.bucket != CROPS_BUCKET or len(parts) != 4 or parts[0] != agency_id or parts[1] != "crops":
        return ""
    return parts[2] if REQUEST_ID_RE.fullmatch(parts[2]) else ""


#: erasures under way: the faces whose copies are being removed (see Eraser.delete_and_erase)
JOURNAL_BUCKET = JOBS_BUCKET
JOURNAL_KIND = "erasures"


class Eraser:
    """Removes every copy of erased faces (see the module docstring) and writes the receipt."""

    def __init__(self, store: ObjectStore, search: SearchClient, keys: KeyRing, searches: SearchRecords,
                 idempotency: IdempotencyStore | None = None) -> None:
        self.store = store
        self.search = search
        self.keys = keys
        self.searches = searches
        self.idempotency = idempotency
        self.results = ResultStore(store)

    # ------------------------------------------------------------------------------------- faces
    def delete_and_erase(self, agency_id: str, known: Sequence[search_pb2.FaceVector],
                         delete: Callable[[], Sequence[search_pb2.FaceVector]], receipt: audit_pb2.ErasureReceipt
                         ) -> list[search_pb2.FaceVector]:
        """Delete vectors with `delete`, then everything they leave behind, filling `receipt` as it goes.

        The faces about to go (`known`) are written to a journal first and the journal is removed last: if
        anything fails in between (the object store blinks mid-erasure, the process dies), the retention
        sweep finishes the erasure from the journal (`resume`). Without it a failure after the vectors were
        deleted would leave crops, photos and keys that no later call could find."""
        journal = self._open_journal(agency_id, known) if known else None
        deleted = list(delete())
        receipt.face_ids.extend(f.face.face_id for f in deleted)
        self.erase_faces(agency_id, deleted, receipt.reason, receipt=receipt)
        if journal is not None:
            self.store.delete(journal)
        return deleted

    def _open_journal(self, agency_id: str, faces: Sequence[search_pb2.FaceVector]) -> common_pb2.ObjectRef:
        doc = search_pb2.GetFacesResponse(faces=[search_pb2.FaceVector(face=f.face, crop=f.crop) for f in faces])
        return self.store.put(JOURNAL_BUCKET, agency_key(agency_id, JOURNAL_KIND, uuid.uuid4().hex),
                              doc.SerializeToString())

    def resume(self, agency_id: str, *, now: float, min_age_s: float = 300.0) -> list[audit_pb2.ErasureReceipt]:
        """Finish erasures whose journal is older than `min_age_s` (their call failed or its process died):
        delete the journal's vectors again (idempotent) and everything they left behind."""
        receipts = []
        for ref, modified in list(self.store.list_modified(JOURNAL_BUCKET, agency_key(agency_id, JOURNAL_KIND) + "/")):
            if now - modified < min_age_s:
                continue
            faces = list(search_pb2.GetFacesResponse.FromString(self.store.get(ref)).faces)
            for cid in sorted({f.face.collection_id for f in faces}):
                ids = [f.face.face_id for f in faces if f.face.collection_id == cid]
                for i in range(0, len(ids), MAX_FACE_IDS_PER_CALL):
                    try:
                        self.search.call("DeleteFaceVectors", search_pb2.DeleteFaceVectorsRequest(
                            agency_id=agency_id, collection_id=cid, face_ids=ids[i:i + MAX_FACE_IDS_PER_CALL]))
                    except NotFound:
                        break  # the collection itself is gone (DeleteCollection)
            receipt = audit_pb2.ErasureReceipt(face_ids=[f.face.face_id for f in faces], reason="request (resumed)")
            self.erase_faces(agency_id, faces, receipt.reason, receipt=receipt)
            self.store.delete(ref)
            receipts.append(receipt)
        return receipts

    def erase_faces(self, agency_id: str, faces: Sequence[search_pb2.FaceVector], reason: str, *,
                    receipt: audit_pb2.ErasureReceipt | None = None) -> audit_pb2.ErasureReceipt:
        """Erase what already-deleted faces (their vectors are gone) leave behind. With `receipt`, that
        receipt is filled as the work goes, so a failure part-way still reports what was removed."""
        if receipt is None:
            receipt = audit_pb2.ErasureReceipt(face_ids=[f.face.face_id for f in faces], reason=reason)
        if not faces:
            return receipt
        erased = {f.face.face_id for f in faces}
        for f in faces:
            if f.crop.key:
                self._delete(f.crop, receipt)
        for rid in sorted({r for f in faces if (r := request_of_crop(agency_id, f.crop))}):
            self._erase_enrolment(agency_id, rid, erased, receipt)
        for image_id in sorted({f.face.image_id for f in faces if f.face.image_id}):
            self.erase_image_if_unused(agency_id, image_id, receipt)
        self._redact_searches(erased, receipt)
        self._forget_replays(erased, receipt)
        return receipt

    def _forget_replays(self, erased: set[str], receipt: audit_pb2.ErasureReceipt) -> None:
        """Stored answers kept for idempotent retries (any agency's: a grantee's search can name the owner's
        faces) that mention an erased face are deleted, so no retry can bring the face back."""
        if self.idempotency is None:
            return
        bucket = self.idempotency.bucket
        for prefix in self.store.list_prefixes(bucket):
            agency = prefix.strip("/")
            if not AGENCY_RE.fullmatch(agency):
                continue
            for key in self.idempotency.purge(agency, mentions=tuple(sorted(erased))):
                receipt.objects.append(common_pb2.ObjectRef(bucket=bucket, key=key))

    def erase_image_if_unused(self, agency_id: str, image_id: str, receipt: audit_pb2.ErasureReceipt) -> None:
        """Delete a stored original once no face of the agency refers to it."""
        if not image_id or image_referenced(self.search, agency_id, image_id):
            return
        for kind in ("images", "probes"):
            self._delete(common_pb2.ObjectRef(bucket=IMAGES_BUCKET,
                                              key=f"{agency_id}/{kind}/{image_id[:2]}/{image_id}"), receipt)

    def discard_enrolment(self, agency_id: str, rid: str, image_id: str) -> None:
        """An enrolment that ended with no face enrolled (failed, or no usable face): its crops, its data key
        and, unless another face uses it, its photo go at once. The outcome (GetRequest) stays."""
        receipt = audit_pb2.ErasureReceipt(reason="not enrolled")
        try:
            if REQUEST_ID_RE.fullmatch(rid):
                key = self.keys.erase(agency_id, rid)
                if key is not None:
                    receipt.objects.append(key)
                for crop in list(self.store.list(CROPS_BUCKET, f"{agency_id}/crops/{rid}/")):
                    self._delete(crop, receipt)
            self.erase_image_if_unused(agency_id, image_id, receipt)
        except Exception:  # the caller gets the enrolment's own outcome; the retention sweep is the backstop
            log.exception("could not discard an enrolment that enrolled nothing",
                          extra={"agency_id": agency_id, "request_id": rid})

    def _erase_enrolment(self, agency_id: str, rid: str, erased: set[str], receipt: audit_pb2.ErasureReceipt
                         ) -> None:
        key = self.keys.erase(agency_id, rid)
        if key is not None:
            receipt.objects.append(key)
        result = self.results.get(agency_id, rid)
        if result is not None and result.WhichOneof("result") == "index_faces":
            keep = [r for r in result.index_faces.face_records if r.face.face_id not in erased]
            if keep:  # other faces of the same photo stay enrolled: the outcome stays, without the erased ones
                del result.index_faces.face_records[:]
                result.index_faces.face_records.extend(keep)
                self.results.put(agency_id, rid, result)
                receipt.redacted.append(self.results.ref(agency_id, rid))
                return
        self.erase_request(agency_id, rid, receipt)

    def erase_request(self, agency_id: str, rid: str, receipt: audit_pb2.ErasureReceipt) -> None:
        """Every object of one pipeline request: result, task, data key and its crops."""
        key = self.keys.erase(agency_id, rid)
        if key is not None:
            receipt.objects.append(key)
        self._delete(self.results.ref(agency_id, rid), receipt)
        self._delete(self.results.task_ref(agency_id, rid), receipt)
        for crop in list(self.store.list(CROPS_BUCKET, f"{agency_id}/crops/{rid}/")):
            self._delete(crop, receipt)

    # ---------------------------------------------------------------------------------- searches
    def _redact_searches(self, erased: set[str], receipt: audit_pb2.ErasureReceipt) -> None:
        """Searches of every agency that named an erased face: review records keep an "erased" marker, stored
        results lose the candidate, and the search's Kafka records are shredded with its data key.

        Every agency's search records are read, because a grantee's searches (even under a grant revoked since)
        can name the owner's faces. The cost grows with the number of stored searches (see docs/security.md)."""
        for prefix in self.store.list_prefixes(ADMIN_BUCKET, "searches/"):
            agency = prefix.removeprefix("searches/").strip("/")
            if not agency:
                continue
            for search_id, touched in self.searches.erase_candidates(agency, erased):
                receipt.redacted.extend(touched)
                if not REQUEST_ID_RE.fullmatch(search_id):
                    continue
                key = self.keys.erase(agency, search_id)
                if key is not None:
                    receipt.objects.append(key)
                result = self.results.get(agency, search_id)
                if result is not None and redact_result(result, erased):
                    self.results.put(agency, search_id, result)
                    receipt.redacted.append(self.results.ref(agency, search_id))

    def _delete(self, ref: common_pb2.ObjectRef, receipt: audit_pb2.ErasureReceipt) -> None:
        if self.store.exists(ref):
            self.store.delete(ref)
            receipt.objects.append(ref)


def redact_result(result: events_pb2.PipelineResult, erased: set[str]) -> bool:
    """Drop the erased faces from a stored search result; True when something changed."""
    changed = False
    kind = result.WhichOneof("result")
    if kind == "search_faces_by_image":
        for r in result.search_faces_by_image.results:
            keep = [m for m in r.face_matches if m.face.face_id not in erased]
            if len(keep) != len(r.face_matches):
                del r.face_matches[:]
                r.face_matches.extend(keep)
                changed = True
    elif kind == "search_users_by_image":
        keep_users = [m for m in result.search_users_by_image.user_matches if m.best_face_id not in erased]
        if len(keep_users) != len(result.search_users_by_image.user_matches):
            del result.search_users_by_image.user_matches[:]
            result.search_users_by_image.user_matches.extend(keep_users)
            changed = True
    return changed


def image_referenced(search: SearchClient, agency_id: str, image_id: str) -> bool:
    token = ""
    while True:
        page = search.call("ListCollections", search_pb2.ListVectorCollectionsRequest(
            agency_id=agency_id, page=common_pb2.PageRequest(page_size=1000, page_token=token)))
        for c in page.collections:
            hits = search.call("GetFaces", search_pb2.GetFacesRequest(
                agency_id=agency_id, collection_id=c.collection_id, image_id=image_id,
                page=common_pb2.PageRequest(page_size=1)))
            if hits.faces:
                return True
        token = page.page.next_page_token
        if not token:
            return False
