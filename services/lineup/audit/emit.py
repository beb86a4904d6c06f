"""One audit record per public RPC, allowed or denied, published to the audit topic before the caller
sees the answer.

The gRPC interceptor owns the record: it knows who called, what was asked and how it ended. Servicers add
what only they know (the probe's hash, whose collection a grant opened, what a deletion erased) to the
call's `AuditDraft`. Publishing waits for Kafka's acknowledgement and a failure fails the call: Lineup
returns no search result that the audit trail does not hold.
"""

from __future__ import annotations

import contextvars
import hashlib
import re
import uuid
from dataclasses import dataclass, field

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from lineup.audit.chain import chain_of
from lineup.auth import Principal
from lineup.candidates import ranked_candidates
from lineup.kafka.envelope import new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.v1 import admin_pb2, audit_pb2, events_pb2

_MAX_DETAIL = 512
_MAX_DETAIL_KEY = 128
_MAX_DETAILS = 64
_MAX_LIST = 100
_MAX_FIELD = 256
_MAX_ID = 256
_MAX_CANDIDATES = 1000
_MAX_ERASED = 2_000  # a receipt larger than this is summarised (totals) to stay under the broker limit
_FIELD_LIMITS = {"justification": 4096, "status_message": 1000, "operation": 200}
#: the audit writer refuses records above this (services/audit/writer.py); emitters stay well below it
MAX_RECORD_BYTES = 256 * 1024
RECORD_BUDGET_BYTES = 192 * 1024
#: client labels that are recorded only as their hash: the audit trail cannot be erased, a label may be personal
_HASHED_DETAILS = {"external_image_id"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NOT_DETAILS = {"collection_id", "page_token", "client_token"}
_ROLE_VALUES = {name.removeprefix("ROLE_").lower(): value for name, value in admin_pb2.Role.items() if value}


@dataclass
class AuditDraft:
    """What a servicer adds to the record of the call in hand."""

    record_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    collection_id: str = ""
    #: the agency whose data the call touched, when it is not the caller's (a grant, the bootstrap admin)
    owner_agency_id: str = ""
    grant_id: str = ""
    probe_image_sha256: str = ""
    #: the stored search a call concerns (reading its review or images, deciding on it): so the case's and the
    #: search's trail include who looked and who decided, not only the search itself
    case_id: str = ""
    search_id: str = ""
    erasure: audit_pb2.ErasureReceipt | None = None
    details: dict[str, str] = field(default_factory=dict)


_draft: contextvars.ContextVar[AuditDraft | None] = contextvars.ContextVar("lineup_audit_draft", default=None)


def current_draft() -> AuditDraft:
    """The draft of the call in hand; a detached one outside an audited call (internal services, tests)."""
    d = _draft.get()
    return d if d is not None else AuditDraft()


def set_draft(d: AuditDraft | None) -> contextvars.Token[AuditDraft | None]:
    return _draft.set(d)


def reset_draft(token: contextvars.Token[AuditDraft | None]) -> None:
    _draft.reset(token)


def bounded(text: str, limit: int) -> str:
    """`text`, or its first characters with a marker naming the full length and its SHA-256, so an auditor
    can still prove what was sent without the record growing with it."""
    text = _CONTROL.sub("?", text)  # a refused call's fields were never validated: no terminal/log injection
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    marker = f"...[truncated: {len(text)} chars, sha256={digest}]"
    return text[:max(0, limit - len(marker))] + marker


def _enum_name(fd: FieldDescriptor, value: int) -> str:
    known = fd.enum_type.values_by_number.get(value)
    return known.name if known is not None else f"UNKNOWN({value})"


def _request_details(request: Message) -> dict[str, str]:
    """Scalar and id-list fields of the request, so an auditor sees what was asked (never image bytes)."""
    out: dict[str, str] = {}
    for fd, value in request.ListFields():
        if fd.name in _NOT_DETAILS or fd.message_type is not None or fd.type == fd.TYPE_BYTES:
            continue  # messages (images, contexts, thresholds) are recorded in their own fields or not at all
        if fd.is_repeated:
            items = [_enum_name(fd, v) if fd.enum_type else str(v) for v in list(value)[:_MAX_LIST]]
            text = ",".join(items) + (f",...(+{len(value) - _MAX_LIST})" if len(value) > _MAX_LIST else "")
        elif fd.enum_type is not None:
            text = _enum_name(fd, value)
        else:
            text = str(value)
        if fd.name in _HASHED_DETAILS and text:
            text = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        out[f"request.{fd.name}"] = text
    return out


def build_records(*, method: str, principal: Principal | None, request: Message | None, response: Message | None,
                  code: int, message: str, request_id: str, trace_id: str, draft: AuditDraft,
                  refused: bool = False) -> list[audit_pb2.AuditRecord]:
    """The record for the caller's agency, plus a copy for the owning agency of the data when that differs.

    Every field is bounded (`bound_record`), so no caller input can make a record too large to publish.
    `refused`: the call was stopped before any servicer ran (bad credential, bad message, unknown method).
    """
    decision = (audit_pb2.AUDIT_DECISION_DENIED if refused or code in (7, 16) else
                audit_pb2.AUDIT_DECISION_ALLOWED if code == 0 else audit_pb2.AUDIT_DECISION_FAILED)
    rec = audit_pb2.AuditRecord(
        record_id=draft.record_id, agency_id=principal.agency_id if principal else "",
        actor_key_id=principal.key_id if principal else "", actor_holder=principal.holder if principal else "",
        actor_agency_id=principal.agency_id if principal else "", operation=method.lstrip("/"),
        decision=decision, status_code=code, status_message=message, request_id=request_id,
        trace_id=trace_id, grant_id=draft.grant_id, probe_image_sha256=draft.probe_image_sha256)
    rec.time.GetCurrentTime()
    if principal is not None:
        rec.actor_roles.extend(sorted(_ROLE_VALUES[r] for r in principal.roles if r in _ROLE_VALUES))
    if request is not None:
        rec.collection_id = draft.collection_id or str(getattr(request, "collection_id", "") or "")
        ctx = getattr(request, "context", None)
        if ctx is not None and ctx.DESCRIPTOR.name == "SearchContext":
            rec.case_id, rec.purpose, rec.justification = ctx.case_id, ctx.purpose, ctx.justification
        rec.details.update(_request_details(request))
    else:
        rec.collection_id = draft.collection_id
    if principal is not None and principal.session_id and not rec.case_id:
        # every call under a session belongs to the session's case, searches or not
        rec.case_id, rec.purpose, rec.justification = principal.case_id, principal.purpose, principal.justification
    rec.details.update(draft.details)
    if response is not None:
        rec.candidates.extend(audit_pb2.AuditCandidate(
            face_id=c.face_id, user_id=c.user_id, raw_score=c.score.raw_score, similarity=c.score.similarity,
            probe_face_index=c.probe_face_index, rank=c.rank) for c in ranked_candidates(response))
        prov = getattr(response, "provenance", None)
        if prov is not None and prov.search_id:
            rec.search_id = prov.search_id
        probe = getattr(response, "probe_image_sha256", "")
        if probe and not rec.probe_image_sha256:
            rec.probe_image_sha256 = probe
    rec.case_id = rec.case_id or draft.case_id
    rec.search_id = rec.search_id or draft.search_id
    if draft.erasure is not None:
        rec.erasure.CopyFrom(draft.erasure)
    bound_record(rec)
    records = [rec]
    if draft.owner_agency_id and draft.owner_agency_id != rec.agency_id:
        copy = audit_pb2.AuditRecord()
        copy.CopyFrom(rec)
        copy.agency_id = draft.owner_agency_id
        copy.record_id = f"{rec.record_id}.{draft.owner_agency_id}"
        records.append(copy)
    return records


def bound_record(rec: audit_pb2.AuditRecord) -> None:
    """Cap every caller-influenced part of a record (strings, details, candidates, erasure lists)."""
    for fd, value in rec.ListFields():
        if fd.type == fd.TYPE_STRING and not fd.is_repeated:
            setattr(rec, fd.name, bounded(value, _FIELD_LIMITS.get(fd.name, _MAX_FIELD)))
    if len(rec.details) > _MAX_DETAILS:
        dropped = sorted(rec.details)[_MAX_DETAILS:]
        for k in dropped:
            del rec.details[k]
        rec.details["audit.details_dropped"] = str(len(dropped))
    for k in list(rec.details):
        v = rec.details[k]
        short_k = bounded(k, _MAX_DETAIL_KEY)
        if short_k != k:
            del rec.details[k]
        rec.details[short_k] = bounded(v, _MAX_DETAIL)
    if len(rec.candidates) > _MAX_CANDIDATES:
        full = b"".join(c.SerializeToString() for c in rec.candidates)
        rec.details["audit.candidates_total"] = str(len(rec.candidates))
        rec.details["audit.candidates_sha256"] = hashlib.sha256(full).hexdigest()
        del rec.candidates[_MAX_CANDIDATES:]
    for c in rec.candidates:
        c.face_id, c.user_id = bounded(c.face_id, _MAX_ID), bounded(c.user_id, _MAX_ID)
    _summarise_erasure(rec, _MAX_ERASED)
    _fit_budget(rec)


def _summarise_erasure(rec: audit_pb2.AuditRecord, keep: int) -> None:
    """Keep the first `keep` entries of each erasure list; the totals and a SHA-256 of each full list stay."""
    e = rec.erasure
    for name in ("face_ids", "objects", "redacted"):
        items = getattr(e, name)
        if len(items) <= keep:
            continue
        if f"audit.erasure_{name}_total" not in rec.details:  # the full list's, not a shortened one's
            full = "\n".join(i if isinstance(i, str) else f"{i.bucket}/{i.key}" for i in items)
            rec.details[f"audit.erasure_{name}_total"] = str(len(items))
            rec.details[f"audit.erasure_{name}_sha256"] = hashlib.sha256(full.encode()).hexdigest()
        del items[keep:]


def _fit_budget(rec: audit_pb2.AuditRecord) -> None:
    """Whatever the mix of fields, the record stays under RECORD_BUDGET_BYTES (far below what the writer
    accepts): long lists are halved, with their totals and hashes kept, until it fits."""
    while rec.ByteSize() > RECORD_BUDGET_BYTES:
        lists = max(len(rec.candidates), len(rec.erasure.face_ids), len(rec.erasure.objects),
                    len(rec.erasure.redacted))
        if lists <= 1:
            for k in list(rec.details):  # only the details can still be this large: drop them, say so
                del rec.details[k]
            rec.details["audit.details_dropped"] = "record budget"
            return
        keep = lists // 2
        if len(rec.candidates) > keep:
            if "audit.candidates_total" not in rec.details:
                full = b"".join(c.SerializeToString() for c in rec.candidates)
                rec.details["audit.candidates_total"] = str(len(rec.candidates))
                rec.details["audit.candidates_sha256"] = hashlib.sha256(full).hexdigest()
            del rec.candidates[keep:]
        _summarise_erasure(rec, keep)


class AuditEmitter:
    """Publishes audit records, keyed by chain so one agency's records stay in order in one partition."""

    def __init__(self, producer: EnvelopeProducer, topic: str, service: str) -> None:
        self.producer = producer
        self.topic = topic
        self.service = service

    def emit(self, records: list[audit_pb2.AuditRecord]) -> None:
        for rec in records:
            env = new_envelope(rec, request_id=rec.request_id, agency_id=rec.agency_id, producer=self.service,
                               actor=events_pb2.Actor(key_id=rec.actor_key_id, holder=rec.actor_holder,
                                                      agency_id=rec.actor_agency_id))
            self.producer.send(self.topic, env, key=chain_of(rec))
