"""Entrypoint: `python -m rekognition`.

Explicit wiring: the HTTP endpoint (a worker of the service) translates Rekognition calls into ingest's public
gRPC API; the gRPC port serves only health, with the internal authenticator so nothing else is reachable there.
"""

from __future__ import annotations

from lineup.auth import InternalAuthenticator
from lineup.grpcserver import ServiceServer
from lineup.service import run_service
from rekognition import model
from rekognition.server import Endpoint, IngestClient, http_worker
from rekognition.settings import RekognitionSettings


def build(settings: RekognitionSettings) -> ServiceServer:
    settings.require("internal_token", "session_signing_key")
    model.service_model()  # fail at start-up, not on the first call, if botocore's model is missing
    ingest = IngestClient(settings.ingest_url, settings.internal_token, settings.call_timeout_s)
    http = http_worker(settings, Endpoint(settings, ingest))
    return ServiceServer(settings=settings, register=lambda server: [],
                         authenticator=InternalAuthenticator(settings.internal_token), workers=[http],
                         closers=[http.close, ingest.close])


def main() -> int:
    return run_service(RekognitionSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
