"""The local Kafka broker: topics provisioned from the topology, and the delivery guarantees the services rely
on (headers survive, manual commits are what a restarted consumer resumes from)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from lineup.provision import ensure_topics
from lineup.topology import TOPICS
from tests.integration.waiting import PATIENT_S

pytestmark = pytest.mark.integration

TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture()
def admin(kafka_bootstrap: str) -> Iterator[KafkaAdminClient]:
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=10_000,
                              bootstrap_timeout_ms=10_000)
    yield client
    client.close()


@pytest.fixture()
def scratch_topic(admin: KafkaAdminClient) -> Iterator[str]:
    """A one-partition topic of its own, so the test never writes into the pipeline's real topics."""
    name = f"lineup.test.kafka.{uuid.uuid4().hex[:12]}"
    admin.create_topics({name: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    yield name
    admin.delete_topics([name])


def _consumer(bootstrap: str, topic: str, group: str) -> KafkaConsumer:
    return KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                         auto_offset_reset="earliest", request_timeout_ms=10_000, bootstrap_timeout_ms=10_000,
                         session_timeout_ms=10_000, heartbeat_interval_ms=1_000)


def _first_record(consumer: KafkaConsumer, timeout_s: float = PATIENT_S) -> Any:
    """The first record the group member is given (joining a group can take a while on a loaded machine)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500, max_records=1).values():
            if records:
                return records[0]
    raise AssertionError(f"no record within {timeout_s:.0f}s")


def test_topology_topics_exist_with_their_partitions(kafka_bootstrap: str, admin: KafkaAdminClient) -> None:
    prefix = os.environ.get("LINEUP_TOPIC_PREFIX", "")
    described = {t["name"]: t for t in admin.describe_topics([prefix + t.name for t in TOPICS])}
    for topic in TOPICS:
        info = described.get(prefix + topic.name)
        assert info is not None and info["error_code"] == 0, f"{prefix + topic.name} missing"
        assert len(info["partitions"]) >= topic.partitions, prefix + topic.name
    # provisioning again is a no-op
    assert set(ensure_topics(kafka_bootstrap, prefix).values()) == {"ok"}


def test_headers_round_trip_and_manual_commit_is_where_the_group_resumes(kafka_bootstrap: str,
                                                                         scratch_topic: str) -> None:
    group = f"lineup-test-{uuid.uuid4().hex[:12]}"
    payload = bytes(range(256)) * 4  # binary, including NUL bytes
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", request_timeout_ms=10_000,
                             bootstrap_timeout_ms=10_000)
    try:
        first = producer.send(scratch_topic, value=payload, key=b"agency-1",
                              headers=[("traceparent", TRACEPARENT)]).get(timeout=10)

        consumer = _consumer(kafka_bootstrap, scratch_topic, group)
        try:
            record = _first_record(consumer)
            assert record.offset == first.offset
            assert record.value == payload
            assert record.key == b"agency-1"
            assert dict(record.headers)["traceparent"] == TRACEPARENT
            consumer.commit()
            tp = TopicPartition(scratch_topic, 0)
            assert consumer.committed(tp) == first.offset + 1
        finally:
            consumer.close()

        second = producer.send(scratch_topic, value=b"second", headers=[("traceparent", TRACEPARENT)]
                               ).get(timeout=10)
    finally:
        producer.close()

    # a new member of the same group starts at the committed offset: the first record is not redelivered
    consumer = _consumer(kafka_bootstrap, scratch_topic, group)
    try:
        record = _first_record(consumer)
        assert (record.offset, record.value) == (second.offset, b"second")
        assert consumer.committed(TopicPartition(scratch_topic, 0)) == first.offset + 1
    finally:
        consumer.close()


def test_ensure_topics_creates_missing_and_grows_short_topics(kafka_bootstrap: str,
                                                             admin: KafkaAdminClient) -> None:
    prefix = f"lineup-test-{uuid.uuid4().hex[:8]}."
    names = [prefix + t.name for t in TOPICS]
    short = TOPICS[0]
    admin.create_topics({prefix + short.name: {"num_partitions": 1, "replication_factor": 1}},
                        wait_for_metadata=True)
    try:
        outcome = ensure_topics(kafka_bootstrap, prefix, timeout_s=120)
        assert outcome[prefix + short.name] == ("grown" if short.partitions > 1 else "ok")
        assert all(outcome[n] == "created" for n in names[1:])
        described = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(names)}
        assert described == {prefix + t.name: t.partitions for t in TOPICS}
    finally:
        admin.delete_topics(names)
