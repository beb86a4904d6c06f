"""Entrypoint: `python -m embedding`."""

from __future__ import annotations

from embedding.servicer import EmbeddingServiceServicer, register
from embedding.settings import EmbeddingSettings
from lineup.grpcserver import ServiceServer
from lineup.service import run_service


def build(settings: EmbeddingSettings) -> ServiceServer:
    servicer = EmbeddingServiceServicer(settings)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer))


def main() -> int:
    return run_service(EmbeddingSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
