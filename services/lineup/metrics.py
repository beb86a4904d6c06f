"""Service metrics through the OpenTelemetry metrics API, so the next regression shows on a dashboard.

Traces say why one request was slow; these say that requests became slow, or that a stage fell behind:
RPC latency by method and status, stage duration and batch size, consumer lag, dead letters. They are
exported over OTLP with the traces when `LINEUP_OTLP_ENDPOINT` is set (lineup.telemetry); without it the
instruments are no-ops. Attribute values are bounded sets (method names come from the service's own
table, topics and services from topology), never client input, so a hostile caller cannot blow up the
number of time series.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

#: histogram buckets for latencies in seconds: 1 ms .. 60 s
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Instruments:
    """The process's instruments, made from one meter (tests pass a meter of their own provider)."""

    def __init__(self, meter: Meter) -> None:
        self.rpc_duration = meter.create_histogram(
            "lineup.rpc.server.duration", unit="s", explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
            description="gRPC server call duration, by method and status code")
        self.stage_duration = meter.create_histogram(
            "lineup.stage.duration", unit="s", explicit_bucket_boundaries_advisory=LATENCY_BUCKETS_S,
            description="time a pipeline stage spent on one batch of Kafka records, by topic and outcome")
        self.batch_size = meter.create_histogram(
            "lineup.stage.batch_size", unit="{record}",
            explicit_bucket_boundaries_advisory=(1, 2, 4, 8, 16, 32, 64, 128),
            description="Kafka records a stage handled together")
        self.upsert_messages = meter.create_histogram(
            "lineup.search.upsert.messages", unit="{message}",
            explicit_bucket_boundaries_advisory=(1, 2, 4, 8, 16, 32),
            description="enrolment messages whose faces one vector-store upsert wrote (group commit)")
        self.dead_letters = meter.create_counter(
            "lineup.kafka.dead_letters", unit="{record}", description="records sent to the dead-letter topic")
        self._lag: dict[tuple[str, str, int], int] = {}
        self._lock = threading.Lock()
        meter.create_observable_gauge("lineup.kafka.consumer.lag", callbacks=[self._observe_lag], unit="{record}",
                                      description="records on a partition not yet consumed by this process")

    def set_lag(self, group: str, topic: str, partition: int, lag: int) -> None:
        with self._lock:
            self._lag[(group, topic, partition)] = max(0, lag)

    def _observe_lag(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            lags = list(self._lag.items())
        return [Observation(lag, {"messaging.consumer.group.name": group, "messaging.destination.name": topic,
                                  "messaging.destination.partition.id": str(partition)})
                for (group, topic, partition), lag in lags]


_instruments: Instruments | None = None
_lock = threading.Lock()


def instruments() -> Instruments:
    """The process-wide instruments (the global meter provider's; a no-op until telemetry is set up)."""
    global _instruments
    with _lock:
        if _instruments is None:
            _instruments = Instruments(metrics.get_meter("lineup"))
        return _instruments


def use_instruments(value: Instruments | None) -> None:
    """Replace the process-wide instruments (tests observe them through their own reader)."""
    global _instruments
    with _lock:
        _instruments = value
