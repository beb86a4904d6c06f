"""Shared machinery for local stack components: cache/state paths, pid files, ports, health waiting.

Every component is a real server process started detached from the caller, so `make up` can return
while the stack keeps running and `make down` can later stop exactly what it started (pid files).
"""

from __future__ import annotations

import abc
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from lineup.modelkit.backends import local_cache_dir


class StackError(RuntimeError):
    """A problem a person must fix (missing tool, taken port, failed download); printed as one line."""


@dataclass(frozen=True)
class StackPaths:
    repo_root: Path
    cache_dir: Path  # downloads and builds, reused across clones (outside the checkout)
    state_dir: Path  # data, logs and pid files of this checkout's running stack

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def data_dir(self) -> Path:
        return self.state_dir / "data"


def stack_paths() -> StackPaths:
    repo_root = Path(__file__).resolve().parents[3]
    cache = local_cache_dir()
    state = Path(os.environ.get("LINEUP_STATE_DIR", repo_root / ".state")).expanduser()
    for d in (cache, state / "run", state / "logs", state / "data"):
        d.mkdir(parents=True, exist_ok=True)
    return StackPaths(repo_root=repo_root, cache_dir=cache, state_dir=state)


def require_tool(tool: str, hint: str) -> str:
    path = shutil.which(tool)
    if not path:
        raise StackError(f"`{tool}` is not installed or not on PATH: {hint}")
    return path


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run_checked(cmd: list[str], what: str, *, cwd: Path | None = None, env: dict[str, str] | None = None,
                log: Path | None = None, timeout: float | None = None) -> None:
    """Run an install/build step; on failure raise a one-line error that points at the log."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"{what} timed out after {timeout:.0f}s" + (f" (log: {log})" if log else "")) from exc
    finally:
        if log:
            out.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise StackError(f"{what} failed with exit code {proc.returncode}" + (f" (log: {log})" if log else ""))


class Component(abc.ABC):
    """One server of the local stack. Subclasses say how to install, launch and probe it."""

    name: str = ""
    #: ports the process binds on 127.0.0.1; the first is the one printed by `make status`
    ports: tuple[int, ...] = ()
    start_timeout_s: float = 120.0

    def __init__(self, paths: StackPaths | None = None) -> None:
        self.paths = paths or stack_paths()

    # --- what subclasses provide -------------------------------------------------------------
    @abc.abstractmethod
    def install(self) -> None:
        """Download/build into the cache, idempotently; fast when already done."""

    @abc.abstractmethod
    def command(self) -> list[str]:
        """The argv of the server process (run from the component's data directory)."""

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def prepare(self) -> None:
        """One-time preparation of the data directory before the first start (e.g. format storage)."""

    @abc.abstractmethod
    def healthy(self) -> bool:
        """A real protocol-level probe, not just an open port."""

    def version(self) -> str:
        return "?"

    def post_start(self) -> None:
        """Idempotent provisioning once healthy (topics, buckets)."""

    # --- lifecycle ----------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        d = self.paths.data_dir / self.name
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def pid_file(self) -> Path:
        return self.paths.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.paths.log_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """The pid we started, if that process is still alive."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def running(self) -> bool:
        return self.pid() is not None

    def start(self) -> str:
        """Start if not already up; returns 'started', 'running' (ours) or 'external' (healthy, not ours)."""
        if self.running():
            self.wait_healthy()
            self.post_start()
            return "running"
        taken = [p for p in self.ports if port_open(p)]
        if taken:
            if self.healthy():
                self.post_start()
                return "external"
            raise StackError(
                f"{self.name}: port {taken[0]} on 127.0.0.1 is already taken by another program; "
                f"stop it or free the port (see `ss -ltnp 'sport = :{taken[0]}'`)")
        self.install()
        self.prepare()
        log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        proc = subprocess.Popen(self.command(), cwd=self.data_dir, env=self.environment(), stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.pid_file.write_text(str(proc.pid))
        self.wait_healthy(proc)
        self.post_start()
        return "started"

    def wait_healthy(self, proc: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise StackError(f"{self.name} exited with code {proc.returncode} while starting "
                                 f"(log: {self.log_file})")
            if self.healthy():
                return
            time.sleep(0.5)
        raise StackError(f"{self.name} not healthy after {self.start_timeout_s:.0f}s (log: {self.log_file})")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop only a process we started (pid file); returns whether one was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.pid() is not None:
            time.sleep(0.2)
            _reap(pid)
        if self.pid() is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)
            _reap(pid)
        self.pid_file.unlink(missing_ok=True)
        return True

    def status_line(self) -> str:
        ours = self.running()
        up = self.healthy()
        state = "up" if up else "down"
        owner = "" if not up else (" (started by make up)" if ours else " (external)")
        version = self.version() if up else "-"
        return f"{self.name:<8} {state:<5} port {self.ports[0]:<6} version {version}{owner}"


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
