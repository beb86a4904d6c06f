"""Lineup's own services (ingest, detection, embedding, search, audit) as local stack processes.

They are launched exactly like the infrastructure components (detached, a pid file, a log under
`.state/logs/`, health waited on), so `make demo`, the integration tests and a developer's shell all
get the same processes and `down` stops only what was started here. Health is the standard
`grpc.health.v1` probe every Lineup server answers, i.e. the same check Kubernetes makes.

Replicas: `detection@2` is a second detection process on its own port and pid file. The pipeline
scales by consumer groups, so tests that need two consumers (or two front doors) start replicas with
the same launcher. Replica n of a service listens on `base port + REPLICA_PORT_STEP * (n - 1)`; the
base ports end in different digits, so no two replicas of any services collide.
"""

from __future__ import annotations

import os
import re
import sys
import time
from importlib import metadata
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from lineup_tools.devstack.accounts import bootstrap_key, internal_token, session_signing_key
from lineup_tools.devstack.base import Component, StackError, StackPaths, stack_paths
from lineup_tools.devstack.minio import credentials

#: service -> base gRPC port, in start order: downstream first, so each stage's consumer is listening
#: before anything can publish to it, and the front door (ingest) comes last.
SERVICE_PORTS: dict[str, int] = {"search": 50054, "embedding": 50053, "detection": 50052, "audit": 50055,
                                  "ingest": 50051, "rekognition": 50056, "console": 50058}
#: services with an HTTP port beside their (health-only) gRPC port: the HTTP port is the gRPC port + 1
HTTP_SERVICES = ("rekognition", "console")
HTTP_PORT_OFFSET = 1
REPLICA_PORT_STEP = 10
MAX_REPLICA = 50
HOST = "127.0.0.1"

_SPEC = re.compile(r"^(?P<service>[a-z]+)(?:@(?P<replica>\d+))?$")


def replica_port(service: str, replica: int) -> int:
    """The gRPC port of replica `replica` (1-based) of `service`."""
    return SERVICE_PORTS[service] + REPLICA_PORT_STEP * (replica - 1)


def parse_spec(spec: str) -> tuple[str, int]:
    """`detection@2` -> ("detection", 2); `search` -> ("search", 1). Raises StackError on anything else."""
    m = _SPEC.match(spec)
    if m is None or m["service"] not in SERVICE_PORTS:
        raise StackError(f"unknown service {spec!r}; choose from {', '.join(SERVICE_PORTS)} "
                         f"(a replica as <service>@<n>, e.g. detection@2)")
    replica = int(m["replica"] or 1)
    if not 1 <= replica <= MAX_REPLICA:
        raise StackError(f"{spec}: replica must be 1..{MAX_REPLICA}")
    return m["service"], replica


def grpc_serving(target: str, timeout_s: float = 1.0, service: str = "") -> bool:
    """Whether the gRPC server at `target` answers the health check with SERVING. Never raises:
    a refused connection, a timeout or an UNIMPLEMENTED health service all mean "not healthy"."""
    try:
        with grpc.insecure_channel(target) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
            return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)
    except Exception:  # grpc.RpcError, or a channel error: both mean not serving
        return False


class ServiceProcess(Component):
    """One replica of one Lineup service, run as `python -m <service>` from the project virtualenv."""

    start_timeout_s = 90.0  # imports + Kafka/MinIO connections; a 2-core machine needs ~10 s

    def __init__(self, service: str, replica: int = 1, paths: StackPaths | None = None) -> None:
        if service not in SERVICE_PORTS:
            raise StackError(f"unknown service {service!r}; choose from {', '.join(SERVICE_PORTS)}")
        super().__init__(paths)
        self.service = service
        self.replica = replica
        self.name = service if replica == 1 else f"{service}@{replica}"
        self.port = replica_port(service, replica)
        self.ports = (self.port, self.port + HTTP_PORT_OFFSET) if service in HTTP_SERVICES else (self.port,)

    @property
    def target(self) -> str:
        return f"{HOST}:{self.port}"

    def install(self) -> None:
        """Nothing to download: the services are the project's own package, installed by `make install`."""

    def command(self) -> list[str]:
        # sys.executable: the interpreter running the launcher, i.e. the project virtualenv
        return [sys.executable, "-m", self.service]

    @property
    def data_dir(self) -> Path:
        # Run from the repository root (not a data folder): the services keep no local state, and
        # relative defaults such as the model repository resolve as they do in a developer's shell.
        return self.paths.repo_root

    def environment(self) -> dict[str, str]:
        env = super().environment()
        access, secret = credentials()
        env.setdefault("LINEUP_MINIO_ACCESS_KEY", access)
        env.setdefault("LINEUP_MINIO_SECRET_KEY", secret)
        env.setdefault("LINEUP_INTERNAL_TOKEN", internal_token(self.paths))  # every service: server and client
        if self.service == "ingest":
            env.setdefault("LINEUP_BOOTSTRAP_ADMIN_KEY", bootstrap_key(self.paths))
        if self.service in ("ingest", "rekognition"):
            env.setdefault("LINEUP_SESSION_SIGNING_KEY", session_signing_key(self.paths))
        if self.service in HTTP_SERVICES:
            env["LINEUP_HTTP_PORT"] = str(self.port + HTTP_PORT_OFFSET)
            env.setdefault("LINEUP_INGEST_URL", f"{HOST}:{SERVICE_PORTS['ingest']}")
        if self.service == "console":  # it holds no credential of its own: each person's key is theirs
            env = console_environment(env)
        env["LINEUP_GRPC_PORT"] = str(self.port)
        env["LINEUP_REPLICA"] = str(self.replica)  # informational; unknown LINEUP_* are ignored by settings
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def start(self) -> str:
        """Start it, first freeing its ports from outgoing connections of our own services.

        The fixed ports (50051-50057) lie inside Linux's ephemeral range (32768-60999), and the kernel picks
        the source ports of connections to one destination (Kafka) in a walk that can cross them: a service
        started earlier may hold e.g. 50056 as the source port of its Kafka connection, and the service that
        must listen there then fails to bind. Such a holder is restarted after this service has bound its
        port (its new connections take other ports); a holder that is not ours is reported, with the remedy."""
        if self.running():
            return super().start()
        if not any(port_in_use(port) for port in self.ports):
            return super().start()
        holders = {pid for port in self.ports for pid in outgoing_port_holders(port)}
        ours = [s for s in known_services(self.paths) if s.name != self.name and s.pid() in holders]
        foreign = holders - {s.pid() for s in ours}
        if foreign:
            raise StackError(
                f"{self.name}: port {'/'.join(map(str, self.ports))} on {HOST} is the source port of an outgoing "
                f"connection of process {', '.join(map(str, sorted(foreign)))}; retry once it has closed, or keep "
                f"the kernel from handing it out: sysctl -w net.ipv4.ip_local_reserved_ports=50051-50120")
        for other in ours:
            print(f"[up] {other.name} holds port {self.port} as the source of an outgoing connection; "
                  f"restarting it after {self.name}", flush=True)
            other.stop()
        # the closed connection lingers in TIME_WAIT (60 s on Linux), which still blocks the bind
        deadline = time.monotonic() + 75
        while any(port_in_use(port) for port in self.ports) and time.monotonic() < deadline:
            print(f"[up] {self.name}: waiting for port {self.port} to leave TIME_WAIT", flush=True)
            time.sleep(5)
        try:
            return super().start()
        finally:
            for other in ours:
                other.start()

    def healthy(self) -> bool:
        return grpc_serving(self.target)

    def version(self) -> str:
        try:
            return f"lineup {metadata.version('lineup')}"
        except metadata.PackageNotFoundError:
            return "lineup (source)"

    def status_line(self) -> str:
        ours = self.running()
        up = self.healthy()
        state = "up" if up else ("starting" if ours else "down")
        owner = "" if not up else (" (started by devstack)" if ours else " (external)")
        version = self.version() if up else "-"
        return f"{self.name:<12} {state:<5} port {self.port:<6} version {version}{owner}"


def console_environment(env: dict[str, str]) -> dict[str, str]:
    """The console's environment by allowlist: the process basics and the console's own settings, never a
    secret the shell or the launcher happens to hold (internal token, object-store keys, bootstrap key)."""
    from dataclasses import fields

    from console.settings import ConsoleSettings
    from lineup.settings import env_name

    secrets = {"internal_token", "minio_access_key", "minio_secret_key"}
    wanted = {env_name(f.name) for f in fields(ConsoleSettings) if f.name not in secrets}
    basics = {"PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "PYTHONUNBUFFERED"}
    return {k: v for k, v in env.items() if k in basics or k in wanted}


def _sockets_on(port: int) -> list[list[str]]:
    """The non-listening TCP sockets with local port `port` (Linux /proc; none elsewhere). State 0A is LISTEN:
    a listener is a real port conflict, reported by Component.start, not this case."""
    found: list[list[str]] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] != "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                found.append(fields)
    return found


def port_in_use(port: int) -> bool:
    """Whether a connection (in any state, TIME_WAIT included) still uses `port` as its local port."""
    return bool(_sockets_on(port))


def outgoing_port_holders(port: int) -> set[int]:
    """Pids whose open, non-listening TCP sockets use local port `port`."""
    inodes = {fields[9] for fields in _sockets_on(port)}
    inodes.discard("0")  # TIME_WAIT: no process holds it any more
    if not inodes:
        return set()
    wanted = {f"socket:[{i}]" for i in inodes}
    pids: set[int] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in wanted for fd in (proc / "fd").iterdir()):
                pids.add(int(proc.name))
        except OSError:
            continue
    return pids


def load_service(spec: str) -> ServiceProcess:
    service, replica = parse_spec(spec)
    return ServiceProcess(service, replica)


def all_services() -> list[ServiceProcess]:
    """The first replica of every service, in start order."""
    return [ServiceProcess(s) for s in SERVICE_PORTS]


def started_replicas(paths: StackPaths | None = None) -> list[ServiceProcess]:
    """Every extra replica (`<service>@n`) that has a pid file, in start order; `down` stops them too."""
    paths = paths or stack_paths()
    found: list[ServiceProcess] = []
    for pid_file in sorted(paths.run_dir.glob("*@*.pid")):
        try:
            service, replica = parse_spec(pid_file.stem)
        except StackError:
            continue
        if replica > 1:
            found.append(ServiceProcess(service, replica, paths))
    order = list(SERVICE_PORTS)
    return sorted(found, key=lambda p: (order.index(p.service), p.replica))


def known_services(paths: StackPaths | None = None) -> list[ServiceProcess]:
    """The four base services plus every replica with a pid file, in start order."""
    base = [ServiceProcess(s, 1, paths) for s in SERVICE_PORTS]
    order = list(SERVICE_PORTS)
    return sorted([*base, *started_replicas(paths)], key=lambda p: (order.index(p.service), p.replica))


def ingest_ready(target: str | None = None) -> bool:
    """Whether the public front door answers health checks (used by the demo before it starts)."""
    return grpc_serving(target or os.environ.get("LINEUP_ENDPOINT", f"{HOST}:{SERVICE_PORTS['ingest']}"))

