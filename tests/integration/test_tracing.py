"""One OpenTelemetry trace spans ingest -> Kafka -> detection -> embedding -> search and back, with client
spans for MinIO, Triton and Milvus: the services export OTLP to a collector this test runs."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from lineup.v1 import common_pb2, face_search_pb2, face_search_pb2_grpc
from tests.face_data import DATASETS, require
from tests.integration.pipeline_harness import Pipeline, free_port
from tests.integration.waiting import wait_until

pytestmark = pytest.mark.integration


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps (service name, span name, span kind) per trace id."""

    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self.lock = threading.Lock()

    def Export(self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
               ) -> trace_service_pb2.ExportTraceServiceResponse:
        with self.lock:
            for rs in request.resource_spans:
                service = next((a.value.string_value for a in rs.resource.attributes if a.key == "service.name"), "")
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        self.spans[span.trace_id.hex()].append((service, span.name))
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture()
def collector() -> Iterator[tuple[Collector, int]]:
    port = free_port()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    sink = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(sink, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    yield sink, port
    server.stop(0)


def test_one_trace_spans_every_hop(collector: tuple[Collector, int], kafka_bootstrap: str, minio_endpoint: str,
                                   milvus_uri: str, triton_url: str) -> None:
    sink, port = collector
    photo = require(DATASETS / "tv-identities" / "penny" / "penny1.png")
    p = Pipeline()
    otlp = {"LINEUP_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}
    try:
        for name in ("search", "embedding", "detection", "ingest"):
            p.start(name, extra_env=otlp)
        with grpc.insecure_channel(f"127.0.0.1:{p.ports['ingest']}") as channel:
            api = face_search_pb2_grpc.FaceSearchStub(channel)
            md = p.metadata()
            api.CreateCollection(face_search_pb2.CreateCollectionRequest(collection_id="traced"), metadata=md,
                                 timeout=30)
            api.IndexFaces(face_search_pb2.IndexFacesRequest(collection_id="traced", image=common_pb2.Image(
                bytes=photo.read_bytes())), metadata=md, timeout=90)
            resp = api.SearchFacesByImage(face_search_pb2.SearchFacesByImageRequest(
                collection_id="traced", image=common_pb2.Image(bytes=photo.read_bytes()),
                context=common_pb2.SearchContext(case_id="C-1", purpose="testing")), metadata=md, timeout=90)
    finally:
        codes = p.stop_all()  # SIGTERM flushes every service's spans
    assert all(c == 0 for c in codes.values()), codes
    trace_id = resp.provenance.trace_id
    every_service = {"ingest", "detection", "embedding", "search"}

    def complete(spans: list[tuple[str, str]]) -> bool:
        """Everything the assertions below check: every service and every kind of hop in the trace."""
        names = {n for _, n in spans}
        return ({s for s, _ in spans} == every_service and "lineup.v1.FaceSearch/SearchFacesByImage" in names
                and any(n.startswith("s3 ") for n in names)
                and any(n.startswith("triton infer face_detector") for n in names)
                and any(n.startswith("triton infer face_embedder") for n in names)
                and any(n.startswith("milvus ") for n in names)
                and any(n.endswith("process") for n in names) and any(n.endswith("publish") for n in names))

    def spans_of_the_trace() -> list[tuple[str, str]]:
        with sink.lock:
            return list(sink.spans.get(trace_id, []))

    spans = wait_until(spans_of_the_trace, complete, timeout_s=60)
    services = {s for s, _ in spans}
    names = {n for _, n in spans}
    assert services == every_service, spans
    assert "lineup.v1.FaceSearch/SearchFacesByImage" in names
    assert any(n.startswith("s3 ") for n in names)  # MinIO
    assert any(n.startswith("triton infer face_detector") for n in names)
    assert any(n.startswith("triton infer face_embedder") for n in names), sorted(names)
    assert any(n.startswith("milvus ") for n in names)
    assert any(n.endswith("process") for n in names) and any(n.endswith("publish") for n in names)  # Kafka hops
