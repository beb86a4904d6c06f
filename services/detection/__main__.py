"""Entrypoint: `python -m detection`."""

from __future__ import annotations

from detection.servicer import DetectionServiceServicer, register
from detection.settings import DetectionSettings
from lineup.grpcserver import ServiceServer
from lineup.service import run_service


def build(settings: DetectionSettings) -> ServiceServer:
    servicer = DetectionServiceServicer(settings)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer))


def main() -> int:
    return run_service(DetectionSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
