"""Entrypoint: `python -m ingest`."""

from __future__ import annotations

from ingest.servicer import FaceSearchServicer, register
from ingest.settings import IngestSettings
from lineup.grpcserver import ServiceServer
from lineup.service import run_service


def build(settings: IngestSettings) -> ServiceServer:
    servicer = FaceSearchServicer(settings)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer))


def main() -> int:
    return run_service(IngestSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
