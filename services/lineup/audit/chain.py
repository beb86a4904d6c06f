"""The hash chain of one agency's audit trail: how records are linked and how a link is checked.

Each agency has its own chain, so an auditor can verify (and later export) exactly the records of their
agency without seeing anybody else's. Records of no agency (unauthenticated callers, the bootstrap
credential) go to the chain `_deployment`, which no agency id can collide with (agency ids have no '_').

A record's `hash` is SHA-256 over its deterministic protobuf serialisation with `hash` cleared; `sequence`
and `prev_hash` are inside the hashed bytes, so changing, removing or moving any record breaks the link to
the next one. Protobuf's deterministic mode is stable for a given schema (map entries sorted, fields in
number order) and parsing then re-serialising a stored record reproduces the bytes that were hashed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from lineup.errors import InvalidArgument
from lineup.v1 import audit_pb2

DEPLOYMENT_CHAIN = "_deployment"
GENESIS_HASH = "0" * 64
#: agency ids as the object store accepts them (lineup.objectstore.agency_key), or the deployment chain
_CHAIN_RE = re.compile(r"^(?:[a-z0-9][a-z0-9-]{1,62}|_deployment)$")

# reasons a link is broken, as reported in BrokenLink.reason
HASH_MISMATCH = "hash mismatch"
SEQUENCE_GAP = "sequence gap"
PREV_HASH_MISMATCH = "previous hash mismatch"
UNREADABLE_SEGMENT = "unreadable segment"


@dataclass(frozen=True)
class ChainHead:
    """The last record of a chain: what the next record links to."""

    sequence: int = 0
    hash: str = GENESIS_HASH


GENESIS = ChainHead()


def chain_of(record: audit_pb2.AuditRecord) -> str:
    """The chain that holds `record`; raises InvalidArgument for an agency id that cannot name one."""
    chain = record.agency_id or DEPLOYMENT_CHAIN
    check_chain(chain)
    return chain


def check_chain(chain: str) -> None:
    if not _CHAIN_RE.fullmatch(chain):
        raise InvalidArgument(f"audit chain {chain!r} is not valid: an agency id (2-63 of a-z, 0-9 and '-') "
                              f"or {DEPLOYMENT_CHAIN!r}")


def record_hash(record: audit_pb2.AuditRecord) -> str:
    unhashed = audit_pb2.AuditRecord()
    unhashed.CopyFrom(record)
    unhashed.ClearField("hash")
    return hashlib.sha256(unhashed.SerializeToString(deterministic=True)).hexdigest()


def link(head: ChainHead, records: Iterable[audit_pb2.AuditRecord]) -> list[audit_pb2.AuditRecord]:
    """Copies of `records` chained after `head`, in order; whatever chain fields they carried are replaced
    (a producer cannot choose its own place in the chain)."""
    linked: list[audit_pb2.AuditRecord] = []
    for record in records:
        rec = audit_pb2.AuditRecord()
        rec.CopyFrom(record)
        rec.sequence = head.sequence + 1
        rec.prev_hash = head.hash
        rec.ClearField("hash")
        rec.hash = record_hash(rec)
        linked.append(rec)
        head = ChainHead(rec.sequence, rec.hash)
    return linked


def check_link(prev: ChainHead, record: audit_pb2.AuditRecord) -> str | None:
    """Why `record` cannot follow `prev` (one of the reasons above), or None when the link holds.

    The record's own hash is checked first, so an edited record is reported as edited even when the edit
    touched its chain fields; then its place (sequence) and its link to the previous record. A removed or
    moved record shows as a sequence gap at the first position that holds the wrong record.
    """
    if record_hash(record) != record.hash:
        return HASH_MISMATCH
    if record.sequence != prev.sequence + 1:
        return SEQUENCE_GAP
    if record.prev_hash != prev.hash:
        return PREV_HASH_MISMATCH
    return None
