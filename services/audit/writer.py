"""The audit writer's domain logic: a batch of audit records in, one new segment per chain out.

At-least-once delivery meets an append-only chain here. The consumer commits offsets only after
`handle` returned, so a crash between writing a segment and committing replays records that are already
stored; they are recognised by `record_id` among the last `dedupe_window` records of their chain and
skipped, so a replay never stores a record twice. A replay is at most the batches that were in hand
(uncommitted) when the writer stopped, far fewer records than the window.

The head of each chain is checked against the object store at the start of every batch (one LIST of the
keys after the last one this writer knows; the segments are re-read only when there are any), so a writer
that just got a chain's partition after a rebalance links to what the previous owner wrote.

The object store being unreachable must not lose records and must not dead-letter them either (an audit
record belongs in the chain, not in an operator's queue): the writer retries for `store_retry_s`, then
raises `StoreOutage`, which ends the consumer loop without committing; the process exits and is restarted,
and Kafka still holds the records.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from lineup.audit.chain import ChainHead, chain_of
from lineup.audit.emit import MAX_RECORD_BYTES
from lineup.audit.segments import AuditLog, segment_key
from lineup.errors import InvalidArgument, LineupError, Unavailable
from lineup.kafka.consumer import BatchItem
from lineup.untrusted import for_log
from lineup.v1 import audit_pb2

log = logging.getLogger(__name__)

#: record ids are uuid4 hex, with `.<agency>` for an owner's copy; they are kept in memory for deduplication
_RECORD_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,200}")
#: emitters bound every record (lineup.audit.emit, MAX_RECORD_BYTES); a larger one did not come from them, and
#: storing it would let one record bloat a segment that every verification reads


class StoreOutage(BaseException):
    """The object store stayed unreachable: stop consuming without committing.

    A BaseException on purpose: the consumer's retry and dead-letter logic handles `Exception`, and this
    must get past it so the batch is neither dead-lettered nor committed."""


class RecentIds:
    """The ids of a chain's last records, oldest first, capped at `capacity`."""

    def __init__(self, capacity: int, ids: Sequence[str] = ()) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.extend(ids)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def extend(self, ids: Sequence[str]) -> None:
        for record_id in ids:
            self._ids[record_id] = None
            self._ids.move_to_end(record_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


@dataclass
class _ChainState:
    head: ChainHead
    last_key: str
    recent: RecentIds


@dataclass(frozen=True)
class Appended:
    """What one batch did to one chain."""

    chain: str
    stored: int
    skipped: int
    segment: str  # empty when every record was a replay


class AuditWriter:
    def __init__(self, log_: AuditLog, *, dedupe_window: int = 10_000, store_retry_s: float = 60.0,
                 retry_backoff_s: float = 0.5) -> None:
        self.log = log_
        self.dedupe_window = dedupe_window
        self.store_retry_s = store_retry_s
        self.retry_backoff_s = retry_backoff_s
        self.stopping = threading.Event()
        self._chains: dict[str, _ChainState] = {}

    # -- the consumer's batch handler ---------------------------------------------------------------------
    def handle(self, items: Sequence[BatchItem]) -> list[Exception | None]:
        """Group the batch by chain and append each group; a message that is not a valid audit record
        gets its own error (dead-lettered by the consumer), everything else is stored or the call raises."""
        outcomes: list[Exception | None] = [None] * len(items)
        by_chain: dict[str, list[tuple[int, audit_pb2.AuditRecord]]] = {}
        for i, item in enumerate(items):
            decoded = item.decoded
            if decoded.payload_kind != "audit_record":
                outcomes[i] = InvalidArgument(f"the audit writer consumes AuditRecord, not {decoded.payload_kind}")
                continue
            record = decoded.envelope.audit_record
            if not record.record_id:
                outcomes[i] = InvalidArgument("audit record without record_id: replays could not be recognised")
                continue
            if not _RECORD_ID_RE.fullmatch(record.record_id):
                outcomes[i] = InvalidArgument(f"audit record id {for_log(record.record_id)!r} is not valid: use "
                                              f"1-200 of A-Z, a-z, 0-9, '.', '_' and '-'")
                continue
            size = record.ByteSize()
            if size > MAX_RECORD_BYTES:
                outcomes[i] = InvalidArgument(f"audit record of {size} bytes is larger than any record Lineup "
                                              f"writes ({MAX_RECORD_BYTES} bytes)")
                continue
            try:
                by_chain.setdefault(chain_of(record), []).append((i, record))
            except InvalidArgument as exc:
                outcomes[i] = exc
        for chain, entries in by_chain.items():
            try:
                self.append_durably(chain, [rec for _, rec in entries])
            except LineupError as exc:  # not an outage (e.g. an unreadable head): this chain's records fail
                log.error("cannot append to audit chain", extra={"chain": chain, "error": exc.message})
                for i, _ in entries:
                    outcomes[i] = exc
        return outcomes

    def append_durably(self, chain: str, records: Sequence[audit_pb2.AuditRecord]) -> Appended:
        """`append`, retried while the object store is unavailable; StoreOutage when it stays so."""
        deadline = time.monotonic() + self.store_retry_s
        attempt = 0
        while True:
            attempt += 1
            try:
                return self.append(chain, records)
            except Unavailable as exc:
                self._chains.pop(chain, None)  # the head may have moved or be unknown: re-read it
                if self.stopping.is_set() or time.monotonic() >= deadline:
                    raise StoreOutage(f"audit chain {chain}: object store unavailable after {attempt} "
                                      f"attempt(s): {exc.message}") from exc
                log.warning("audit append failed; retrying", extra={"chain": chain, "attempt": attempt,
                                                                     "error": exc.message})
                self.stopping.wait(min(self.retry_backoff_s * attempt, 5.0))

    # -- one chain --------------------------------------------------------------------------------------
    def append(self, chain: str, records: Sequence[audit_pb2.AuditRecord]) -> Appended:
        state = self._state(chain)
        fresh: list[audit_pb2.AuditRecord] = []
        seen: set[str] = set()
        for rec in records:
            if rec.record_id in state.recent or rec.record_id in seen:
                continue
            seen.add(rec.record_id)
            fresh.append(rec)
        skipped = len(records) - len(fresh)
        if skipped:
            log.info("skipped replayed audit records", extra={"chain": chain, "skipped": skipped})
        if not fresh:
            return Appended(chain, 0, skipped, "")
        try:
            stored = self.log.append(chain, fresh, head=state.head)
        except LineupError:
            self._chains.pop(chain, None)
            raise
        key = segment_key(chain, stored[0].sequence, stored[-1].sequence)
        state.head = ChainHead(stored[-1].sequence, stored[-1].hash)
        state.last_key = key
        state.recent.extend([r.record_id for r in stored])
        log.info("audit segment written", extra={"chain": chain, "segment": key, "records": len(stored),
                                                 "skipped": skipped, "head_sequence": state.head.sequence})
        return Appended(chain, len(stored), skipped, key)

    def _state(self, chain: str) -> _ChainState:
        """The chain's tail, checked against the store: the cached one while no segment follows the last key
        this writer knows (one LIST after that key, however long the chain), re-read when anybody else moved
        the head (a rebalance, another replica) or when nothing is cached (a fresh process)."""
        state = self._chains.get(chain)
        if state is not None and not self.log.segment_keys(chain, after=state.last_key):
            return state
        keys = self.log.segment_keys(chain)
        tail = self.log.tail(chain, min_records=self.dedupe_window, keys=keys)
        state = _ChainState(tail.head, tail.last_key, RecentIds(self.dedupe_window, tail.record_ids))
        self._chains[chain] = state
        return state
