"""Publishing Envelopes durably (acks=all, idempotent) with a PRODUCER span per send.

kafka-python's idempotent producer enters a fatal state after some errors (a record over the broker's size
limit, a sequence error after a broker failover) and then fails every later send. One bad call must not wedge
the service for every agency, so any failed send discards the client and the next send (or the readiness
probe) builds a fresh one; `ready()` tells the health service whether publishing works right now.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError
from opentelemetry import trace

from lineup.errors import Unavailable
from lineup.kafka.envelope import encode
from lineup.settings import CommonSettings
from lineup.v1 import events_pb2

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.kafka")

#: the largest record a producer sends (the brokers' message.max.bytes must allow it)
MAX_REQUEST_BYTES = 8 * 1024 * 1024


class EnvelopeProducer:
    def __init__(self, bootstrap: str, *, client_id: str, send_timeout_s: float = 30.0,
                 linger_ms: int = 0) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.send_timeout_s = send_timeout_s
        # 0 by default: every send is waited for (acks=all) before its caller goes on, so there is never a
        # second record to batch with, and a linger would only add its milliseconds to every hop
        self.linger_ms = linger_ms
        self._lock = threading.Lock()
        self._producer: Any = self._new()

    @classmethod
    def from_settings(cls, settings: CommonSettings, *, client_id: str = "") -> EnvelopeProducer:
        """The service's producer, named after the service unless `client_id` says otherwise."""
        return cls(settings.kafka_bootstrap, client_id=client_id or settings.service_name)

    def _new(self) -> KafkaProducer:
        return KafkaProducer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            max_request_size=MAX_REQUEST_BYTES,
            request_timeout_ms=int(self.send_timeout_s * 1000),
        )

    def _client(self) -> Any:
        with self._lock:
            if self._producer is None:
                self._producer = self._new()
            return self._producer

    def _discard(self, producer: Any) -> None:
        """Drop a client that failed a send; it may be in a fatal state that would fail every later send."""
        with self._lock:
            if self._producer is not producer:
                return  # another thread already replaced it
            self._producer = None
        threading.Thread(target=_close_quietly, args=(producer,), daemon=True, name="producer-close").start()

    def send(self, topic: str, env: events_pb2.Envelope, *, key: str | None = None) -> None:
        """Send and wait for the broker's acknowledgement: callers commit their own input offsets
        only after this returns, which is what makes the pipeline at-least-once."""
        with tracer.start_as_current_span(f"{topic} publish", kind=trace.SpanKind.PRODUCER, attributes={
            "messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.operation.type": "publish", "lineup.request_id": env.request_id,
            "lineup.payload": env.WhichOneof("payload") or "",
        }):
            value, headers = encode(env)
            try:
                producer = self._client()
            except KafkaError as exc:
                raise Unavailable("the message broker is unreachable; retry later",
                                  detail=f"cannot connect a producer to {self.bootstrap}: {exc!r}") from exc
            try:
                future = producer.send(topic, value=value, key=(key or env.request_id).encode(), headers=headers)
                future.get(timeout=self.send_timeout_s)
            except Exception as exc:  # KafkaError, or a timeout/assertion inside the client: never keep it
                self._discard(producer)
                raise Unavailable("the message broker did not accept the message; retry later",
                                  detail=f"publish to {topic} failed ({len(value)} bytes): {exc!r}") from exc

    def ready(self) -> bool:
        """Whether a publish can work now: a usable client exists, or one can be built (building one
        bootstraps against the cluster and fails while it is unreachable). The last failed send discarded
        its client, so this answers False from that failure until the cluster takes a new client again."""
        try:
            self._client()
        except Exception:
            log.warning("kafka producer not ready", exc_info=True)
            return False
        return True

    def flush(self, timeout_s: float = 10.0) -> None:
        producer = self._producer
        if producer is not None:
            producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is not None:
            producer.close(timeout=timeout_s)


def _close_quietly(producer: Any) -> None:
    try:
        producer.close(timeout=5)
    except Exception:
        log.debug("closing a discarded producer failed", exc_info=True)
