"""Server TLS on the public gRPC port, and the plaintext health-only port that kubelet's gRPC probes need."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lineup.client import Client
from lineup.grpcserver import ServiceServer
from lineup.settings import CommonSettings, SettingsError, load_settings

SERVING = health_pb2.HealthCheckResponse.SERVING


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway certificate for localhost/127.0.0.1, made with the openssl CLI (the `cryptography`
    package is not a dependency of the project)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl CLI is not installed; it makes the self-signed certificate for this test")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "tls.crt", d / "tls.key"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls_server(self_signed: tuple[Path, Path]) -> Iterator[tuple[ServiceServer, int]]:
    cert, key = self_signed
    settings = CommonSettings(grpc_port=_free_port(), tls_cert_file=str(cert), tls_key_file=str(key),
                              health_port=_free_port(), shutdown_grace_s=0)
    server = ServiceServer(settings=settings, register=lambda _server: [])
    port = server.start()
    yield server, port
    server.stop()


def _check(channel: grpc.Channel) -> int:
    return int(health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status)


def test_health_over_tls_with_the_servers_certificate(
        tls_server: tuple[ServiceServer, int], self_signed: tuple[Path, Path]) -> None:
    _server, port = tls_server
    creds = grpc.ssl_channel_credentials(root_certificates=self_signed[0].read_bytes())
    with grpc.secure_channel(f"localhost:{port}", creds) as channel:
        assert _check(channel) == SERVING


def test_the_tls_port_refuses_plaintext(tls_server: tuple[ServiceServer, int]) -> None:
    _server, port = tls_server
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel, pytest.raises(grpc.RpcError) as err:
        _check(channel)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_health_port_is_plaintext_and_follows_shutdown(tls_server: tuple[ServiceServer, int]) -> None:
    server, _port = tls_server
    health_port = server.settings.health_port
    with grpc.insecure_channel(f"127.0.0.1:{health_port}") as channel:
        assert _check(channel) == SERVING
        # only health is there: the API and reflection are not reachable without TLS
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")(b"", timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert server._health is not None
        server._health.enter_graceful_shutdown()
        assert _check(channel) == health_pb2.HealthCheckResponse.NOT_SERVING


def test_tls_settings_go_together_and_come_from_the_environment() -> None:
    with pytest.raises(SettingsError, match="LINEUP_TLS_KEY_FILE"):
        load_settings(CommonSettings, env={"LINEUP_TLS_CERT_FILE": "/etc/lineup/tls/tls.crt"})
    with pytest.raises(SettingsError, match="LINEUP_TLS_CERT_FILE"):
        load_settings(CommonSettings, env={"LINEUP_TLS_KEY_FILE": "/etc/lineup/tls/tls.key"})
    s = load_settings(CommonSettings, env={"LINEUP_TLS_CERT_FILE": "/c", "LINEUP_TLS_KEY_FILE": "/k",
                                           "LINEUP_HEALTH_PORT": "8086"})
    assert (s.tls_cert_file, s.tls_key_file, s.health_port) == ("/c", "/k", 8086)
    with pytest.raises(SettingsError, match="LINEUP_HEALTH_PORT"):
        load_settings(CommonSettings, env={"LINEUP_HEALTH_PORT": "50051"})


def test_unreadable_key_files_fail_with_the_variable_names(tmp_path: Path) -> None:
    settings = CommonSettings(grpc_port=_free_port(), tls_cert_file=str(tmp_path / "missing.crt"),
                              tls_key_file=str(tmp_path / "missing.key"))
    with pytest.raises(SettingsError, match="LINEUP_TLS_CERT_FILE"):
        ServiceServer(settings=settings, register=lambda _server: []).start()


def test_the_cli_client_trusts_the_ca_named_by_lineup_tls_ca_file(
        tls_server: tuple[ServiceServer, int], self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """The Helm agencies Job reaches a TLS front door through this path (LINEUP_TLS_CA_FILE)."""
    _server, port = tls_server
    monkeypatch.setenv("LINEUP_TLS_CA_FILE", str(self_signed[0]))
    with Client(f"localhost:{port}") as client:
        assert _check(client.channel) == SERVING
    monkeypatch.delenv("LINEUP_TLS_CA_FILE")
    with Client(f"localhost:{port}") as plain, pytest.raises(grpc.RpcError):
        _check(plain.channel)
