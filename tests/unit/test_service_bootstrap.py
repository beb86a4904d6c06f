"""A bootstrapped service on a real port: health, reflection, error mapping, SIGTERM shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from lineup.auth import internal_metadata
from lineup.errors import InvalidArgument
from lineup.grpcserver import ServiceServer
from lineup.settings import load_settings
from lineup.v1 import embedding_pb2, embedding_pb2_grpc, search_pb2, search_pb2_grpc
from search.settings import SearchSettings

TOKEN = "unit-test-internal-token-" + "x" * 16


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_serving(channel: grpc.Channel, timeout_s: float = 30.0) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
            if resp.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


@pytest.fixture
def search_process() -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`search` with its Kafka stage off needs no other server to start (Milvus is reached lazily)."""
    port = _free_port()
    env = {**os.environ, "LINEUP_GRPC_PORT": str(port), "LINEUP_SHUTDOWN_GRACE_S": "2",
           "LINEUP_PIPELINE_STAGE": "false", "LINEUP_MILVUS_URI": "http://127.0.0.1:1",
           "LINEUP_INTERNAL_TOKEN": TOKEN}
    proc = subprocess.Popen([sys.executable, "-m", "search"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    yield proc, port
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_service_answers_health_and_reflection_then_stops_on_sigterm(
        search_process: tuple[subprocess.Popen[str], int]) -> None:
    proc, port = search_process
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        _wait_serving(channel)
        health = health_pb2_grpc.HealthStub(channel)
        service = "lineup.v1.SearchService"
        assert health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status == \
            health_pb2.HealthCheckResponse.SERVING

        refl = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = list(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                                                   timeout=5))
        names = {s.name for s in responses[0].list_services_response.service}
        assert {service, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names

        # a real RPC through the interceptor: bad input is refused before any dependency is touched
        with pytest.raises(grpc.RpcError) as err:
            search_pb2_grpc.SearchServiceStub(channel).CountFaces(
                search_pb2.CountFacesRequest(agency_id="../x", collection_id="c"), timeout=5,
                metadata=internal_metadata(TOKEN, "test"))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    messages = [json.loads(line)["msg"] for line in out.splitlines() if line.startswith("{")]
    assert messages.index("serving") < messages.index("signal received") < messages.index("stopped")


class _Failing(embedding_pb2_grpc.EmbeddingServiceServicer):
    def ListModels(self, request: embedding_pb2.ListModelsRequest, context: grpc.ServicerContext
                   ) -> embedding_pb2.ListModelsResponse:
        raise InvalidArgument("face_model 'x' is unknown: call ListModels to see the installed models")

    def Embed(self, request: embedding_pb2.EmbedRequest, context: grpc.ServicerContext
              ) -> embedding_pb2.EmbedResponse:
        raise ZeroDivisionError("boom")


def test_errors_map_to_status_codes_with_request_ids() -> None:
    settings = load_settings(SearchSettings, {}, grpc_port=_free_port(), shutdown_grace_s=0.5)

    def register(server: grpc.Server) -> list[str]:
        embedding_pb2_grpc.add_EmbeddingServiceServicer_to_server(_Failing(), server)
        return ["lineup.v1.EmbeddingService"]

    server = ServiceServer(settings=settings, register=register)
    port = server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = embedding_pb2_grpc.EmbeddingServiceStub(channel)
            with pytest.raises(grpc.RpcError) as err:
                stub.ListModels(embedding_pb2.ListModelsRequest(), timeout=5,
                                metadata=[("x-request-id", "req-42")])
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "face_model 'x' is unknown" in err.value.details()
            server_id = dict(err.value.trailing_metadata())["x-request-id"]
            assert server_id != "req-42" and len(server_id) == 32  # the server's id; the client's is only a key
            assert f"request id {server_id}" in err.value.details()

            with pytest.raises(grpc.RpcError) as err:
                stub.ListModels(embedding_pb2.ListModelsRequest(), timeout=5, metadata=[("x-request-id", "..")])
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "x-request-id is an idempotency key" in err.value.details()

            with pytest.raises(grpc.RpcError) as err:
                stub.Embed(embedding_pb2.EmbedRequest(), timeout=5)
            assert err.value.code() == grpc.StatusCode.INTERNAL
            assert "boom" not in err.value.details()  # internals stay in the logs
            assert "request id" in err.value.details()
    finally:
        server.stop()
