"""One audit record per public RPC, allowed or denied, published to the audit topic before the caller
sees the answer.

The gRPC interceptor owns the record: it knows who called, what was asked and how it ended. Servicers add
what only they know (the probe's hash, whose collection a grant opened, what a deletion erased) to the
call's `AuditDraft`. Publishing waits for Kafka's acknowledgement and a failure fails the call: Lineup
returns no search result that the audit trail does not hold.
"""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass, field

from google.protobuf.message import Message

from lineup.audit.chain import chain_of
from lineup.auth import Principal
from lineup.candidates import ranked_candidates
from lineup.kafka.envelope import new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.v1 import admin_pb2, audit_pb2, events_pb2

AUDIT_TOPIC = "lineup.audit"
_MAX_DETAIL = 300
_MAX_LIST = 100
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


def _request_details(request: Message) -> dict[str, str]:
    """Scalar and id-list fields of the request, so an auditor sees what was asked (never image bytes)."""
    out: dict[str, str] = {}
    for fd, value in request.ListFields():
        if fd.name in _NOT_DETAILS or fd.message_type is not None or fd.type == fd.TYPE_BYTES:
            continue  # messages (images, contexts, thresholds) are recorded in their own fields or not at all
        if fd.is_repeated:
            items = [fd.enum_type.values_by_number[v].name if fd.enum_type else str(v) for v in value]
            text = ",".join(items[:_MAX_LIST]) + (f",...(+{len(items) - _MAX_LIST})" if len(items) > _MAX_LIST else "")
        elif fd.enum_type is not None:
            text = fd.enum_type.values_by_number[value].name
        else:
            text = str(value)
        out[f"request.{fd.name}"] = text[:_MAX_DETAIL]
    return out


def build_records(*, method: str, principal: Principal | None, request: Message, response: Message | None,
                  code: int, message: str, request_id: str, trace_id: str, draft: AuditDraft
                  ) -> list[audit_pb2.AuditRecord]:
    """The record for the caller's agency, plus a copy for the owning agency of the data when that differs."""
    decision = (audit_pb2.AUDIT_DECISION_ALLOWED if code == 0 else
                audit_pb2.AUDIT_DECISION_DENIED if code in (7, 16) else audit_pb2.AUDIT_DECISION_FAILED)
    rec = audit_pb2.AuditRecord(
        record_id=draft.record_id, agency_id=principal.agency_id if principal else "",
        actor_key_id=principal.key_id if principal else "", actor_holder=principal.holder if principal else "",
        actor_agency_id=principal.agency_id if principal else "", operation=method.lstrip("/"),
        decision=decision, status_code=code, status_message=message[:1000], request_id=request_id,
        trace_id=trace_id, grant_id=draft.grant_id, probe_image_sha256=draft.probe_image_sha256)
    rec.time.GetCurrentTime()
    if principal is not None:
        rec.actor_roles.extend(sorted(_ROLE_VALUES[r] for r in principal.roles if r in _ROLE_VALUES))
    rec.collection_id = draft.collection_id or str(getattr(request, "collection_id", "") or "")
    ctx = getattr(request, "context", None)
    if ctx is not None and ctx.DESCRIPTOR.name == "SearchContext":
        rec.case_id, rec.purpose, rec.justification = ctx.case_id, ctx.purpose, ctx.justification
    rec.details.update(_request_details(request))
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
    if draft.erasure is not None:
        rec.erasure.CopyFrom(draft.erasure)
    records = [rec]
    if draft.owner_agency_id and draft.owner_agency_id != rec.agency_id:
        copy = audit_pb2.AuditRecord()
        copy.CopyFrom(rec)
        copy.agency_id = draft.owner_agency_id
        copy.record_id = f"{rec.record_id}.{draft.owner_agency_id}"
        records.append(copy)
    return records


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
