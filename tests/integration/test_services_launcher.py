"""The service launcher (lineup_tools.devstack.services) starts real Lineup services against the real stack.

Each test uses its own state directory (pid files, logs) and high replica numbers, so it never touches
the services a developer or another test session started on the default ports.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lineup_tools.devstack.base import StackError, StackPaths, port_open, stack_paths
from lineup_tools.devstack.services import (
    REPLICA_PORT_STEP,
    SERVICE_PORTS,
    ServiceProcess,
    grpc_serving,
    known_services,
    parse_spec,
    replica_port,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def paths(tmp_path: Path) -> StackPaths:
    real = stack_paths()
    state = tmp_path / "state"
    for d in (state / "run", state / "logs", state / "data"):
        d.mkdir(parents=True)
    return StackPaths(repo_root=real.repo_root, cache_dir=real.cache_dir, state_dir=state)


@pytest.fixture
def infra(kafka_bootstrap: str, minio_endpoint: str, milvus_uri: str) -> None:
    """search needs Milvus (and, like every service, Kafka and MinIO) to be up."""


@pytest.fixture
def launched(paths: StackPaths) -> Iterator[list[ServiceProcess]]:
    """Processes a test started; stopped at the end even when the test fails."""
    procs: list[ServiceProcess] = []
    yield procs
    for p in procs:
        p.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _health(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return int(resp.status)


def test_replica_specs_and_ports() -> None:
    assert parse_spec("search") == ("search", 1)
    assert parse_spec("detection@2") == ("detection", 2)
    assert replica_port("detection", 2) == SERVICE_PORTS["detection"] + REPLICA_PORT_STEP
    every = {replica_port(s, n) for s in SERVICE_PORTS for n in range(1, 11)}
    assert len(every) == len(SERVICE_PORTS) * 10  # no two replicas of any services share a port
    for bad in ("searchy", "detection@0", "detection@x", "@2", ""):
        with pytest.raises(StackError):
            parse_spec(bad)


def test_environment_carries_port_and_credentials(paths: StackPaths, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LINEUP_MINIO_ACCESS_KEY", raising=False)
    monkeypatch.setenv("LINEUP_MINIO_SECRET_KEY", "from-the-caller")
    env = ServiceProcess("ingest", 2, paths).environment()
    assert env["LINEUP_GRPC_PORT"] == str(SERVICE_PORTS["ingest"] + REPLICA_PORT_STEP)
    assert env["LINEUP_MINIO_ACCESS_KEY"] == "lineup-dev"  # the dev default of lineup_tools.devstack.minio
    assert env["LINEUP_MINIO_SECRET_KEY"] == "from-the-caller"  # an explicit setting wins


def test_grpc_serving_never_raises_on_a_closed_port() -> None:
    assert grpc_serving("127.0.0.1:1", timeout_s=0.5) is False


def test_search_starts_serving_and_stops(infra: None, paths: StackPaths, launched: list[ServiceProcess]) -> None:
    proc = ServiceProcess("search", 8, paths)
    if port_open(proc.port):
        pytest.skip(f"port {proc.port} is taken by another program")
    launched.append(proc)
    assert proc.start() == "started"
    pid = proc.pid()
    assert pid is not None and _alive(pid)
    assert proc.pid_file == paths.run_dir / "search@8.pid"
    assert proc.log_file.is_file()
    assert _health(proc.port) == health_pb2.HealthCheckResponse.SERVING
    assert proc.healthy()
    assert "up" in proc.status_line() and "started by devstack" in proc.status_line()
    assert proc.start() == "running"  # idempotent: a second start reuses the process

    assert proc.stop() is True
    assert not _alive(pid)
    assert not port_open(proc.port)
    assert not proc.pid_file.exists()
    assert not proc.healthy()
    assert proc.stop() is False  # nothing left to stop


def test_replicas_get_their_own_port_and_pid_file(infra: None, paths: StackPaths,
                                                  launched: list[ServiceProcess]) -> None:
    a, b = ServiceProcess("search", 8, paths), ServiceProcess("search", 9, paths)
    if port_open(a.port) or port_open(b.port):
        pytest.skip("replica ports are taken by another program")
    launched.extend([a, b])
    a.start()
    b.start()
    assert a.port != b.port
    assert a.pid_file != b.pid_file and a.pid() != b.pid()
    assert [p.name for p in known_services(paths) if p.service == "search"] == ["search", "search@8", "search@9"]
    assert _health(a.port) == _health(b.port) == health_pb2.HealthCheckResponse.SERVING

    b.stop()
    assert not port_open(b.port)
    assert _health(a.port) == health_pb2.HealthCheckResponse.SERVING  # stopping one leaves the other
