"""A consumer loop around Envelopes: continue the producer's trace, process, then commit.

Offsets are committed manually and only after the handler returned (its outputs are durable) or
the message was dead-lettered, so a crash at any point replays the message instead of losing it;
handlers make replays harmless with deterministic ids/upserts.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

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


class EnvelopeConsumer:
    def __init__(self, *, bootstrap: str, group_id: str, topics: list[str], handler: Handler,
                 dead_letters: DeadLetterPublisher, on_failure: FailureHook | None = None,
                 client_id: str = "lineup", max_attempts: int = 3, retry_backoff_s: float = 0.5,
                 max_poll_records: int = 32, poll_timeout_ms: int = 500) -> None:
        self.handler = handler
        self.dead_letters = dead_letters
        self.on_failure = on_failure
        self.max_attempts = max_attempts
        self.retry_backoff_s = retry_backoff_s
        self.poll_timeout_ms = poll_timeout_ms
        self._stop = threading.Event()
        self._consumer = KafkaConsumer(
            *topics, bootstrap_servers=bootstrap, group_id=group_id, client_id=client_id,
            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=max_poll_records,
            max_poll_interval_ms=300_000,
        )

    # -- lifecycle --------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the record in hand, commit and leave the group."""
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                batches = self._consumer.poll(timeout_ms=self.poll_timeout_ms)
                for tp, records in batches.items():
                    for record in records:
                        if self._stop.is_set():
                            break
                        self._process(record)
                        self._commit(tp, record.offset + 1)
                    if self._stop.is_set():
                        break
        finally:
            self._consumer.close(autocommit=False)

    def _commit(self, tp: TopicPartition, next_offset: int) -> None:
        self._consumer.commit({tp: OffsetAndMetadata(next_offset, "", -1)})

    # -- one record ---------------------------------------------------------------------------------
    def _process(self, record: ConsumerRecord) -> None:
        try:
            decoded = decode(record.value, record.headers)
        except EnvelopeError as exc:
            self.dead_letters.publish(record, reason=str(exc), error_code=_INVALID, attempts=1)
            return
        env = decoded.envelope
        attrs = {"messaging.system": "kafka", "messaging.destination.name": record.topic,
                 "messaging.operation.type": "process", "messaging.kafka.offset": record.offset,
                 "messaging.kafka.destination.partition": record.partition,
                 "lineup.request_id": env.request_id, "lineup.payload": decoded.payload_kind}
        with tracer.start_as_current_span(f"{record.topic} process", context=decoded.context,
                                          kind=trace.SpanKind.CONSUMER, attributes=attrs) as span:
            error: LineupError | None = None
            for attempt in range(1, self.max_attempts + 1):
                try:
                    self.handler(decoded, record)
                    return
                except Unavailable as exc:  # transient: a dependency is down; back off and retry
                    error = exc
                except LineupError as exc:  # the message itself is bad: retrying cannot help
                    error = exc
                    break
                except Exception as exc:  # unexpected: retry, then give up loudly
                    log.exception("handler failed", extra={"attempt": attempt, "request_id": env.request_id})
                    error = LineupError(f"{type(exc).__name__}: {exc}")
                if attempt < self.max_attempts and not self._stop.is_set():
                    time.sleep(self.retry_backoff_s * attempt)
            assert error is not None
            span.set_status(trace.Status(trace.StatusCode.ERROR, error.message))
            self.dead_letters.publish(record, reason=error.message, error_code=error.code_value or _INTERNAL,
                                      attempts=attempt, request_id=env.request_id, agency_id=env.agency_id)
            if self.on_failure is not None:
                self.on_failure(decoded, error)
