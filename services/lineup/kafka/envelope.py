"""Building, encoding and decoding Envelopes, with trace context in the record headers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError, Message
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry.context import Context

from lineup.kafka.sealing import SealError, installed_sealer
from lineup.telemetry import KafkaHeaders, extract_context, inject_headers
from lineup.v1 import events_pb2

#: bumped on incompatible payload changes; consumers reject newer majors to the dead-letter topic
SCHEMA_VERSION = 1
CONTENT_TYPE = b"application/x-protobuf; messageType=lineup.v1.Envelope"


class EnvelopeError(ValueError):
    """A record that is not a valid Envelope (corrupt bytes, unknown schema, empty payload)."""


def new_envelope(payload: Message, *, request_id: str, agency_id: str, producer: str,
                 actor: events_pb2.Actor | None = None) -> events_pb2.Envelope:
    """Wrap a payload message; the oneof field is chosen from the payload's type."""
    env = events_pb2.Envelope(event_id=uuid.uuid4().hex, request_id=request_id, agency_id=agency_id,
                              schema_version=SCHEMA_VERSION, producer=producer)
    if actor is not None:
        env.actor.CopyFrom(actor)
    ts = Timestamp()
    ts.GetCurrentTime()
    env.created_at.CopyFrom(ts)
    field = _PAYLOAD_FIELD.get(payload.DESCRIPTOR.full_name)
    if field is None:
        raise TypeError(f"{payload.DESCRIPTOR.full_name} is not an Envelope payload")
    getattr(env, field).CopyFrom(payload)
    return env


_PAYLOAD_FIELD = {
    f.message_type.full_name: f.name
    for f in events_pb2.Envelope.DESCRIPTOR.oneofs_by_name["payload"].fields
}


def encode(env: events_pb2.Envelope, context: Context | None = None) -> tuple[bytes, KafkaHeaders]:
    """The record value and headers; a pipeline payload is sealed with its request's data key when the
    process has a sealer installed (every service does, see lineup.kafka.sealing)."""
    sealer = installed_sealer()
    if sealer is not None and sealer.needs_sealing(env):
        env = sealer.seal(env)
    headers: KafkaHeaders = [
        ("content-type", CONTENT_TYPE),
        ("event-id", env.event_id.encode()),
        ("request-id", env.request_id.encode()),
        ("schema-version", str(env.schema_version).encode()),
    ]
    return env.SerializeToString(), inject_headers(headers, context)


@dataclass(frozen=True)
class Decoded:
    envelope: events_pb2.Envelope
    context: Context  # the producer's trace context, to continue the trace

    @property
    def payload_kind(self) -> str:
        return self.envelope.WhichOneof("payload") or ""


def decode(value: bytes | None, headers: Sequence[tuple[str, bytes | None]] | None) -> Decoded:
    if not value:
        raise EnvelopeError("empty record value")
    env = events_pb2.Envelope()
    try:
        env.ParseFromString(value)
    except DecodeError as exc:
        raise EnvelopeError(f"not a lineup.v1.Envelope: {exc}") from None
    if env.schema_version > SCHEMA_VERSION:
        raise EnvelopeError(f"schema version {env.schema_version} is newer than this service understands "
                            f"({SCHEMA_VERSION}); upgrade the consumer")
    if not env.WhichOneof("payload"):
        raise EnvelopeError("envelope has no payload")
    if env.WhichOneof("payload") == "sealed":
        sealer = installed_sealer()
        if sealer is None:
            raise EnvelopeError("sealed payload, but this process has no sealer to open it")
        try:
            env = sealer.unseal(env)
        except SealError as exc:  # "erased" when the request's data key was deleted
            raise EnvelopeError(exc.message) from None
    return Decoded(envelope=env, context=extract_context(headers))
