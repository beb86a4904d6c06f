"""`python -m tests.bench.hops`: where one search's time goes, hop by hop, from the services' own traces.

Starts a private Lineup (the benchmark's own services and Milvus engine, `lineup_side.private_stack`) whose
services export their OpenTelemetry spans to an OTLP receiver inside this process, enrolls a small gallery,
runs searches one at a time, and prints for each span name (service and operation) the median of its
duration and of its start relative to the search's root span. What the median search spends outside every
span of a service is the time between processes: Kafka delivery and gRPC transport.

Knobs: LINEUP_HOPS_ENROLL (40 photos), LINEUP_HOPS_SEARCHES (40), LINEUP_DATASETS (../shared/datasets).
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import defaultdict
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from lineup.v1 import common_pb2, face_search_pb2
from tests.bench.dataset import build_plan
from tests.bench.lineup_side import COLLECTION, context, create_collection, enroll, private_stack
from tests.integration.pipeline_harness import free_port

ROOT = "lineup.v1.FaceSearch/SearchFacesByImage"


class Sink(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP trace receiver that keeps (trace id, service, name, parent, start, end) of every span."""

    def __init__(self) -> None:
        self.spans: list[tuple[bytes, str, str, bytes, bytes, int, int]] = []
        self._lock = threading.Lock()

    def Export(self, request: Any, context: Any) -> Any:
        with self._lock:
            for rs in request.resource_spans:
                service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "?")
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        self.spans.append((s.trace_id, service, s.name, s.span_id, s.parent_span_id,
                                           s.start_time_unix_nano, s.end_time_unix_nano))
        return trace_service_pb2.ExportTraceServiceResponse()


def breakdown(spans: list[tuple[bytes, str, str, bytes, bytes, int, int]]) -> list[tuple[str, float, float, int]]:
    """(service: name, median start offset ms, median duration ms, traces) per span name over the search
    traces, in the order of their median start."""
    by_trace: dict[bytes, list[tuple[bytes, str, str, bytes, bytes, int, int]]] = defaultdict(list)
    for s in spans:
        by_trace[s[0]].append(s)
    offsets: dict[str, list[float]] = defaultdict(list)
    durations: dict[str, list[float]] = defaultdict(list)
    for trace in by_trace.values():
        roots = [s for s in trace if s[2] == ROOT and s[1] == "ingest"]
        if len(roots) != 1:
            continue
        t0 = roots[0][5]
        for s in trace:
            key = f"{s[1]}: {s[2]}"
            offsets[key].append((s[5] - t0) / 1e6)
            durations[key].append((s[6] - s[5]) / 1e6)
    rows = [(k, statistics.median(offsets[k]), statistics.median(durations[k]), len(durations[k])) for k in offsets]
    return sorted(rows, key=lambda r: r[1])


def main() -> int:
    datasets = Path(os.environ.get("LINEUP_DATASETS", Path(__file__).resolve().parents[3] / "shared" / "datasets"))
    n_enroll = int(os.environ.get("LINEUP_HOPS_ENROLL", "40"))
    n_search = int(os.environ.get("LINEUP_HOPS_SEARCHES", "40"))
    plan = build_plan(datasets / "lfw-dev" / "images", enroll=n_enroll, known=n_search, unknown=0)
    sink = Sink()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    os.environ["LINEUP_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"  # the private services inherit it
    try:
        with private_stack(60.0) as stack:
            create_collection(stack.client)
            print(f"hops: enrolled {enroll(stack, plan.enroll, 4)['images_ok']} photos", flush=True)
            with sink._lock:
                sink.spans.clear()
            ctx, latencies = context("HOPS-1"), []
            for photo in plan.probes[:n_search]:
                req = face_search_pb2.SearchFacesByImageRequest(
                    collection_id=COLLECTION, image=common_pb2.Image(bytes=photo.path.read_bytes()), max_faces=5,
                    largest_face_only=True, context=ctx)
                t = time.perf_counter()
                stack.client.call("SearchFacesByImage", req)
                latencies.append((time.perf_counter() - t) * 1000)
            time.sleep(8)  # the services' batch span processors export every 5 s
    finally:
        os.environ.pop("LINEUP_OTLP_ENDPOINT", None)
    time.sleep(1)  # stopped services flushed their last spans
    server.stop(grace=2)
    rows = breakdown(sink.spans)
    print(f"\nsearches: {len(latencies)}, client p50 {statistics.median(latencies):.1f} ms; spans per search trace, "
          f"median over the traces (load average {os.getloadavg()[0]:.2f}):")
    print(f"{'span (service: name)':<72} {'start ms':>9} {'duration ms':>12} {'traces':>7}")
    for name, start, duration, n in rows:
        print(f"{name[:72]:<72} {start:9.1f} {duration:12.1f} {n:7d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
