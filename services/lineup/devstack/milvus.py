"""Milvus for the local stack: a Milvus Lite gRPC server on 127.0.0.1:19530.

Why Milvus Lite: a real Milvus standalone needs etcd, MinIO and several GiB of images; Milvus Lite
(PyPI `milvus-lite`, a pinned project dependency) speaks the same gRPC API that pymilvus uses against a
cluster, so the services run unchanged and only LINEUP_MILVUS_URI differs between the dev stack and a
production cluster. It is started with the interpreter of the running virtualenv, so there is nothing
to download beyond `pip install`.

Measured capabilities of milvus-lite 3.2.2 (see docs/infra/milvus.md): FLAT, AUTOINDEX, HNSW, HNSW_SQ,
IVF_FLAT and IVF_SQ8 indexes (faiss-cpu), partition keys, and multiple databases.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import threading

from lineup.devstack.base import Component, StackError, StackPaths, port_open

HOST = "127.0.0.1"
PORT = 19530
URI = f"http://{HOST}:{PORT}"

#: Budget of one health probe: pymilvus' connect/RPC timeout, plus a hard cap on the whole call so a
#: wedged channel can never stall `make status`.
PROBE_TIMEOUT_S = 3.0


def _probe(uri: str, timeout: float) -> str | None:
    """List collections and read the server version over gRPC; None when the server does not answer.

    Runs the client in a daemon thread joined with a deadline: pymilvus' own timeouts cover connect and
    each RPC, the thread bounds anything they miss (name resolution, a peer that accepts and stalls).
    """
    result: list[str] = []

    def work() -> None:
        try:
            from pymilvus import MilvusClient

            # dedicated: our own channel, closed below, not the process-wide shared connection
            client = MilvusClient(uri=uri, timeout=timeout, dedicated=True)
            try:
                client.list_collections(timeout=timeout)
                result.append(str(client.get_server_version(timeout=timeout)))
            finally:
                client.close()
        except Exception:  # a probe reports "down", it never raises
            return

    thread = threading.Thread(target=work, name="milvus-probe", daemon=True)
    thread.start()
    thread.join(timeout * 2 + 1)
    return result[0] if result else None


class Milvus(Component):
    """Milvus Lite serving the Milvus gRPC API, data in `.state/data/milvus`."""

    name = "milvus"
    ports = (PORT,)
    start_timeout_s = 60.0

    def __init__(self, paths: StackPaths | None = None) -> None:
        super().__init__(paths)
        self._version: str | None = None

    def install(self) -> None:
        """Nothing to download: check that the pip dependencies of the server and the probe are there."""
        missing = [m for m in ("milvus_lite", "pymilvus") if importlib.util.find_spec(m) is None]
        if missing:
            raise StackError(f"milvus: Python package(s) {', '.join(missing)} missing from {sys.executable}; "
                             f"run `make install` (pip install -e '.[dev]')")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir),
                "--host", HOST, "--port", str(PORT)]

    def environment(self) -> dict[str, str]:
        env = super().environment()
        env["PYTHONUNBUFFERED"] = "1"  # so the log file shows startup and tracebacks as they happen
        return env

    def healthy(self) -> bool:
        """A real gRPC round trip (ListCollections), not just an open port; False within seconds when down."""
        if not port_open(PORT, HOST):
            return False
        version = _probe(URI, PROBE_TIMEOUT_S)
        if version is not None:
            self._version = version
        return version is not None

    def version(self) -> str:
        """What the server reports (e.g. `milvus_lite-3.2.2`); the installed package version otherwise."""
        if self._version is None:
            self._version = _probe(URI, PROBE_TIMEOUT_S)
        if self._version is not None:
            return self._version
        try:
            return "milvus_lite-" + importlib.metadata.version("milvus-lite")
        except importlib.metadata.PackageNotFoundError:
            return "?"


def milvus_uri() -> str:
    """Where services find Milvus: LINEUP_MILVUS_URI, else this local server."""
    return os.environ.get("LINEUP_MILVUS_URI", URI)
