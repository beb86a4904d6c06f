"""The dead-letter topic: where a message goes when it cannot be processed, with its reason.

Nothing is dropped silently. The original bytes and headers are kept so an operator can inspect
or replay the message after fixing the cause.
"""

from __future__ import annotations

import logging

from google.protobuf.timestamp_pb2 import Timestamp
from kafka.consumer.fetcher import ConsumerRecord

from lineup.kafka.envelope import new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.v1 import events_pb2

log = logging.getLogger(__name__)


class DeadLetterPublisher:
    def __init__(self, producer: EnvelopeProducer, *, topic: str, service: str) -> None:
        self.producer = producer
        self.topic = topic
        self.service = service

    def publish(self, record: ConsumerRecord, *, reason: str, error_code: int, attempts: int,
                request_id: str = "", agency_id: str = "") -> events_pb2.DeadLetter:
        failed_at = Timestamp()
        failed_at.GetCurrentTime()
        letter = events_pb2.DeadLetter(
            source_topic=record.topic, source_partition=record.partition, source_offset=record.offset,
            original_value=record.value or b"", service=self.service, reason=reason, error_code=error_code,
            attempts=attempts, failed_at=failed_at,
            original_headers={k: (v or b"").decode("utf-8", "replace") for k, v in (record.headers or [])},
        )
        env = new_envelope(letter, request_id=request_id, agency_id=agency_id, producer=self.service)
        self.producer.send(self.topic, env)
        log.error("dead-lettered message", extra={
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "reason": reason, "error_code": error_code, "attempts": attempts, "request_id": request_id})
        return letter
