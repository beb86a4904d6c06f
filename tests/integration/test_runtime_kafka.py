"""The shared Kafka helpers on the real broker: envelopes, trace continuation, manual commits after
processing, retries of transient failures and the dead-letter topic."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord
from opentelemetry import trace

from lineup.errors import InvalidArgument, Unavailable
from lineup.kafka.consumer import EnvelopeConsumer
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.envelope import Decoded, decode, new_envelope
from lineup.kafka.producer import EnvelopeProducer
from lineup.telemetry import setup_telemetry
from lineup.v1 import events_pb2
from tests.integration.waiting import committed_and_end, read_to_end, wait_until

pytestmark = pytest.mark.integration


@pytest.fixture()
def topics(kafka_bootstrap: str) -> Iterator[tuple[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    work, dead = f"test.work.{suffix}", f"test.dead.{suffix}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000)
    admin.create_topics([NewTopic(work, 1, 1), NewTopic(dead, 1, 1)])
    try:
        yield work, dead
    finally:
        admin.delete_topics([work, dead])
        admin.close()


def _payload(label: str) -> events_pb2.ImageAccepted:
    return events_pb2.ImageAccepted(task=events_pb2.PipelineTask(collection_id=label))


def test_consumer_processes_retries_dead_letters_and_commits(kafka_bootstrap: str, topics: tuple[str, str]) -> None:
    setup_telemetry("integration-tests")
    work, dead = topics
    producer = EnvelopeProducer(kafka_bootstrap, client_id="test-producer")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request") as request_span:
        producer.send(work, new_envelope(_payload("ok"), request_id="r-ok", agency_id="a1", producer="test"))
        producer.send(work, new_envelope(_payload("flaky"), request_id="r-flaky", agency_id="a1", producer="test"))
        producer.send(work, new_envelope(_payload("bad"), request_id="r-bad", agency_id="a1", producer="test"))
    raw = KafkaProducer(bootstrap_servers=kafka_bootstrap)
    raw.send(work, value=b"\x00not an envelope").get(timeout=10)
    raw.close()

    handled: list[tuple[str, int]] = []  # (collection label, trace id seen by the handler)
    failures: list[str] = []
    flaky_calls = 0

    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        nonlocal flaky_calls
        label = decoded.envelope.image_accepted.task.collection_id
        if label == "flaky":
            flaky_calls += 1
            if flaky_calls == 1:
                raise Unavailable("milvus briefly down")
        if label == "bad":
            raise InvalidArgument("image is corrupt: cannot decode JPEG")
        handled.append((label, trace.get_current_span().get_span_context().trace_id))

    consumer = EnvelopeConsumer(
        bootstrap=kafka_bootstrap, group_id=f"g-{uuid.uuid4().hex[:6]}", topics=[work], handler=handler,
        dead_letters=DeadLetterPublisher(producer, topic=dead, service="test"), retry_backoff_s=0.05,
        on_failure=lambda d, e: failures.append(f"{d.envelope.request_id if d else '-'}:{e.code.name}"))
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()

    # done when every record is committed (each only after it was handled or dead-lettered); then the dead
    # letters are read to the topic's end, so a surplus letter would be counted too
    group = consumer_group(consumer)
    wait_until(lambda: committed_and_end(kafka_bootstrap, group, work)[0], lambda got: got == {0: 4})
    letters = [decode(r.value, r.headers).envelope.dead_letter for r in read_to_end(kafka_bootstrap, dead)]
    consumer.stop()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the consumer loop did not stop"

    assert [label for label, _ in handled] == ["ok", "flaky"]
    assert flaky_calls == 2  # retried once after the transient error, then processed
    assert all(trace_id == request_span.get_span_context().trace_id for _, trace_id in handled)
    reasons = sorted(letter.reason for letter in letters)
    assert len(letters) == 2, reasons
    assert reasons[0] == "image is corrupt: cannot decode JPEG"
    assert reasons[1].startswith("not a lineup.v1.Envelope")
    assert {letter.source_topic for letter in letters} == {work}
    assert sorted(letter.source_offset for letter in letters) == [2, 3]
    assert failures == ["r-bad:INVALID_ARGUMENT"]

    # every record was committed only after it was handled or dead-lettered
    check = KafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
    assert check.committed(TopicPartition(work, 0)) == 4
    check.close()
    producer.close()


def consumer_group(consumer: EnvelopeConsumer) -> str:
    return str(consumer._consumer.config["group_id"])
