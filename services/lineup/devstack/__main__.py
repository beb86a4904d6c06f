"""`python -m lineup.devstack up|down|status|clean-data [component ...]`: the local stack's lifecycle."""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from lineup.devstack.base import Component, StackError, stack_paths
from lineup.devstack.components import REGISTRY, load


def _select(names: list[str]) -> list[Component]:
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise StackError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(REGISTRY)}")
    return [load(n) for n in (names or list(REGISTRY))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineup.devstack")
    parser.add_argument("action", choices=["install", "up", "down", "status", "clean-data"])
    parser.add_argument("components", nargs="*", help="default: all (kafka minio milvus triton)")
    args = parser.parse_args(argv)
    try:
        comps = _select(args.components)
        if args.action == "install":
            for c in comps:
                t0 = time.monotonic()
                print(f"[install] {c.name} ...", flush=True)
                c.install()
                print(f"[install] {c.name} ready ({time.monotonic() - t0:.1f}s)", flush=True)
        elif args.action == "up":
            for c in comps:
                t0 = time.monotonic()
                print(f"[up] {c.name} ...", flush=True)
                how = c.start()
                print(f"[up] {c.name} {how}, healthy on 127.0.0.1:{c.ports[0]} ({time.monotonic() - t0:.1f}s)",
                      flush=True)
        elif args.action == "down":
            for c in reversed(comps):
                print(f"[down] {c.name}: {'stopped' if c.stop() else 'not started by us'}", flush=True)
        elif args.action == "status":
            for c in comps:
                print(c.status_line(), flush=True)
        elif args.action == "clean-data":
            for c in reversed(comps):
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
