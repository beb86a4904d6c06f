"""Enrolment upserts merged across messages (group commit), without a timer.

The search stage handles several messages at once (`ConcurrentEnvelopeConsumer`), and during a bulk
enrolment most of them are INDEX messages for the same collection. Each used to upsert its own one or
two rows: one Milvus round trip (and one growing-segment insert) per photo. Here the first handler to
arrive for a collection writes; handlers that arrive while it writes queue their rows, and the next one
to get the collection's turn writes everything queued in one `upsert_faces` call. Nobody waits for a
batch to fill: a lone message is written at once, and batches form only while Milvus is busy, which is
exactly when merging pays.

Every handler returns only after its own rows are durable, so the consumer's commit-after-handle rule
still holds. A merged write that fails is retried message by message, so one message's bad rows (or a
collection deleted under it) fail that message alone, with its own error, and never its neighbours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from lineup.errors import Unavailable
from lineup.metrics import instruments
from search.rows import FaceRow

Writer = Callable[[str, str, Sequence[FaceRow]], int]

#: rows written in one merged call at most (a message carries at most 100 faces)
MAX_MERGED_ROWS = 1024


@dataclass
class _Pending:
    rows: Sequence[FaceRow]
    done: Future[int] = field(default_factory=Future)


@dataclass
class _Queue:
    turn: threading.Lock = field(default_factory=threading.Lock)  # one writer per collection at a time
    waiting: list[_Pending] = field(default_factory=list)
    users: int = 0  # handlers holding or waiting for this queue (it is dropped at 0)


class UpsertBatcher:
    def __init__(self, write: Writer, *, max_rows: int = MAX_MERGED_ROWS) -> None:
        self._write = write
        self._max_rows = max_rows
        self._lock = threading.Lock()
        self._queues: dict[tuple[str, str], _Queue] = {}

    def upsert(self, agency_id: str, collection_id: str, rows: Sequence[FaceRow]) -> int:
        """Write `rows`, possibly together with other handlers' rows for the same collection; returns once
        they are written (the number of this call's rows written) or raises this call's error."""
        key = (agency_id, collection_id)
        mine = _Pending(rows)
        with self._lock:
            queue = self._queues.setdefault(key, _Queue())
            queue.waiting.append(mine)
            queue.users += 1
        try:
            while not mine.done.done():
                with queue.turn:
                    if mine.done.done():
                        break
                    with self._lock:
                        batch: list[_Pending] = []
                        size = 0
                        while queue.waiting and (not batch or size + len(queue.waiting[0].rows) <= self._max_rows):
                            size += len(queue.waiting[0].rows)
                            batch.append(queue.waiting.pop(0))
                    self._flush(agency_id, collection_id, batch)
            return mine.done.result()
        finally:
            with self._lock:
                queue.users -= 1
                if queue.users == 0:
                    self._queues.pop(key, None)

    def _flush(self, agency_id: str, collection_id: str, batch: list[_Pending]) -> None:
        """Settle every pending write of `batch`, whatever happens (a waiter must never wait forever)."""
        try:
            instruments().upsert_messages.record(len(batch))
            if len(batch) > 1:
                try:
                    self._write(agency_id, collection_id, [row for p in batch for row in p.rows])
                except Unavailable as exc:  # the store is down for all of them: no point asking again
                    for p in batch:
                        p.done.set_exception(exc)
                    return
                except Exception:  # each message is written alone below and gets its own outcome
                    pass
                else:
                    for p in batch:
                        p.done.set_result(len({row.face_id for row in p.rows}))
                    return
            for p in batch:
                try:
                    p.done.set_result(self._write(agency_id, collection_id, p.rows))
                except Exception as exc:
                    p.done.set_exception(exc)
        finally:
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(RuntimeError("the merged upsert was abandoned"))
