"""A consumer loop around Envelopes: continue the producer's trace, process, then commit.

Offsets are committed manually and only after the handler returned (its outputs are durable) or
the message was dead-lettered, so a crash at any point replays the message instead of losing it;
handlers make replays harmless with deterministic ids/upserts. `BatchEnvelopeConsumer` is the one loop:
it handles several records at once for stages dominated by a batched model call; `EnvelopeConsumer` is
the same loop with batches of one record; `ConcurrentEnvelopeConsumer` (lineup.kafka.concurrent) works on
several records at once in threads, so one slow record delays only itself.

Failure model (docs/pipeline.md, "When a message cannot be processed"). Anybody who can write to a topic
can write anything, so no record may stop a consumer:

- a record that is not a valid Envelope, that its handler refuses (a `LineupError` other than
  `Unavailable`), or that keeps failing with a transient or unexpected error after `max_attempts`, is
  dead-lettered (a bounded copy, see `lineup.kafka.deadletter`) and its offset committed;
- an exception anywhere in that path (the handler, building the dead letter, the failure hook) is caught
  and logged; a dead letter that cannot be published in full is published without the record's copy;
- the failure hook (which ends the waiting request) gets an error written for the caller: internal
  exception text and dependency addresses never reach it;
- only Kafka itself stops progress: while the dead letter, the poll or the commit cannot reach the broker,
  the loop retries with a backoff, commits nothing it has not settled, and never exits on its own.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import CommitFailedError
from kafka.structs import OffsetAndMetadata
from opentelemetry import trace

from lineup.errors import Internal, LineupError, Unavailable
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.envelope import Decoded, EnvelopeError, decode
from lineup.metrics import instruments
from lineup.untrusted import for_log

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.kafka")

Handler = Callable[[Decoded, ConsumerRecord], None]
#: called after a message was dead-lettered, e.g. to fail the waiting request with a clear status; the
#: error is the caller's version (no internal detail). An exception it raises is logged, never propagated.
FailureHook = Callable[[Decoded | None, LineupError], None]

_INVALID = int(grpc.StatusCode.INVALID_ARGUMENT.value[0])
_INTERNAL = int(grpc.StatusCode.INTERNAL.value[0])
#: characters of a handler's error message passed on to the waiting caller
MAX_CALLER_MESSAGE = 1000
#: longest wait between two attempts to reach an unreachable broker
MAX_BROKER_BACKOFF_S = 5.0


class KafkaClient(Protocol):
    """The part of kafka-python's `KafkaConsumer` the loops use (a fake in unit tests)."""

    def subscribe(self, topics: Sequence[str] = (), pattern: str | None = None, listener: Any = None) -> None: ...
    def poll(self, timeout_ms: int = 0, max_records: int | None = None, update_offsets: bool = True
             ) -> Mapping[TopicPartition, Sequence[ConsumerRecord]]: ...
    def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata] | None = None) -> Any: ...
    def assignment(self) -> set[TopicPartition]: ...
    def paused(self) -> set[TopicPartition]: ...
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...
    def close(self, autocommit: bool = True) -> None: ...


#: builds the Kafka client from KafkaConsumer's keyword arguments (topics are subscribed separately)
ConsumerFactory = Callable[..., KafkaClient]


class Abandoned(BaseException):
    """The loop is stopping while a record is not settled (Kafka unreachable, or a transient error still
    being retried): leave it uncommitted so it is redelivered. A BaseException so no handler's
    `except Exception` swallows it."""


def caller_error(error: BaseException, service: str) -> LineupError:
    """What the waiting caller is told about a dead-lettered request.

    Domain errors (`InvalidArgument`, `NotFound`, ...) are written for the caller and pass, bounded.
    An outage's message names hosts and buckets and an unexpected exception's text is a library's
    (e.g. PIL's "DecompressionBombError: Image size ..."): the caller gets a plain statement instead;
    the detail is in the dead letter and the service log."""
    if isinstance(error, Unavailable):
        return Unavailable(f"the {service} stage could not reach a backend it needs (object store, model "
                           f"server, vector store or Kafka) to process this request; retry later")
    if isinstance(error, LineupError) and not isinstance(error, Internal):
        message = error.message if len(error.message) <= MAX_CALLER_MESSAGE else \
            error.message[:MAX_CALLER_MESSAGE] + "…"
        return type(error)(message)
    return Internal(f"the {service} stage failed unexpectedly on this request; it was set aside for the "
                    f"operators (dead-letter topic) and was not retried further")


def _reason(error: BaseException) -> str:
    """The dead letter's reason: the message of a LineupError, else the exception type and text."""
    return error.message if isinstance(error, LineupError) else f"{type(error).__name__}: {error}"


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
    together are processed together, waiting at most `linger_ms` after the first ones for more (never for a
    record that arrives alone). Offsets are committed once the whole batch is handled or dead-lettered,
    never before, so a crash replays the batch.
    Bad records fail alone: undecodable ones are dead-lettered before the handler sees them, and the
    handler reports errors per item; only transient errors are retried, and only for the items they hit.
    """

    def __init__(self, *, bootstrap: str, group_id: str, topics: list[str], handler: BatchHandler,
                 dead_letters: DeadLetterPublisher, on_failure: FailureHook | None = None,
                 client_id: str = "lineup", max_attempts: int = 3, retry_backoff_s: float = 0.5,
                 max_batch_records: int = 32, linger_ms: int = 20, poll_timeout_ms: int = 500,
                 max_poll_records: int = 0, consumer_factory: ConsumerFactory | None = None) -> None:
        if max_batch_records < 1 or linger_ms < 0 or max_attempts < 1:
            raise ValueError("max_batch_records and max_attempts must be >= 1, linger_ms >= 0")
        self.handler = handler
        self.group_id = group_id
        self.dead_letters = dead_letters
        self.on_failure = on_failure
        self.service = dead_letters.service
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.max_batch_records = max_batch_records
        self.linger_ms = linger_ms
        self.poll_timeout_ms = poll_timeout_ms
        self.topics = list(topics)
        self._stop = threading.Event()
        factory: ConsumerFactory = consumer_factory or KafkaConsumer
        self._consumer: KafkaClient = factory(
            bootstrap_servers=bootstrap, group_id=group_id, client_id=client_id,
            enable_auto_commit=False, auto_offset_reset="earliest",
            max_poll_records=max(max_poll_records, max_batch_records), max_poll_interval_ms=300_000,
        )
        self._consumer.subscribe(self.topics, listener=self._listener())

    def _listener(self) -> ConsumerRebalanceListener | None:
        return None

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
                try:
                    self._process_batch(records)
                except Abandoned:
                    log.warning("stopping with unsettled records; they will be redelivered",
                                extra={"records": len(records)})
                    break
                self._commit(_next_offsets(records))
        finally:
            self._close()

    def _close(self) -> None:
        try:
            self._consumer.close(autocommit=False)
        except Exception:
            log.exception("error while closing the Kafka consumer")

    # -- Kafka, with retries while the broker cannot be reached ------------------------------------------
    def _decode(self, record: ConsumerRecord) -> Decoded:
        """Decode (and unseal) a record; while the key store is unreachable, wait and retry instead of
        dead-lettering a good record. Stopping meanwhile leaves it uncommitted (`Abandoned`)."""
        attempt = 0
        while True:
            try:
                return decode(record.value, record.headers)
            except Unavailable as exc:
                attempt += 1
                if self._stop.is_set():
                    raise Abandoned() from exc
                log.warning("cannot open a record yet (key store unavailable); retrying",
                            extra={"attempt": attempt, "error": for_log(exc.detail or exc.message, 300)})
                self._backoff(attempt)

    def _backoff(self, attempt: int) -> None:
        self._stop.wait(min(self.retry_backoff_s * attempt, MAX_BROKER_BACKOFF_S))

    def _poll(self, timeout_ms: int, max_records: int) -> list[ConsumerRecord]:
        """One poll; an error (broker unreachable, group trouble) is logged and yields no records, so the
        loop keeps trying instead of ending and taking the service's pipeline half with it."""
        try:
            polled = self._consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except Exception as exc:
            self._poll_failures = getattr(self, "_poll_failures", 0) + 1
            log.warning("Kafka poll failed; retrying", extra={"error": for_log(f"{type(exc).__name__}: {exc}", 300),
                                                              "attempt": self._poll_failures})
            self._backoff(self._poll_failures)
            return []
        self._poll_failures = 0
        self._note_lag(polled)
        return [r for rs in polled.values() for r in rs]

    def _note_lag(self, polled: Mapping[TopicPartition, Sequence[ConsumerRecord]]) -> None:
        """Records still behind each polled partition's last record (from the fetch's high watermark, which
        the client already holds: no extra round trip)."""
        highwater = getattr(self._consumer, "highwater", None)
        if highwater is None:
            return
        metrics = instruments()
        for tp, records in polled.items():
            try:  # a metric must never stop the loop (e.g. a partition revoked meanwhile)
                end = highwater(tp)
            except Exception:
                continue
            if records and end is not None:
                metrics.set_lag(self.group_id, tp.topic, tp.partition, int(end) - (records[-1].offset + 1))

    def _poll_batch(self) -> list[ConsumerRecord]:
        """Up to max_batch_records records: wait for the first, take whatever is already fetched, and linger
        for more only when records are arriving together. A lone record is handled at once: lingering would
        add `linger_ms` to every quiet-time request, while under load batches form by themselves (records
        pile up while the previous batch is in work)."""
        records = self._poll(self.poll_timeout_ms, self.max_batch_records)
        if not records or len(records) >= self.max_batch_records:
            return records
        records.extend(self._poll(0, self.max_batch_records - len(records)))
        if len(records) < 2:
            return records
        deadline = time.monotonic() + self.linger_ms / 1000
        while len(records) < self.max_batch_records and not self._stop.is_set():
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            records.extend(self._poll(left_ms, self.max_batch_records - len(records)))
        return records

    def _commit(self, offsets: Mapping[TopicPartition, int]) -> bool:
        """Commit `offsets` (next offset to read per partition), retrying while the broker is unreachable.

        Gives up (False) when the group rebalanced (the partitions' new owner replays the records: at least
        once) or when the loop is stopping (the records are replayed after the restart)."""
        if not offsets:
            return True
        attempt = 0
        while True:
            try:
                self._consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
                return True
            except CommitFailedError as exc:
                log.warning("commit refused after a rebalance; the records will be redelivered",
                            extra={"error": for_log(str(exc), 300)})
                return False
            except Exception as exc:
                attempt += 1
                if self._stop.is_set():
                    log.warning("stopping before the commit succeeded; the records will be redelivered",
                                extra={"error": for_log(f"{type(exc).__name__}: {exc}", 300)})
                    return False
                log.warning("commit failed; retrying", extra={
                    "error": for_log(f"{type(exc).__name__}: {exc}", 300), "attempt": attempt})
                self._backoff(attempt)

    # -- one batch ----------------------------------------------------------------------------------
    def _process_batch(self, records: Sequence[ConsumerRecord]) -> None:
        """Settle every record: handled, or dead-lettered (and its request failed). Never raises, except
        `Abandoned` (stopping with unsettled records) and BaseExceptions a handler raises on purpose."""
        settled: set[int] = set()
        try:
            self._process(records, settled)
        except Exception as exc:  # a fault of this loop itself; the records must still be settled
            log.exception("consumer loop failed on a batch; dead-lettering its unsettled records")
            for record in records:
                if id(record) not in settled:
                    self._dead_letter(record, reason=f"consumer loop failed: {_reason(exc)}",
                                      error_code=_INTERNAL, attempts=1)

    def _process(self, records: Sequence[ConsumerRecord], settled: set[int]) -> None:
        items: list[BatchItem] = []
        for record in records:
            try:
                decoded = self._decode(record)
            except EnvelopeError as exc:
                self._dead_letter(record, reason=str(exc), error_code=_INVALID, attempts=1)
                settled.add(id(record))
                continue
            except Exception as exc:  # e.g. headers a hostile producer shaped to break trace extraction
                self._dead_letter(record, reason=f"record cannot be read: {_reason(exc)}", error_code=_INVALID,
                                  attempts=1)
                settled.add(id(record))
                continue
            env = decoded.envelope
            attrs = {"messaging.system": "kafka", "messaging.destination.name": record.topic,
                     "messaging.operation.type": "process", "messaging.kafka.offset": record.offset,
                     "messaging.kafka.destination.partition": record.partition,
                     "lineup.request_id": for_log(env.request_id), "lineup.payload": decoded.payload_kind}
            span = tracer.start_span(f"{record.topic} process", context=decoded.context,
                                     kind=trace.SpanKind.CONSUMER, attributes=attrs)
            items.append(BatchItem(decoded, record, span))
        if not items:
            return
        started = time.perf_counter()
        try:
            # The batch's own work (e.g. one Triton call for many messages) belongs to several traces:
            # it is parented on the first message's trace, so a lone message (the common case for a
            # search) gets one unbroken trace, and linked to every message's span.
            links = [trace.Link(i.span.get_span_context()) for i in items]
            with tracer.start_as_current_span("process batch", context=trace.set_span_in_context(items[0].span),
                                              links=links, attributes={
                    "messaging.system": "kafka", "messaging.batch.message_count": len(items)}):
                self._handle_with_retries(items, settled)
        finally:
            for item in items:
                item.span.end()
            attrs = {"lineup.service": self.service, "messaging.destination.name": items[0].record.topic}
            metrics = instruments()
            metrics.stage_duration.record(time.perf_counter() - started, attrs)
            metrics.batch_size.record(len(items), attrs)

    def _handle_with_retries(self, items: list[BatchItem], settled: set[int]) -> None:
        pending = items
        errors: dict[int, BaseException] = {}
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            retry: list[BatchItem] = []
            for item, outcome in zip(pending, self._call(pending), strict=True):
                if outcome is None:
                    settled.add(id(item.record))
                    continue
                if isinstance(outcome, Unavailable):
                    errors[id(item)] = outcome
                    retry.append(item)
                elif isinstance(outcome, LineupError):  # the message itself is bad: retrying cannot help
                    self._fail(item, outcome, attempt)
                    settled.add(id(item.record))
                else:  # unexpected: retry, then give up loudly
                    log.error("handler failed", exc_info=outcome, extra={
                        "attempt": attempt, "request_id": for_log(item.decoded.envelope.request_id)})
                    errors[id(item)] = outcome
                    retry.append(item)
            pending = retry
            if not pending:
                return
            if self._stop.is_set():
                raise Abandoned()  # a transient failure while stopping: replay after the restart
            if attempt < self.max_attempts:
                self._stop.wait(self.retry_backoff_s * attempt)
        for item in pending:
            self._fail(item, errors[id(item)], attempt)
            settled.add(id(item.record))

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
                        extra={"error": for_log(f"{type(exc).__name__}: {exc}", 300), "items": len(items)})
            return [self._call([item])[0] for item in items]
        if len(outcomes) != len(items):
            bug = Internal(f"batch handler returned {len(outcomes)} outcomes for {len(items)} items")
            return [bug] * len(items)
        return outcomes

    def _fail(self, item: BatchItem, error: BaseException, attempts: int) -> None:
        """Dead-letter the item, then tell the waiting caller (the hook's failure is only logged)."""
        env = item.decoded.envelope
        code = error.code_value if isinstance(error, LineupError) else _INTERNAL
        with item.activate():
            item.span.set_status(trace.Status(trace.StatusCode.ERROR, for_log(_reason(error), 300)))
            self._dead_letter(item.record, reason=_reason(error), error_code=code, attempts=attempts,
                              request_id=env.request_id, agency_id=env.agency_id)
            if self.on_failure is not None:
                try:
                    self.on_failure(item.decoded, caller_error(error, self.service))
                except Exception as exc:
                    log.error("failure hook failed; the request's caller will time out instead", extra={
                        "request_id": for_log(env.request_id),
                        "error": for_log(f"{type(exc).__name__}: {exc}", 300)})

    def _dead_letter(self, record: ConsumerRecord, *, reason: str, error_code: int, attempts: int,
                     request_id: str = "", agency_id: str = "") -> None:
        """Publish the record's dead letter, whatever it takes short of losing it.

        The full letter first; if that fails for any reason, a minimal one (where the record is and why),
        which cannot fail because of the record's content; that one is retried until the broker takes
        it. Stopping meanwhile raises `Abandoned`, so the record stays uncommitted and is redelivered."""
        instruments().dead_letters.add(1, {"lineup.service": self.service, "messaging.destination.name": record.topic})
        try:
            self.dead_letters.publish(record, reason=reason, error_code=error_code, attempts=attempts,
                                      request_id=request_id, agency_id=agency_id)
            return
        except Exception as exc:
            log.warning("dead letter not published; publishing it without the record's copy", extra={
                "error": for_log(f"{type(exc).__name__}: {exc}", 300), "topic": record.topic,
                "partition": record.partition, "offset": record.offset})
        attempt = 0
        while True:
            try:
                self.dead_letters.publish(record, reason=reason, error_code=error_code, attempts=attempts,
                                          request_id=request_id, agency_id=agency_id, minimal=True)
                return
            except Exception as exc:
                attempt += 1
                if self._stop.is_set():
                    raise Abandoned() from exc
                log.error("dead-letter topic unreachable; retrying", extra={
                    "error": for_log(f"{type(exc).__name__}: {exc}", 300), "attempt": attempt,
                    "topic": record.topic, "partition": record.partition, "offset": record.offset})
                self._backoff(attempt)


def _next_offsets(records: Sequence[ConsumerRecord]) -> dict[TopicPartition, int]:
    offsets: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        offsets[tp] = max(offsets.get(tp, 0), r.offset + 1)
    return offsets


def one_at_a_time(handler: Handler) -> BatchHandler:
    def one(items: Sequence[BatchItem]) -> list[Exception | None]:
        (item,) = items
        with item.activate():
            handler(item.decoded, item.record)
        return [None]

    return one


class EnvelopeConsumer(BatchEnvelopeConsumer):
    """One record at a time, committed after each: for stages with no batched model call.

    A batch of one, so decoding, tracing, retries and dead-lettering are the batch consumer's. The
    handler runs inside the record's CONSUMER span, which continues the producer's trace; `max_poll_records`
    only sizes Kafka's fetch buffer.
    """

    def __init__(self, *, bootstrap: str, group_id: str, topics: list[str], handler: Handler,
                 dead_letters: DeadLetterPublisher, on_failure: FailureHook | None = None,
                 client_id: str = "lineup", max_attempts: int = 3, retry_backoff_s: float = 0.5,
                 max_poll_records: int = 32, poll_timeout_ms: int = 500,
                 consumer_factory: ConsumerFactory | None = None) -> None:
        super().__init__(bootstrap=bootstrap, group_id=group_id, topics=topics, handler=one_at_a_time(handler),
                         dead_letters=dead_letters, on_failure=on_failure, client_id=client_id,
                         max_attempts=max_attempts, retry_backoff_s=retry_backoff_s, max_batch_records=1,
                         linger_ms=0, poll_timeout_ms=poll_timeout_ms, max_poll_records=max_poll_records,
                         consumer_factory=consumer_factory)
