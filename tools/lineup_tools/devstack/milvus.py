"""Milvus for the local stack: Milvus's own C++ engine (milvus-lite 2.5) serving gRPC on 127.0.0.1:19530.

Why this engine: a real Milvus standalone needs etcd, MinIO and several GiB of images. milvus-lite 2.5 is
the Milvus query engine (knowhere, segcore) compiled into one binary, shipped in the PyPI wheel
`milvus-lite==2.5.1`; it speaks the gRPC API that pymilvus uses against a cluster, so the services run
unchanged and only LINEUP_MILVUS_URI differs between the dev stack and production. milvus-lite 3.x, the
earlier choice, is a pure-Python re-implementation: 17-25x slower per search at 300k faces (issue *speed*,
docs/infra/milvus.md).

The wheel is fetched with pip (pinned version and SHA-256), unpacked into the cache and its binary is run
directly: its Python wrapper imports `pkg_resources` and would clash with the project's pymilvus, and we
need nothing from it but `lib/milvus <db file> <address> <log level>`.

What the engine cannot do, verified: databases (`create_database` is UNIMPLEMENTED and `db_name` is
silently ignored), partitions, collection properties (accepted, not kept), `GetVersion`; indexes FLAT,
IVF_FLAT and AUTOINDEX only. The search store therefore keeps agencies apart by collection name and keeps
its collection metadata in the description (services/search/rows.py, docs/search.md).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lineup_tools.devstack.base import Component, StackError, StackPaths, port_open, run_checked, stack_paths

HOST = "127.0.0.1"
PORT = 19530
URI = f"http://{HOST}:{PORT}"

ENGINE_VERSION = "2.5.1"
ENGINE_WHEEL = f"milvus_lite-{ENGINE_VERSION}-py3-none-manylinux2014_x86_64.whl"
ENGINE_WHEEL_SHA256 = "25ce13f4b8d46876dd2b7ac8563d7d8306da7ff3999bb0d14b116b30f71d706c"
#: the engine keeps everything in one SQLite-backed file (name: <= 36 of [A-Za-z0-9._-])
DB_FILE = "lineup.db"

#: Budget of one health probe: pymilvus' connect/RPC timeout, plus a hard cap on the whole call so a
#: wedged channel can never stall `make status`.
PROBE_TIMEOUT_S = 3.0


def _probe(uri: str, timeout: float) -> bool:
    """List collections over gRPC; False when the server does not answer.

    Runs the client in a daemon thread joined with a deadline: pymilvus' own timeouts cover connect and
    each RPC, the thread bounds anything they miss (name resolution, a peer that accepts and stalls).
    """
    result: list[bool] = []

    def work() -> None:
        try:
            from pymilvus import MilvusClient

            # dedicated: our own channel, closed below, not the process-wide shared connection
            client = MilvusClient(uri=uri, timeout=timeout, dedicated=True)
            try:
                client.list_collections(timeout=timeout)
                result.append(True)
            finally:
                client.close()
        except Exception:  # a probe reports "down", it never raises
            return

    thread = threading.Thread(target=work, name="milvus-probe", daemon=True)
    thread.start()
    thread.join(timeout * 2 + 1)
    return bool(result)


def engine_home(paths: StackPaths) -> Path:
    return paths.cache_dir / f"milvus-lite-{ENGINE_VERSION}"


def install_engine(paths: StackPaths) -> Path:
    """Fetch and unpack the pinned engine once; returns its `lib` directory (binary and shared libraries)."""
    home = engine_home(paths)
    lib = home / "milvus_lite" / "lib"
    marker = home / ".installed"
    if marker.is_file() and marker.read_text().strip() == ENGINE_WHEEL_SHA256 and (lib / "milvus").is_file():
        return lib
    if sys.platform != "linux" or platform.machine() != "x86_64":
        raise StackError(f"milvus: the pinned engine wheel is for Linux x86_64, this is {sys.platform} "
                         f"{platform.machine()}; point LINEUP_MILVUS_URI at a Milvus server instead")
    home.mkdir(parents=True, exist_ok=True)
    log = paths.log_dir / "milvus-install.log"
    with tempfile.TemporaryDirectory(prefix="download-", dir=home) as tmp:
        print(f"==> milvus: downloading milvus-lite {ENGINE_VERSION} (Milvus's C++ engine, ~55 MB) with pip",
              flush=True)
        run_checked([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-input",
                     "--no-deps", "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                     "-d", tmp, f"milvus-lite=={ENGINE_VERSION}"],
                    f"pip download milvus-lite=={ENGINE_VERSION}", log=log, timeout=900)
        wheel = Path(tmp) / ENGINE_WHEEL
        if not wheel.is_file():
            raise StackError(f"milvus: pip did not produce {ENGINE_WHEEL} (log: {log})")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != ENGINE_WHEEL_SHA256:
            raise StackError(f"milvus: {ENGINE_WHEEL} has SHA-256 {digest}, expected {ENGINE_WHEEL_SHA256}; "
                             f"refusing to run it")
        staging = Path(tmp) / "unpacked"
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(staging)
        for binary in (staging / "milvus_lite" / "lib").iterdir():
            binary.chmod(0o755)
        shutil.rmtree(home / "milvus_lite", ignore_errors=True)
        (staging / "milvus_lite").rename(home / "milvus_lite")
    marker.write_text(ENGINE_WHEEL_SHA256 + "\n")
    return lib


def engine_command(lib: Path, db_file: Path, host: str, port: int) -> list[str]:
    return [str(lib / "milvus"), str(db_file), f"{host}:{port}", os.environ.get("LINEUP_MILVUS_LOG_LEVEL", "ERROR")]


def engine_environment(lib: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = os.pathsep.join(p for p in (str(lib), env.get("LD_LIBRARY_PATH", "")) if p)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@contextmanager
def private_engine(start_timeout_s: float = 60.0) -> Iterator[tuple[str, int]]:
    """A private engine on a free port with a temporary data directory (benchmarks); yields (uri, pid) and
    always stops it and deletes its data."""
    lib = install_engine(stack_paths())
    data_dir = tempfile.mkdtemp(prefix="lineup-bench-milvus-")
    port = _free_port()
    proc = subprocess.Popen(engine_command(lib, Path(data_dir) / DB_FILE, HOST, port), cwd=data_dir,
                            env=engine_environment(lib), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + start_timeout_s
        while not (port_open(port, HOST) and _probe(f"http://{HOST}:{port}", PROBE_TIMEOUT_S)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise StackError(f"milvus: the private engine did not start on port {port}")
            time.sleep(0.2)
        yield f"http://{HOST}:{port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


class Milvus(Component):
    """Milvus's engine serving the Milvus gRPC API, data in `.state/data/milvus/lineup.db`."""

    name = "milvus"
    ports = (PORT,)
    start_timeout_s = 60.0

    def __init__(self, paths: StackPaths | None = None) -> None:
        super().__init__(paths)
        self._lib: Path | None = None

    def install(self) -> None:
        self._lib = install_engine(self.paths)

    @property
    def lib(self) -> Path:
        if self._lib is None:
            self._lib = install_engine(self.paths)
        return self._lib

    def command(self) -> list[str]:
        return engine_command(self.lib, self.data_dir / DB_FILE, HOST, PORT)

    def environment(self) -> dict[str, str]:
        return engine_environment(self.lib)

    def healthy(self) -> bool:
        """A real gRPC round trip (ListCollections), not just an open port; False within seconds when down."""
        return port_open(PORT, HOST) and _probe(URI, PROBE_TIMEOUT_S)

    def version(self) -> str:
        return f"milvus-lite-{ENGINE_VERSION} (C++ engine)"


def milvus_uri() -> str:
    """Where services find Milvus: LINEUP_MILVUS_URI, else this local server."""
    return os.environ.get("LINEUP_MILVUS_URI", URI)
