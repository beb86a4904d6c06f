"""Envelope round trip through Kafka-shaped bytes + headers, carrying W3C trace context."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lineup.kafka.envelope import SCHEMA_VERSION, EnvelopeError, decode, encode, new_envelope
from lineup.telemetry import setup_telemetry
from lineup.v1 import common_pb2, events_pb2


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    setup_telemetry("unit-tests", span_processors=[SimpleSpanProcessor(exporter)])
    return exporter


def _task() -> events_pb2.ImageAccepted:
    return events_pb2.ImageAccepted(task=events_pb2.PipelineTask(
        operation=events_pb2.PIPELINE_OPERATION_INDEX, collection_id="mugshots",
        image=common_pb2.ObjectRef(bucket="lineup-images", key="sheriff/images/ab/abcd"),
        image_sha256="abcd", max_faces=5, quality_filter=common_pb2.QUALITY_FILTER_AUTO))


def test_round_trip_preserves_payload_and_continues_the_trace(spans: InMemorySpanExporter) -> None:
    tracer = trace.get_tracer("test")
    actor = events_pb2.Actor(key_id="k1", holder="det. smith", agency_id="sheriff")
    with tracer.start_as_current_span("producer-side") as producer_span:
        env = new_envelope(_task(), request_id="req-1", agency_id="sheriff", producer="ingest", actor=actor)
        value, headers = encode(env)
    header_names = {k for k, _ in headers}
    assert {"traceparent", "event-id", "request-id", "schema-version", "content-type"} <= header_names

    decoded = decode(value, headers)
    assert decoded.envelope == env
    assert decoded.payload_kind == "image_accepted"
    assert decoded.envelope.image_accepted.task.collection_id == "mugshots"
    assert decoded.envelope.actor.holder == "det. smith"
    assert decoded.envelope.schema_version == SCHEMA_VERSION
    assert decoded.envelope.created_at.seconds > 0

    with tracer.start_as_current_span("consumer-side", context=decoded.context) as consumer_span:
        pass
    produced = producer_span.get_span_context()
    consumed = consumer_span.get_span_context()
    assert consumed.trace_id == produced.trace_id
    finished = {s.name: s for s in spans.get_finished_spans()}
    assert finished["consumer-side"].parent is not None
    assert finished["consumer-side"].parent.span_id == produced.span_id


def test_without_an_active_span_no_traceparent_is_invented(spans: InMemorySpanExporter) -> None:
    env = new_envelope(_task(), request_id="r", agency_id="a1", producer="t")
    value, headers = encode(env)
    assert "traceparent" not in {k for k, _ in headers}
    decoded = decode(value, headers)
    assert not trace.get_current_span(decoded.context).get_span_context().is_valid


@pytest.mark.parametrize("value", [b"", None, b"\xff\xff\xff\xff not protobuf"])
def test_corrupt_records_are_rejected_with_a_reason(value: bytes | None) -> None:
    with pytest.raises(EnvelopeError):
        decode(value, [])


def test_newer_schema_and_missing_payload_are_rejected() -> None:
    env = new_envelope(_task(), request_id="r", agency_id="a1", producer="t")
    env.schema_version = SCHEMA_VERSION + 1
    with pytest.raises(EnvelopeError, match="newer"):
        decode(env.SerializeToString(), [])
    bare = events_pb2.Envelope(event_id="e", schema_version=SCHEMA_VERSION)
    with pytest.raises(EnvelopeError, match="no payload"):
        decode(bare.SerializeToString(), [])


def test_only_payload_messages_can_be_wrapped() -> None:
    with pytest.raises(TypeError, match="not an Envelope payload"):
        new_envelope(common_pb2.ObjectRef(bucket="b"), request_id="r", agency_id="a1", producer="t")
