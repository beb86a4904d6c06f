"""Entrypoint: `python -m search`."""

from __future__ import annotations

from lineup.grpcserver import ServiceServer
from lineup.service import run_service
from search.servicer import SearchServiceServicer, register
from search.settings import SearchSettings


def build(settings: SearchSettings) -> ServiceServer:
    servicer = SearchServiceServicer(settings)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer))


def main() -> int:
    return run_service(SearchSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
