"""How integration tests wait for asynchronous results: poll until the exact state the test asserts, or a
generous deadline, then assert.

Why this shape: a wait that stops as soon as *something* arrived lets the assertion race the system, and
on a loaded 2-core machine it loses now and then (issue 17: audit records counted when 2 of 4 had
arrived). So a wait's condition is the assertion's own condition, the deadline is long (it only costs time
when the test fails anyway), and the caller asserts on the last observed value, so a timeout fails with
the assertion's message and the state that was actually seen, not with a bare "timed out".

Kafka helpers answer "has everything published so far been handled?" from committed offsets, because a
consumer's output is durable before it commits: a stage whose group has committed to the end of its input
topic has published everything it will ever publish for that input.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

T = TypeVar("T")

#: Long enough for a cold service or a consumer-group rebalance on a shared, loaded 2-core machine.
PATIENT_S = 180.0

#: The pipeline's stages in order: (consumer group suffix, its input topic).
PIPELINE_STAGES: tuple[tuple[str, str], ...] = (
    ("detection", "lineup.images"),
    ("embedding", "lineup.faces.detected"),
    ("search", "lineup.faces.embedded"),
)


def wait_until(probe: Callable[[], T], done: Callable[[T], bool] = bool, *, timeout_s: float = PATIENT_S,
               interval_s: float = 0.5) -> T:
    """Call `probe` until `done(value)` holds or `timeout_s` passed; return the last value.

    The caller asserts on the returned value (with the same condition as `done`), so a slow machine only
    makes the test wait longer, and a real failure reports what was last seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if done(value) or time.monotonic() >= deadline:
            return value
        time.sleep(interval_s)


def committed_and_end(bootstrap: str, group: str, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """({partition: committed offset}, {partition: end offset}) of `group` on `topic`; never committed is 0.

    A throwaway consumer that never subscribes, so asking does not disturb the group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = consumer.end_offsets(tps)
        return ({tp.partition: consumer.committed(tp) or 0 for tp in tps},
                {tp.partition: ends[tp] for tp in tps})
    finally:
        consumer.close()


def group_caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether `group` has committed every record now on `topic` (and the topic has partitions at all)."""
    committed, ends = committed_and_end(bootstrap, group, topic)
    return bool(ends) and committed == ends


def pipeline_idle(bootstrap: str, prefix: str, stages: Iterable[tuple[str, str]] = PIPELINE_STAGES) -> bool:
    """Whether every stage of the pipeline on `prefix` has handled everything published to it so far.

    Checked in pipeline order, so each stage's end offsets are read after the stage before it was seen
    caught up: whatever that stage published is then included. Valid once nothing new enters the pipeline."""
    return all(group_caught_up(bootstrap, prefix + group, prefix + topic) for group, topic in stages)


def read_to_end(bootstrap: str, topic: str, timeout_s: float = PATIENT_S) -> list[ConsumerRecord]:
    """Every record on `topic` from the beginning at least up to its end offsets at the time of the call.

    For "nothing else was published" and "exactly N were published" checks: reading only until the
    expected record arrived would make them pass vacuously."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        assert tps, f"topic {topic} has no partitions"
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            assert time.monotonic() < deadline, f"{topic}: could not read to its end within {timeout_s:.0f}s"
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()
