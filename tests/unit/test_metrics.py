"""The service metrics (lineup.metrics) are recorded where the work happens, with bounded attributes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from kafka import TopicPartition
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from lineup.kafka.consumer import BatchEnvelopeConsumer, BatchItem
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.metrics import Instruments, use_instruments
from tests.unit.test_consumer_robustness import TOPIC, TP0, FakeKafka, FakeProducer, _envelope, _record, _run_until
from tests.unit.test_front_door import _decide, _fail, _md, front  # noqa: F401 - the fixture


@pytest.fixture()
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    use_instruments(Instruments(MeterProvider(metric_readers=[reader]).get_meter("test")))
    try:
        yield reader
    finally:
        use_instruments(None)


def _points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name == name
            for p in m.data.data_points]


class _LaggingKafka(FakeKafka):
    """Reports a high watermark 5 records beyond what is queued, as if more were still on the broker."""

    def highwater(self, tp: TopicPartition) -> int:
        return 10 + 5


def test_a_stage_records_duration_batch_size_dead_letters_and_lag(reader: InMemoryMetricReader) -> None:
    fakes: list[FakeKafka] = []

    def factory(**config: Any) -> FakeKafka:
        records = [_record(i, _envelope(f"r{i}")) for i in range(9)] + [_record(9, b"not an envelope")]
        fakes.append(_LaggingKafka(records, **config))
        return fakes[0]

    def handler(items: Sequence[BatchItem]) -> list[Exception | None]:
        return [None] * len(items)

    consumer = BatchEnvelopeConsumer(bootstrap="x", group_id="embedding", topics=[TOPIC], handler=handler,
                                     dead_letters=DeadLetterPublisher(FakeProducer(), topic="dlq",  # type: ignore[arg-type]
                                                                      service="embedding"),
                                     retry_backoff_s=0.01, consumer_factory=factory, max_batch_records=16)
    _run_until(consumer, lambda: fakes[0].committed(TP0) == 10)
    (letters,) = _points(reader, "lineup.kafka.dead_letters")
    assert letters.value == 1 and dict(letters.attributes) == {"lineup.service": "embedding",
                                                                "messaging.destination.name": TOPIC}
    (sizes,) = _points(reader, "lineup.stage.batch_size")
    assert sizes.sum == 9 and sizes.count == 1  # the unreadable record never reached the handler
    (duration,) = _points(reader, "lineup.stage.duration")
    assert duration.count == 1 and duration.sum > 0
    (lag,) = _points(reader, "lineup.kafka.consumer.lag")
    assert lag.value == 5 and lag.attributes["messaging.consumer.group.name"] == "embedding"


def test_rpc_duration_is_recorded_by_method_and_status_and_unknown_methods_share_one_name(
        reader: InMemoryMetricReader, front: dict[str, Any]) -> None:  # noqa: F811 - the fixture
    front["stub"].RecordDecision(_decide(), metadata=_md("alice"), timeout=5)
    _fail(lambda: front["stub"].RecordDecision(_decide("missing"), metadata=_md("alice"), timeout=5))
    for i in range(3):  # hostile method names must not become time series of their own
        unknown = front["channel"].unary_unary(f"/lineup.v1.Review/Drop{i}" + "A" * 300)
        _fail(lambda unknown=unknown: unknown(b"", metadata=_md("alice"), timeout=5))
    seen: Mapping[tuple[str, str], int] = {
        (p.attributes["rpc.method"], p.attributes["rpc.grpc.status_code"]): p.count
        for p in _points(reader, "lineup.rpc.server.duration")}
    assert seen == {("lineup.v1.Review/RecordDecision", "OK"): 1,
                    ("lineup.v1.Review/RecordDecision", "INVALID_ARGUMENT"): 1,
                    ("(unknown)", "UNIMPLEMENTED"): 3}
