"""Runs the four Lineup services as real processes against the real local stack, isolated from any
other run by a unique topic prefix (own topics, own consumer groups) and a unique agency id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from lineup_tools.devstack.accounts import ALL_ROLES, bootstrap_key, internal_token, mint_key, session_signing_key
from lineup_tools.devstack.base import stack_paths
from lineup_tools.devstack.kafka import LOCAL_BOOTSTRAP
from lineup_tools.devstack.minio import credentials

from lineup.provision import ensure_topics
from tests.integration.waiting import PATIENT_S


class _AddMetadata(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, metadata: list[tuple[str, str]]) -> None:
        self.metadata = metadata

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        md = [*(details.metadata or ()), *self.metadata]
        return continuation(details._replace(metadata=md), request)


@contextmanager
def internal_channel(target: str, caller: str = "e2e-test") -> Iterator[grpc.Channel]:
    """A channel to an internal service (detection, embedding, search) that sends the local stack's internal
    service credential on every call, as ingest does."""
    from lineup.auth import internal_metadata

    with grpc.insecure_channel(target) as raw:
        yield grpc.intercept_channel(raw, _AddMetadata(internal_metadata(internal_token(), caller)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_serving(port: int, timeout_s: float = PATIENT_S, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"service on port {port} exited with {proc.returncode} while starting")
            try:
                if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == \
                        health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"service on port {port} not SERVING after {timeout_s:.0f}s")
            time.sleep(0.2)


@dataclass
class Running:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Pipeline:
    prefix: str = field(default_factory=lambda: f"e2e{uuid.uuid4().hex[:8]}.")
    agency: str = field(default_factory=lambda: f"e2e-{uuid.uuid4().hex[:8]}")
    running: list[Running] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    _keys: dict[tuple[str, str, tuple[int, ...]], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        ensure_topics(LOCAL_BOOTSTRAP, self.prefix, timeout_s=PATIENT_S)
        for name in ("ingest", "detection", "embedding", "search", "audit", "rekognition", "rekognition-http",
                     "console", "console-http"):
            self.ports[name] = free_port()

    def env(self, name: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
        access, secret = credentials()
        return {**os.environ, "LINEUP_TOPIC_PREFIX": self.prefix, "LINEUP_GRPC_PORT": str(port),
                "LINEUP_MINIO_ACCESS_KEY": access, "LINEUP_MINIO_SECRET_KEY": secret,
                "LINEUP_SEARCH_URL": f"127.0.0.1:{self.ports['search']}", "LINEUP_SHUTDOWN_GRACE_S": "3",
                "LINEUP_SYNC_TIMEOUT_S": "60", "LINEUP_BOOTSTRAP_ADMIN_KEY": bootstrap_key(),
                "LINEUP_INTERNAL_TOKEN": internal_token(), "LINEUP_SESSION_SIGNING_KEY": session_signing_key(),
                "LINEUP_INGEST_URL": f"127.0.0.1:{self.ports['ingest']}",
                "LINEUP_HTTP_PORT": str(self.ports["rekognition-http"]), **(extra or {})}

    def start(self, name: str, *, replica: int = 0, extra_env: dict[str, str] | None = None) -> Running:
        port = self.ports[name] if replica == 0 else free_port()
        log = stack_paths().log_dir / f"{self.prefix}{name}-{replica}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", name], env=self.env(name, port, extra_env),
                                    stdout=out, stderr=subprocess.STDOUT)
        run = Running(name, port, proc, log)
        self.running.append(run)
        wait_serving(port, proc=proc)
        return run

    def start_all(self) -> None:
        for name in ("search", "embedding", "detection", "audit", "ingest", "rekognition"):
            self.start(name)

    def kill(self, run: Running, sig: int = signal.SIGKILL) -> int:
        run.proc.send_signal(sig)
        code = run.proc.wait(timeout=30)
        self.running.remove(run)
        return code

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for run in reversed(list(self.running)):
            run.proc.send_signal(signal.SIGTERM)
        for run in list(self.running):
            try:
                codes[f"{run.name}:{run.port}"] = run.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                run.proc.kill()
                codes[f"{run.name}:{run.port}"] = -9
        self.running.clear()
        return codes

    def find(self, name: str) -> list[Running]:
        return [r for r in self.running if r.name == name]

    @property
    def bootstrap(self) -> str:
        return bootstrap_key()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['ingest']}"

    @property
    def rekognition_url(self) -> str:
        """The Rekognition-compatible HTTP endpoint of this pipeline (AWS_ENDPOINT_URL_REKOGNITION)."""
        return f"http://127.0.0.1:{self.ports['rekognition-http']}"

    def start_console(self) -> Running:
        """The examiner console in front of this pipeline's ingest (not part of start_all: only its tests use it)."""
        return self.start("console", extra_env={"LINEUP_HTTP_PORT": str(self.ports["console-http"])})

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['console-http']}"

    @property
    def internal_token(self) -> str:
        """The deployment's internal service credential the services of this pipeline run with."""
        return internal_token()

    def internal_metadata(self, caller: str = "e2e-test") -> list[tuple[str, str]]:
        """Metadata for calling an internal service (detection, embedding, search, audit) directly."""
        from lineup.auth import internal_metadata
        return internal_metadata(internal_token(), caller)

    def key(self, user: str = "e2e-tester", agency: str | None = None,
            roles: Sequence[int] = ALL_ROLES) -> str:
        """An API key of `agency` (default: this pipeline's) for `user`, minted once per (agency, user, roles) by
        the agency's own admin key (the bootstrap credential only creates that first admin key)."""
        ident = (agency or self.agency, user, tuple(roles))
        if ident not in self._keys:
            self._keys[ident] = mint_key(ident[0], endpoint=self.endpoint, holder=user, roles=roles)
        return self._keys[ident]

    def metadata(self, user: str = "e2e-tester", agency: str | None = None,
                 roles: Sequence[int] = ALL_ROLES) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.key(user, agency, roles)}")]


@contextmanager
def running_pipeline() -> Iterator[Pipeline]:
    """Every service of a fresh Pipeline, stopped afterwards; an unclean shutdown fails the caller."""
    p = Pipeline()
    try:
        p.start_all()
        yield p
    finally:
        codes = p.stop_all()
        assert all(code == 0 for code in codes.values()), f"unclean shutdown: {codes}"
