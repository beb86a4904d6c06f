"""`ConcurrentEnvelopeConsumer`: the consumer loop of `lineup.kafka.consumer` with several records in work
at once, each alone, in a thread pool; committed in offset order although they complete out of order.

The failure model (retries, dead letters, what is committed when) is the batch consumer's, unchanged.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from lineup.kafka.consumer import (
    Abandoned,
    BatchEnvelopeConsumer,
    ConsumerFactory,
    FailureHook,
    Handler,
    one_at_a_time,
)
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.untrusted import for_log

log = logging.getLogger(__name__)


class ConcurrentEnvelopeConsumer(BatchEnvelopeConsumer):
    """Up to `concurrency` records in work at once, each alone (as `EnvelopeConsumer`), in a thread pool.

    For stages whose cost per record varies a lot (detection: a 64 MP image takes seconds, a portrait
    milliseconds), so that one slow record delays only itself, not the records polled after it. The design
    is arroyo's RunTaskInThreads: the loop thread alone talks to Kafka; it hands records to the pool, keeps
    polling (at most as many records as there are free slots; when none is free it pauses its partitions
    and polls only to stay in the group), and commits per partition the highest offset below which every
    record is settled. Records complete out of order but are committed in order, so a crash replays at
    most the records that were in work or waiting behind one (at least once, as before). When partitions
    are revoked, their records in work are finished and committed first.
    """

    def __init__(self, *, bootstrap: str, group_id: str, topics: list[str], handler: Handler,
                 dead_letters: DeadLetterPublisher, on_failure: FailureHook | None = None,
                 client_id: str = "lineup", concurrency: int = 4, max_attempts: int = 3,
                 retry_backoff_s: float = 0.5, max_poll_records: int = 32, poll_timeout_ms: int = 500,
                 consumer_factory: ConsumerFactory | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.concurrency = concurrency
        #: per partition, the records in work in offset order (offset -> its task)
        self._inflight: dict[TopicPartition, OrderedDict[int, Future[None]]] = {}
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"{client_id}-task")
        super().__init__(bootstrap=bootstrap, group_id=group_id, topics=topics, handler=one_at_a_time(handler),
                         dead_letters=dead_letters, on_failure=on_failure, client_id=client_id,
                         max_attempts=max_attempts, retry_backoff_s=retry_backoff_s, max_batch_records=1,
                         linger_ms=0, poll_timeout_ms=poll_timeout_ms,
                         max_poll_records=max(max_poll_records, concurrency), consumer_factory=consumer_factory)

    def _listener(self) -> ConsumerRebalanceListener:
        return _FinishRevoked(self)

    @property
    def in_flight(self) -> int:
        return sum(len(work) for work in self._inflight.values())

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self._reap()
                free = self.concurrency - self.in_flight
                self._flow(free > 0)
                # while records are in work, poll briefly so their completion is noticed (and committed) soon
                timeout = self.poll_timeout_ms if not self.in_flight else min(self.poll_timeout_ms, 50)
                for record in self._poll(timeout, max(free, 1)):
                    if self._stop.is_set():
                        break  # not submitted, not committed: redelivered
                    self._submit(record)
            self._drain(list(self._inflight))
        finally:
            self._pool.shutdown(wait=True)
            self._close()

    def _flow(self, open_: bool) -> None:
        """Pause every assigned partition while all slots are taken, resume when one frees up. Paused
        partitions keep their position, so what was fetched but not returned is fetched again later."""
        try:
            if open_:
                paused = self._consumer.paused()
                if paused:
                    self._consumer.resume(*paused)
            else:
                self._consumer.pause(*self._consumer.assignment())
        except Exception as exc:
            log.warning("cannot pause/resume partitions", extra={"error": for_log(str(exc), 300)})

    def _submit(self, record: ConsumerRecord) -> None:
        tp = TopicPartition(record.topic, record.partition)
        work = self._inflight.setdefault(tp, OrderedDict())
        if record.offset in work:
            return  # already in work (a re-fetch after a pause): one task is enough
        work[record.offset] = self._pool.submit(self._process_batch, [record])

    def _reap(self, partitions: Sequence[TopicPartition] | None = None) -> None:
        """Commit, per partition, up to the first record still in work; forget what is committed."""
        offsets: dict[TopicPartition, int] = {}
        for tp in list(partitions if partitions is not None else self._inflight):
            work = self._inflight.get(tp)
            while work:
                offset, task = next(iter(work.items()))
                if not task.done():
                    break
                error = task.exception()
                if isinstance(error, Abandoned):
                    break  # stopping with this record unsettled: nothing after it may be committed
                if error is not None:
                    raise error  # a BaseException a handler raised on purpose: end the loop uncommitted
                del work[offset]
                offsets[tp] = offset + 1
            if work is not None and not work:
                del self._inflight[tp]
        self._commit(offsets)

    def _drain(self, partitions: Sequence[TopicPartition]) -> None:
        """Wait for the partitions' records in work, commit what settled, forget the rest."""
        tasks = [t for tp in partitions for t in self._inflight.get(tp, {}).values()]
        wait_futures(tasks)
        self._reap(partitions)
        for tp in partitions:
            self._inflight.pop(tp, None)


class _FinishRevoked(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before partitions go to another member, finish and commit their records in work (so the new owner
    does not redo them); called by kafka-python inside `poll`, on the loop's thread."""

    def __init__(self, consumer: ConcurrentEnvelopeConsumer) -> None:
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        try:
            self.consumer._drain(list(revoked))
        except Exception:
            log.exception("could not commit revoked partitions; their records will be redelivered")

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        pass
