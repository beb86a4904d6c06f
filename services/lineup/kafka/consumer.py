"""A consumer loop around Envelopes: continue the producer's trace, process, then commit.

Offsets are committed manually and only after the handler returned (its outputs are durable) or
the message was dead-lettered, so a crash at any point replays the message instead of losing it;
handlers make replays harmless with deterministic ids/upserts. `BatchEnvelopeConsumer` is the one loop:
it handles several records at once for stages dominated by a batched model call; `EnvelopeConsumer` is
the same loop with batches of one record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata
from opentelemetry import trace

from lineup.errors import LineupError, Unavailable
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.envelope import Decoded, EnvelopeError, decode

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.kafka")

Handler = Callable[[Decoded, ConsumerRecord], None]
#: called after a message was dead-lettered, e.g. to fail the waiting request with a clear status
FailureHook = Callable[[Decoded | None, LineupError], None]

_INVALID = int(grpc.StatusCode.INVALID_ARGUMENT.value[0])
_INTERNAL = int(grpc.StatusCode.INTERNAL.value[0])


# -- batch mode ---------------------------------------------------------------------------------------


@dataclass
class BatchItem:
    """One record of a batch: its envelope and its own CONSUMER span, a child of the producer's span.

    The batch handler runs in a span of its own (linked to every item's span); it activates an item's span
    (`with item.activate():`) around that item's own work, e.g. fetching its inputs and publishing its
    output, so each request's trace stays one unbroken chain across the batch.
    """

    decoded: Decoded
    record: ConsumerRecord
    span: trace.Span

    @contextmanager
    def activate(self) -> Iterator[None]:
        with trace.use_span(self.span, end_on_exit=False):
            yield


#: handles several records at once; returns one outcome per item, in order: None when the item's outputs
#: are durable, else its error (Unavailable or an unexpected exception: retried; another LineupError:
#: dead-lettered at once). Raising fails every item with that error (a poison item is then isolated by
#: handling the items one by one).
BatchHandler = Callable[[Sequence[BatchItem]], Sequence[Exception | None]]


class BatchEnvelopeConsumer:
    """Like `EnvelopeConsumer`, but hands the handler up to `max_batch_records` records at once.

    For stages whose cost is dominated by a batched model call (the embedder): records that arrive
    together are processed together, waiting at most `linger_ms` after the first one for more. Offsets are
    committed once the whole batch is handled or dead-lettered, never before, so a crash replays the batch.
    Bad records fail alone: undecodable ones are dead-lettered before the handler sees them, and the
    handler reports errors per item; only transient errors are retried, and only for the items they hit.
    """

    def __init__(self, *, bootstrap: str, group_id: str, topics: list[str], handler: BatchHandler,
                 dead_letters: DeadLetterPublisher, on_failure: FailureHook | None = None,
                 client_id: str = "lineup", max_attempts: int = 3, retry_backoff_s: float = 0.5,
                 max_batch_records: int = 32, linger_ms: int = 20, poll_timeout_ms: int = 500,
                 max_poll_records: int = 0) -> None:
        if max_batch_records < 1 or linger_ms < 0 or max_attempts < 1:
            raise ValueError("max_batch_records and max_attempts must be >= 1, linger_ms >= 0")
        self.handler = handler
        self.dead_letters = dead_letters
        self.on_failure = on_failure
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.max_batch_records = max_batch_records
        self.linger_ms = linger_ms
        self.poll_timeout_ms = poll_timeout_ms
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(
            *topics, bootstrap_servers=bootstrap, group_id=group_id, client_id=client_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=max(max_poll_records, max_batch_records), max_poll_interval_ms=300_000,
        )

    # -- lifecycle --------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit and leave the group."""
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                records = self._poll_batch()
                if not records or self._stop.is_set():
                    continue  # polled but unprocessed records are not committed: they are redelivered
                self._process_batch(records)
                self._commit(records)
        finally:
            self._consumer.close(autocommit=False)

    def _poll_batch(self) -> list[ConsumerRecord]:
        """Up to max_batch_records records: wait for the first, then linger a little for company."""
        first = self._consumer.poll(timeout_ms=self.poll_timeout_ms, max_records=self.max_batch_records)
        records = [r for rs in first.values() for r in rs]
        if not records:
            return records
        deadline = time.monotonic() + self.linger_ms / 1000
        while len(records) < self.max_batch_records and not self._stop.is_set():
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            more = self._consumer.poll(timeout_ms=left_ms, max_records=self.max_batch_records - len(records))
            records.extend(r for rs in more.values() for r in rs)
        return records

    def _commit(self, records: Sequence[ConsumerRecord]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
        self._consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})

    # -- one batch ----------------------------------------------------------------------------------
    def _process_batch(self, records: Sequence[ConsumerRecord]) -> None:
        items: list[BatchItem] = []
        for record in records:
            try:
                decoded = decode(record.value, record.headers)
            except EnvelopeError as exc:
                self.dead_letters.publish(record, reason=str(exc), error_code=_INVALID, attempts=1)
                continue
            env = decoded.envelope
            attrs = {"messaging.system": "kafka", "messaging.destination.name": record.topic,
                     "messaging.operation.type": "process", "messaging.kafka.offset": record.offset,
                     "messaging.kafka.destination.partition": record.partition,
                     "lineup.request_id": env.request_id, "lineup.payload": decoded.payload_kind}
            span = tracer.start_span(f"{record.topic} process", context=decoded.context,
                                     kind=trace.SpanKind.CONSUMER, attributes=attrs)
            items.append(BatchItem(decoded, record, span))
        if not items:
            return
        try:
            # The batch's own work (e.g. one Triton call for many messages) belongs to several traces:
            # it is parented on the first message's trace, so a lone message (the common case for a
            # search) gets one unbroken trace, and linked to every message's span.
            links = [trace.Link(i.span.get_span_context()) for i in items]
            with tracer.start_as_current_span("process batch", context=trace.set_span_in_context(items[0].span),
                                              links=links, attributes={
                    "messaging.system": "kafka", "messaging.batch.message_count": len(items)}):
                self._handle_with_retries(items)
        finally:
            for item in items:
                item.span.end()

    def _handle_with_retries(self, items: list[BatchItem]) -> None:
        pending = items
        errors: dict[int, LineupError] = {}
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            retry: list[BatchItem] = []
            for item, outcome in zip(pending, self._call(pending), strict=True):
                if outcome is None:
                    continue
                if isinstance(outcome, Unavailable):
                    errors[id(item)] = outcome
                    retry.append(item)
                elif isinstance(outcome, LineupError):  # the message itself is bad: retrying cannot help
                    self._fail(item, outcome, attempt)
                else:  # unexpected: retry, then give up loudly
                    log.error("handler failed", exc_info=outcome, extra={
                        "attempt": attempt, "request_id": item.decoded.envelope.request_id})
                    errors[id(item)] = LineupError(f"{type(outcome).__name__}: {outcome}")
                    retry.append(item)
            pending = retry
            if not pending:
                return
            if attempt < self.max_attempts and not self._stop.is_set():
                time.sleep(self.retry_backoff_s * attempt)
        for item in pending:
            self._fail(item, errors[id(item)], attempt)

    def _call(self, items: Sequence[BatchItem]) -> list[Exception | None]:
        """Run the handler; an exception it raises becomes every item's outcome, except that an
        unexpected one on several items is narrowed down by handling them one at a time."""
        try:
            outcomes = list(self.handler(items))
        except Unavailable as exc:
            return [exc] * len(items)
        except Exception as exc:
            if len(items) == 1 or isinstance(exc, LineupError):
                return [exc] * len(items)
            log.warning("batch handler failed; handling its items one by one",
                        extra={"error": f"{type(exc).__name__}: {exc}", "items": len(items)})
            return [self._call([item])[0] for item in items]
        if len(outcomes) != len(items):
            bug = LineupError(f"batch handler returned {len(outcomes)} outcomes for {len(items)} items")
            return [bug] * len(items)
        return outcomes

    def _fail(self, item: BatchItem, error: LineupError, attempts: int) -> None:
        env = item.decoded.envelope
        with item.activate():
            item.span.set_status(trace.Status(trace.StatusCode.ERROR, error.message))
            self.dead_letters.publish(item.record, reason=error.message, error_code=error.code_value or _INTERNAL,
                                      attempts=attempts, request_id=env.request_id, agency_id=env.agency_id)
            if self.on_failure is not None:
                self.on_failure(item.decoded, error)


class EnvelopeConsumer(BatchEnvelopeConsumer):
    """One record at a time, committed after each: for stages with no batched model call.

    A batch of one, so decoding, tracing, retries and dead-lettering are the batch consumer's. The
    handler runs inside the record's CONSUMER span, which continues the producer's trace; `max_poll_records`
    only sizes Kafka's fetch buffer.
    """

    def __init__(self, *, bootstrap: str, group_id: str, topics: list[str], handler: Handler,
                 dead_letters: DeadLetterPublisher, on_failure: FailureHook | None = None,
                 client_id: str = "lineup", max_attempts: int = 3, retry_backoff_s: float = 0.5,
                 max_poll_records: int = 32, poll_timeout_ms: int = 500) -> None:
        def one(items: Sequence[BatchItem]) -> list[Exception | None]:
            (item,) = items
            with item.activate():
                handler(item.decoded, item.record)
            return [None]

        super().__init__(bootstrap=bootstrap, group_id=group_id, topics=topics, handler=one,
                         dead_letters=dead_letters, on_failure=on_failure, client_id=client_id,
                         max_attempts=max_attempts, retry_backoff_s=retry_backoff_s, max_batch_records=1,
                         linger_ms=0, poll_timeout_ms=poll_timeout_ms, max_poll_records=max_poll_records)
