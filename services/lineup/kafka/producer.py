"""Publishing Envelopes durably (acks=all, idempotent) with a PRODUCER span per send."""

from __future__ import annotations

import logging

from kafka import KafkaProducer
from kafka.errors import KafkaError
from opentelemetry import trace

from lineup.errors import Unavailable
from lineup.kafka.envelope import encode
from lineup.v1 import events_pb2

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.kafka")


class EnvelopeProducer:
    def __init__(self, bootstrap: str, *, client_id: str, send_timeout_s: float = 30.0) -> None:
        self.send_timeout_s = send_timeout_s
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_request_size=8 * 1024 * 1024,
            request_timeout_ms=int(send_timeout_s * 1000),
        )

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
                future = self._producer.send(topic, value=value, key=(key or env.request_id).encode(),
                                             headers=headers)
                future.get(timeout=self.send_timeout_s)
            except KafkaError as exc:
                raise Unavailable(f"could not publish to Kafka topic {topic}: {exc}") from exc

    def flush(self, timeout_s: float = 10.0) -> None:
        self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float = 10.0) -> None:
        self._producer.close(timeout=timeout_s)
