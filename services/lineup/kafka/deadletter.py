"""The dead-letter topic: where a message goes when it cannot be processed, with its reason.

Nothing is dropped silently. The original bytes and headers are kept so an operator can inspect
or replay the message after fixing the cause, but only up to fixed sizes: the record being dead-lettered
may be hostile, and a dead letter larger than the broker accepts would fail to publish (and, with an
idempotent producer, could poison it). A cut copy says so in `original_headers`
(`lineup-dlq-original-bytes`, `lineup-dlq-original-sha256`, `lineup-dlq-truncated`), so the full record can
still be found on its source topic by offset and recognised by its digest.
"""

from __future__ import annotations

import hashlib
import logging

from google.protobuf.timestamp_pb2 import Timestamp
from kafka.consumer.fetcher import ConsumerRecord

from lineup.kafka.envelope import new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import agency_key
from lineup.untrusted import REQUEST_ID_RE, for_log, truncate_bytes
from lineup.v1 import events_pb2

log = logging.getLogger(__name__)

#: bytes of the original record value kept in a dead letter (the broker's default limit is 1 MB a message)
MAX_ORIGINAL_BYTES = 256 * 1024
#: characters of the reason kept (reasons are written by Lineup, but may quote what the record contained)
MAX_REASON_CHARS = 2000
#: headers copied, and the characters kept of each header's name and value
MAX_HEADERS = 32
MAX_HEADER_NAME = 128
MAX_HEADER_VALUE = 1024
ORIGINAL_BYTES = "lineup-dlq-original-bytes"
ORIGINAL_SHA256 = "lineup-dlq-original-sha256"
TRUNCATED = "lineup-dlq-truncated"


def _safe_agency(agency_id: str) -> str:
    """The agency id when it is well-formed (it becomes the dead letter's envelope field), else ''."""
    try:
        agency_key(agency_id)
    except Exception:
        return ""
    return agency_id


class DeadLetterPublisher:
    def __init__(self, producer: EnvelopeProducer, *, topic: str, service: str) -> None:
        self.producer = producer
        self.topic = topic
        self.service = service

    def build(self, record: ConsumerRecord, *, reason: str, error_code: int, attempts: int,
              minimal: bool = False) -> events_pb2.DeadLetter:
        """The bounded dead letter of `record`. `minimal` keeps only where the record is and why it failed:
        the fallback when publishing the full letter failed, so a record whose copy cannot be published
        is still accounted for."""
        value = record.value if isinstance(record.value, bytes) else b""
        failed_at = Timestamp()
        failed_at.GetCurrentTime()
        cut = len(reason) > MAX_REASON_CHARS
        letter = events_pb2.DeadLetter(
            source_topic=str(record.topic)[:255], source_partition=int(record.partition),
            source_offset=int(record.offset), service=self.service,
            reason=reason[:MAX_REASON_CHARS] + ("…" if cut else ""), error_code=error_code, attempts=attempts,
            failed_at=failed_at)
        kept = b"" if minimal else truncate_bytes(value, MAX_ORIGINAL_BYTES)
        letter.original_value = kept
        if not minimal:
            for name, raw in list(record.headers or [])[:MAX_HEADERS]:
                text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else ""
                letter.original_headers[str(name)[:MAX_HEADER_NAME]] = text[:MAX_HEADER_VALUE]
        letter.original_headers[ORIGINAL_BYTES] = str(len(value))
        letter.original_headers[ORIGINAL_SHA256] = hashlib.sha256(value).hexdigest()
        if len(kept) < len(value):
            letter.original_headers[TRUNCATED] = "true"
        return letter

    def publish(self, record: ConsumerRecord, *, reason: str, error_code: int, attempts: int,
                request_id: str = "", agency_id: str = "", minimal: bool = False) -> events_pb2.DeadLetter:
        """Publish the dead letter and wait for the broker (raises `Unavailable` when it cannot)."""
        letter = self.build(record, reason=reason, error_code=error_code, attempts=attempts, minimal=minimal)
        # the ids come from the record: only well-formed ones travel on (they become the Kafka key)
        rid = request_id if REQUEST_ID_RE.fullmatch(request_id) else ""
        env = new_envelope(letter, request_id=rid, agency_id=_safe_agency(agency_id), producer=self.service)
        self.producer.send(self.topic, env, key=rid or f"{record.topic}-{record.partition}-{record.offset}")
        log.error("dead-lettered message", extra={
            "topic": record.topic, "partition": record.partition, "offset": record.offset,
            "reason": for_log(reason, 300), "error_code": error_code, "attempts": attempts,
            "request_id": for_log(request_id), "minimal": minimal})
        return letter
