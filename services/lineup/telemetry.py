"""OpenTelemetry set-up and W3C trace-context propagation across Kafka hops.

One trace must span ingest -> detection -> embedding -> search and back, although the hops are
Kafka messages, not calls: the producer injects `traceparent`/`tracestate` into the record headers
and the consumer continues the trace from them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

KafkaHeaders = list[tuple[str, bytes]]

_PROPAGATOR = TraceContextTextMapPropagator()
_lock = threading.Lock()
_provider: TracerProvider | None = None


def setup_telemetry(service_name: str, *, otlp_endpoint: str = "", version: str = "0.1.0",
                    span_processors: Sequence[SpanProcessor] = (),
                    metric_readers: Sequence[MetricReader] = (),
                    metrics_interval_s: float = 30.0) -> TracerProvider:
    """Install the global tracer and meter providers once per process.

    Without an OTLP endpoint nothing is exported (spans still exist, so trace ids reach logs and
    responses); tests pass in-memory processors/readers to observe spans.
    """
    global _provider
    with _lock:
        if _provider is not None:
            for p in span_processors:
                _provider.add_span_processor(p)
            return _provider
        resource = Resource.create({"service.name": service_name, "service.version": version})
        provider = TracerProvider(resource=resource)
        readers = list(metric_readers)
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True)))
            readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=otlp_endpoint, insecure=True),
                                                         export_interval_millis=int(metrics_interval_s * 1000)))
        for p in span_processors:
            provider.add_span_processor(p)
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
        _provider = provider
        return provider


def shutdown_telemetry() -> None:
    """Flush spans before exit (graceful shutdown), so the last requests' traces are not lost."""
    with _lock:
        if _provider is not None:
            _provider.force_flush(timeout_millis=5000)


def inject_headers(headers: KafkaHeaders | None = None, context: Context | None = None) -> KafkaHeaders:
    """Return Kafka headers carrying the current (or given) trace context."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=context)
    out = [(k, v) for k, v in (headers or []) if k not in carrier]
    out.extend((k, v.encode()) for k, v in carrier.items())
    return out


def extract_context(headers: Iterable[tuple[str, bytes | None]] | None) -> Context:
    """The trace context a Kafka record carries (an empty context when it has none)."""
    carrier = {k: (v or b"").decode("utf-8", "replace") for k, v in (headers or [])}
    return _PROPAGATOR.extract(carrier)


def current_trace_id() -> str:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else ""
