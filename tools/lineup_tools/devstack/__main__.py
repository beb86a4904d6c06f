"""`python -m lineup_tools.devstack up|down|status|clean-data [component ...]`: the local stack's lifecycle.

`python -m lineup_tools.devstack services up|down|status [service[@n] ...]` does the same for Lineup's own
services (ingest, detection, embedding, search; `detection@2` is a second replica). `services up`
first makes sure the infrastructure is up, since every service needs it. `status` and `down` without
arguments cover both the infrastructure and the services (services are stopped first).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from lineup_tools.devstack.base import Component, StackError, stack_paths
from lineup_tools.devstack.components import REGISTRY, load
from lineup_tools.devstack.services import SERVICE_PORTS, ServiceProcess, known_services, load_service


def _select(names: list[str]) -> list[Component]:
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise StackError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(REGISTRY)}")
    return [load(n) for n in (names or list(REGISTRY))]


def _up(comps: list[Component]) -> None:
    for c in comps:
        t0 = time.monotonic()
        print(f"[up] {c.name} ...", flush=True)
        how = c.start()
        print(f"[up] {c.name} {how}, healthy on 127.0.0.1:{c.ports[0]} ({time.monotonic() - t0:.1f}s)",
              flush=True)


def _down(comps: list[Component]) -> None:
    for c in reversed(comps):
        print(f"[down] {c.name}: {'stopped' if c.stop() else 'not started by us'}", flush=True)


def _services(argv: list[str]) -> None:
    """`services up|down|status [service[@n] ...]`; no names: the four services (down: also replicas)."""
    if not argv or argv[0] not in ("up", "down", "status"):
        raise StackError("usage: python -m lineup_tools.devstack services up|down|status [service[@n] ...] "
                         f"(services: {', '.join(SERVICE_PORTS)})")
    action, specs = argv[0], argv[1:]
    procs: list[ServiceProcess] = [load_service(s) for s in specs]
    if action == "up":
        _up(_select([]))  # every service needs Kafka, MinIO, Milvus and Triton
        _up(list(procs or [ServiceProcess(s) for s in SERVICE_PORTS]))
    elif action == "down":
        _down(list(procs or known_services()))
    else:
        for p in procs or known_services():
            print(p.status_line(), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lineup_tools.devstack",
        epilog="services: python -m lineup_tools.devstack services up|down|status [service[@n] ...]")
    parser.add_argument("action", choices=["install", "up", "down", "status", "clean-data", "services"])
    parser.add_argument("components", nargs="*",
                        help="default: all (kafka minio milvus triton); for `services`: up|down|status "
                             f"then services ({' '.join(SERVICE_PORTS)}, replicas as detection@2)")
    args = parser.parse_args(argv)
    try:
        if args.action == "services":
            _services(args.components)
            return 0
        comps = _select(args.components)
        if args.action == "install":
            for c in comps:
                t0 = time.monotonic()
                print(f"[install] {c.name} ...", flush=True)
                c.install()
                print(f"[install] {c.name} ready ({time.monotonic() - t0:.1f}s)", flush=True)
        elif args.action == "up":
            _up(comps)
        elif args.action == "down":
            # whole stack: the services first, so none of them is left talking to stopped infrastructure
            _down([*comps, *known_services()] if not args.components else comps)
        elif args.action == "status":
            for c in comps:
                print(c.status_line(), flush=True)
            if not args.components:
                for p in known_services():
                    print(p.status_line(), flush=True)
        elif args.action == "clean-data":
            for c in [*reversed(known_services()), *reversed(comps)]:
                c.stop()
            data = stack_paths().data_dir
            shutil.rmtree(data, ignore_errors=True)
            print(f"[clean-data] removed {data}")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
