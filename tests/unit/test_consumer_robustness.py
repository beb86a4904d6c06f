"""The consumer loops against a fake Kafka client: no record can end them, and nothing is committed before
it is settled (handled, or dead-lettered)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from kafka.structs import OffsetAndMetadata

from lineup.errors import InvalidArgument, LineupError, Unavailable
from lineup.kafka.concurrent import ConcurrentEnvelopeConsumer
from lineup.kafka.consumer import BatchEnvelopeConsumer, BatchItem, EnvelopeConsumer, caller_error
from lineup.kafka.deadletter import MAX_ORIGINAL_BYTES, ORIGINAL_BYTES, TRUNCATED, DeadLetterPublisher
from lineup.kafka.envelope import Decoded, decode, encode, new_envelope
from lineup.pipeline import ResultPublisher, ResultStore
from lineup.v1 import events_pb2
from tests.fakes import MemoryStore

TOPIC = "t.lineup.images"


def _record(offset: int, value: bytes | None, partition: int = 0) -> ConsumerRecord:
    return ConsumerRecord(topic=TOPIC, partition=partition, leader_epoch=-1, offset=offset, timestamp=0,
                          timestamp_type=0, key=None, value=value, headers=[], checksum=None, serialized_key_size=0,
                          serialized_value_size=len(value or b""), serialized_header_size=0)


def _envelope(label: str, request_id: str = "r1", agency_id: str = "agency-a") -> bytes:
    env = new_envelope(events_pb2.ImageAccepted(task=events_pb2.PipelineTask(collection_id=label)),
                       request_id=request_id, agency_id=agency_id, producer="test")
    return encode(env)[0]


class FakeKafka:
    """Hands out the given records once, in polls of at most max_records; records commits; can fail polls
    and commits a number of times first."""

    def __init__(self, records: Sequence[ConsumerRecord], *, poll_failures: int = 0, commit_failures: int = 0,
                 **config: Any) -> None:
        self.config = config
        self.queue = list(records)
        self.poll_failures = poll_failures
        self.commit_failures = commit_failures
        self.commits: list[dict[TopicPartition, int]] = []
        self.paused_set: set[TopicPartition] = set()
        self.pauses = 0
        self.closed = False
        self.listener: Any = None
        self.lock = threading.Lock()

    def subscribe(self, topics: Sequence[str] = (), pattern: str | None = None, listener: Any = None) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int = 0, max_records: int | None = None, update_offsets: bool = True
             ) -> Mapping[TopicPartition, Sequence[ConsumerRecord]]:
        if self.poll_failures:
            self.poll_failures -= 1
            raise KafkaConnectionError("no broker (test)")
        out: dict[TopicPartition, list[ConsumerRecord]] = {}
        taken = 0
        for r in list(self.queue):
            if max_records is not None and taken >= max_records:
                break
            tp = TopicPartition(r.topic, r.partition)
            if tp in self.paused_set:
                continue
            self.queue.remove(r)
            out.setdefault(tp, []).append(r)
            taken += 1
        if not out:
            time.sleep(min(timeout_ms, 20) / 1000)
        return out

    def commit(self, offsets: Mapping[TopicPartition, OffsetAndMetadata] | None = None) -> None:
        if self.commit_failures:
            self.commit_failures -= 1
            raise KafkaTimeoutError("broker unreachable (test)")
        with self.lock:
            self.commits.append({tp: o.offset for tp, o in (offsets or {}).items()})

    def committed(self, tp: TopicPartition) -> int:
        return max((c[tp] for c in self.commits if tp in c), default=0)

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition(TOPIC, p) for p in range(2)}

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_set)

    def pause(self, *partitions: TopicPartition) -> None:
        self.pauses += 1
        self.paused_set |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        self.paused_set -= set(partitions)

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


class FakeProducer:
    """Records what is sent; `fail` decides per envelope whether the send raises."""

    def __init__(self, fail: Callable[[str, events_pb2.Envelope], bool] = lambda t, e: False) -> None:
        self.sent: list[tuple[str, events_pb2.Envelope]] = []
        self.fail = fail
        self.attempts = 0

    def send(self, topic: str, env: events_pb2.Envelope, *, key: str | None = None) -> None:
        self.attempts += 1
        if self.fail(topic, env):
            raise Unavailable("could not publish (test)")
        copy = events_pb2.Envelope()
        copy.CopyFrom(env)
        self.sent.append((topic, copy))

    def letters(self) -> list[events_pb2.DeadLetter]:
        return [env.dead_letter for topic, env in self.sent if topic == "dlq"]


def _run_until(consumer: BatchEnvelopeConsumer, done: Callable[[], bool], timeout_s: float = 20) -> None:
    """Run the loop in a thread until `done()` holds (or the deadline), then stop it; the loop must not
    have ended on its own before."""
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        assert thread.is_alive(), "the consumer loop ended on its own"
        time.sleep(0.01)
    assert thread.is_alive(), "the consumer loop ended on its own"
    consumer.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert done()


def _consumer(records: Sequence[ConsumerRecord], handler: Callable[[Decoded, ConsumerRecord], None],
              producer: FakeProducer, *, on_failure: Any = None, kafka: dict[str, Any] | None = None,
              cls: type[EnvelopeConsumer] | type[ConcurrentEnvelopeConsumer] = EnvelopeConsumer,
              **kw: Any) -> tuple[BatchEnvelopeConsumer, FakeKafka]:
    fakes: list[FakeKafka] = []

    def factory(**config: Any) -> FakeKafka:
        fakes.append(FakeKafka(records, **(kafka or {}), **config))
        return fakes[0]

    consumer = cls(bootstrap="x", group_id="g", topics=[TOPIC], handler=handler,
                   dead_letters=DeadLetterPublisher(producer, topic="dlq", service="detection"),  # type: ignore[arg-type]
                   on_failure=on_failure, retry_backoff_s=0.01, consumer_factory=factory, **kw)
    return consumer, fakes[0]


TP0 = TopicPartition(TOPIC, 0)


def test_transient_errors_are_retried_then_the_record_is_handled_and_committed() -> None:
    calls: list[str] = []

    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        calls.append(decoded.envelope.image_accepted.task.collection_id)
        if len(calls) < 3:
            raise Unavailable("milvus down (test)")

    producer = FakeProducer()
    consumer, kafka = _consumer([_record(0, _envelope("a"))], handler, producer, max_attempts=3)
    _run_until(consumer, lambda: kafka.committed(TP0) == 1)
    assert calls == ["a", "a", "a"] and producer.letters() == []


def test_bad_records_are_dead_lettered_and_committed_and_the_loop_goes_on() -> None:
    failures: list[tuple[str, str, str]] = []
    handled: list[str] = []

    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        label = decoded.envelope.image_accepted.task.collection_id
        if label == "bad":
            raise InvalidArgument("image is corrupt")
        if label == "bug":
            raise RuntimeError("DecompressionBombError: Image size (225000000 pixels) exceeds limit")
        handled.append(label)

    records = [_record(0, b""), _record(1, None), _record(2, b"\xff\x00garbage"), _record(3, _envelope("bad")),
               _record(4, _envelope("bug")), _record(5, b"\x00" * 900_000), _record(6, _envelope("ok"))]
    producer = FakeProducer()

    def hook(d: Decoded | None, e: LineupError) -> None:
        failures.append((d.envelope.request_id if d else "", e.code.name, e.message))

    consumer, kafka = _consumer(records, handler, producer, on_failure=hook)
    _run_until(consumer, lambda: kafka.committed(TP0) == 7)
    letters = producer.letters()
    assert sorted(letter.source_offset for letter in letters) == [0, 1, 2, 3, 4, 5]
    assert handled == ["ok"]
    # the caller hears the domain error as it is, but never a library's exception text
    assert failures[0] == ("r1", "INVALID_ARGUMENT", "image is corrupt")
    assert failures[1][1] == "INTERNAL" and "Decompression" not in failures[1][2]
    bug = next(letter for letter in letters if letter.source_offset == 4)
    assert "DecompressionBombError" in bug.reason and bug.attempts == 3  # the operator sees the detail
    huge = next(letter for letter in letters if letter.source_offset == 5)
    assert len(huge.original_value) == MAX_ORIGINAL_BYTES
    assert huge.original_headers[ORIGINAL_BYTES] == "900000" and huge.original_headers[TRUNCATED] == "true"
    # commits only ever move forward, and only past settled records
    committed = [c[TP0] for c in kafka.commits]
    assert committed == sorted(committed)


def test_a_failure_hook_that_raises_is_logged_and_the_record_still_committed() -> None:
    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        raise InvalidArgument("bad image")

    def hook(decoded: Decoded | None, error: LineupError) -> None:
        raise InvalidArgument("request id '..' cannot name a result")

    producer = FakeProducer()
    consumer, kafka = _consumer([_record(0, _envelope("x", request_id="..")), _record(1, _envelope("y"))],
                                handler, producer, on_failure=hook)
    _run_until(consumer, lambda: kafka.committed(TP0) == 2)
    assert [letter.source_offset for letter in producer.letters()] == [0, 1]


def test_the_real_failure_hook_refuses_a_hostile_request_id_without_raising() -> None:
    """The observed crash: x-request-id '..' made ResultPublisher.fail raise out of the loop."""
    store = MemoryStore()
    producer = FakeProducer()
    results = ResultPublisher(producer, ResultStore(store), service="detection", topic_prefix="t.")  # type: ignore[arg-type]

    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        raise InvalidArgument("bad image")

    ids = ["..", ".", "a/b", "x" * 10_000, "ok-id"]
    consumer, kafka = _consumer([_record(i, _envelope("x", request_id=rid)) for i, rid in enumerate(ids)], handler,
                                producer, on_failure=results.fail)
    _run_until(consumer, lambda: kafka.committed(TP0) == len(ids))
    assert len(producer.letters()) == len(ids)
    assert [key for _, key in store.objects] == ["agency-a/requests/ok-id"]  # only the valid id named a result
    assert [env.request_id for topic, env in producer.sent if topic == "t.lineup.results"] == ["ok-id"]


def test_a_dead_letter_that_cannot_be_published_falls_back_to_a_minimal_one() -> None:
    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        raise InvalidArgument("bad")

    # the full letter (with the record's copy) is refused, e.g. too large for the broker
    producer = FakeProducer(fail=lambda t, env: t == "dlq" and len(env.dead_letter.original_value) > 0)
    consumer, kafka = _consumer([_record(0, _envelope("x")), _record(1, _envelope("y"))], handler, producer)
    _run_until(consumer, lambda: kafka.committed(TP0) == 2)
    letters = producer.letters()
    assert [letter.source_offset for letter in letters] == [0, 1]
    assert all(letter.original_value == b"" and letter.reason == "bad" for letter in letters)


def test_while_the_dead_letter_topic_is_unreachable_nothing_is_committed_and_the_loop_keeps_trying() -> None:
    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        raise InvalidArgument("bad")

    down = threading.Event()
    down.set()
    producer = FakeProducer(fail=lambda t, env: down.is_set())
    consumer, kafka = _consumer([_record(0, _envelope("x"))], handler, producer)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while producer.attempts < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert thread.is_alive() and producer.attempts >= 5 and kafka.commits == []
    down.clear()  # the broker is back
    deadline = time.monotonic() + 10
    while kafka.committed(TP0) != 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    consumer.stop()
    thread.join(timeout=10)
    assert kafka.committed(TP0) == 1 and len(producer.letters()) == 1


def test_stopping_while_the_broker_is_down_commits_nothing() -> None:
    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        raise InvalidArgument("bad")

    producer = FakeProducer(fail=lambda t, env: True)
    consumer, kafka = _consumer([_record(0, _envelope("x"))], handler, producer)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while producer.attempts < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    consumer.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and kafka.commits == [] and kafka.closed


def test_poll_and_commit_errors_are_retried_not_fatal() -> None:
    handled: list[str] = []
    producer = FakeProducer()
    consumer, kafka = _consumer([_record(0, _envelope("a"))],
                                lambda d, r: handled.append(d.envelope.image_accepted.task.collection_id), producer,
                                kafka={"poll_failures": 3, "commit_failures": 2})
    _run_until(consumer, lambda: kafka.committed(TP0) == 1)
    assert handled == ["a"]


def test_a_batch_handler_that_raises_isolates_the_poison_item() -> None:
    seen: list[int] = []

    def handler(items: Sequence[BatchItem]) -> list[Exception | None]:
        if any(i.decoded.envelope.image_accepted.task.collection_id == "poison" for i in items):
            raise ZeroDivisionError("boom")
        seen.extend(i.record.offset for i in items)
        return [None] * len(items)

    fakes: list[FakeKafka] = []

    def factory(**config: Any) -> FakeKafka:
        fakes.append(FakeKafka([_record(0, _envelope("a")), _record(1, _envelope("poison")),
                                _record(2, _envelope("b"))], **config))
        return fakes[0]

    producer = FakeProducer()
    consumer = BatchEnvelopeConsumer(bootstrap="x", group_id="g", topics=[TOPIC], handler=handler,
                                     dead_letters=DeadLetterPublisher(producer, topic="dlq", service="embedding"),  # type: ignore[arg-type]
                                     retry_backoff_s=0.01, consumer_factory=factory, max_batch_records=8)
    _run_until(consumer, lambda: fakes[0].committed(TP0) == 3)
    assert sorted(seen) == [0, 2] and [letter.source_offset for letter in producer.letters()] == [1]


def test_concurrent_consumer_commits_in_order_although_records_complete_out_of_order() -> None:
    release = threading.Event()
    done: list[str] = []

    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        label = decoded.envelope.image_accepted.task.collection_id
        if label == "slow":
            release.wait(10)
        done.append(label)

    producer = FakeProducer()
    consumer, kafka = _consumer([_record(0, _envelope("slow")), _record(1, _envelope("fast1")),
                                 _record(2, _envelope("fast2"))], handler, producer,
                                cls=ConcurrentEnvelopeConsumer, concurrency=4)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(done) == ["fast1", "fast2"]  # the fast ones finished while the slow one is in work
    time.sleep(0.2)  # give the loop several rounds in which it could (wrongly) commit past the slow record
    assert kafka.committed(TP0) == 0
    release.set()
    deadline = time.monotonic() + 10
    while kafka.committed(TP0) != 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    consumer.stop()
    thread.join(timeout=10)
    assert kafka.committed(TP0) == 3 and done[-1] == "slow"


def test_concurrent_consumer_pauses_when_every_slot_is_taken() -> None:
    release = threading.Event()
    started: list[int] = []

    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        started.append(record.offset)
        release.wait(10)

    producer = FakeProducer()
    consumer, kafka = _consumer([_record(i, _envelope(f"r{i}")) for i in range(5)], handler, producer,
                                cls=ConcurrentEnvelopeConsumer, concurrency=2)
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while (len(started) < 2 or not kafka.pauses) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert len(started) == 2 and kafka.pauses and len(kafka.queue) == 3  # the rest waits in Kafka
    release.set()
    deadline = time.monotonic() + 10
    while kafka.committed(TP0) != 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    consumer.stop()
    thread.join(timeout=10)
    assert sorted(started) == [0, 1, 2, 3, 4] and kafka.committed(TP0) == 5


def test_concurrent_consumer_dead_letters_hostile_records_too() -> None:
    def handler(decoded: Decoded, record: ConsumerRecord) -> None:
        raise RuntimeError("unexpected")

    producer = FakeProducer()
    consumer, kafka = _consumer([_record(0, b"junk"), _record(1, _envelope("x", request_id="a/b"))], handler,
                                producer, cls=ConcurrentEnvelopeConsumer, concurrency=2)
    _run_until(consumer, lambda: kafka.committed(TP0) == 2)
    assert sorted(letter.source_offset for letter in producer.letters()) == [0, 1]


@pytest.mark.parametrize(("error", "code", "leaks"), [
    (Unavailable("object store 127.0.0.1:9000: cannot read lineup-images/a/b"), "UNAVAILABLE", "127.0.0.1"),
    (RuntimeError("DecompressionBombError: Image size (225000000 pixels)"), "INTERNAL", "Decompression"),
])
def test_caller_errors_hide_internal_detail(error: Exception, code: str, leaks: str) -> None:
    err = caller_error(error, "detection")
    assert err.code.name == code and leaks not in err.message


def test_dead_letter_envelopes_never_carry_invalid_ids() -> None:
    producer = FakeProducer()
    DeadLetterPublisher(producer, topic="dlq", service="s").publish(  # type: ignore[arg-type]
        _record(0, b"x"), reason="r" * 10_000, error_code=3, attempts=1, request_id="../x", agency_id="A/B")
    (_, env), = producer.sent
    assert env.request_id == "" and env.agency_id == "" and len(env.dead_letter.reason) <= 2001
    assert decode(*encode(env)).envelope.dead_letter.source_offset == 0


class _RecordingKafka(FakeKafka):
    """Also records the timeout of every poll, to see whether the consumer lingered."""

    def __init__(self, records: Sequence[ConsumerRecord], **config: Any) -> None:
        super().__init__(records, **config)
        self.timeouts: list[int] = []

    def poll(self, timeout_ms: int = 0, max_records: int | None = None, update_offsets: bool = True
             ) -> Mapping[TopicPartition, Sequence[ConsumerRecord]]:
        self.timeouts.append(timeout_ms)
        return super().poll(timeout_ms, max_records, update_offsets)


def _batch_consumer(records: list[ConsumerRecord], batches: list[int]) -> tuple[BatchEnvelopeConsumer, FakeKafka]:
    fakes: list[_RecordingKafka] = []

    def factory(**config: Any) -> _RecordingKafka:
        fakes.append(_RecordingKafka(records, **config))
        return fakes[0]

    def handler(items: Sequence[BatchItem]) -> list[Exception | None]:
        batches.append(len(items))
        return [None] * len(items)

    consumer = BatchEnvelopeConsumer(bootstrap="x", group_id="g", topics=[TOPIC], handler=handler,
                                     dead_letters=DeadLetterPublisher(FakeProducer(), topic="dlq", service="embedding"),  # type: ignore[arg-type]
                                     retry_backoff_s=0.01, consumer_factory=factory, max_batch_records=8,
                                     linger_ms=5000, poll_timeout_ms=100)
    return consumer, fakes[0]


def test_a_lone_record_is_handled_at_once_without_the_batch_linger() -> None:
    batches: list[int] = []
    consumer, kafka = _batch_consumer([_record(0, _envelope("alone"))], batches)
    _run_until(consumer, lambda: kafka.committed(TP0) == 1)
    # the first poll waits for a record, the second takes what is already fetched (timeout 0); no poll ever
    # waited for the 5 s linger
    assert batches == [1]
    assert isinstance(kafka, _RecordingKafka) and kafka.timeouts[:2] == [100, 0] and set(kafka.timeouts) <= {100, 0}


def test_records_that_arrive_together_are_handled_as_one_batch() -> None:
    batches: list[int] = []
    consumer, kafka = _batch_consumer([_record(i, _envelope(f"r{i}")) for i in range(8)], batches)
    _run_until(consumer, lambda: kafka.committed(TP0) == 8)
    assert batches == [8]
