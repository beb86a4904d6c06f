"""Entrypoint: `python -m ingest`."""

from __future__ import annotations

from ingest.gateway import PipelineGateway
from ingest.identity import DevHeaderAuthenticator
from ingest.jobs import JobRunner
from ingest.results import ResultWaiter
from ingest.search_client import SearchClient
from ingest.servicer import FaceSearchServicer, image_limits, register
from ingest.settings import IngestSettings
from lineup.grpcserver import ServiceServer
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import ObjectStore
from lineup.pipeline import RESULTS_TOPIC, ResultStore
from lineup.service import run_service


def build(settings: IngestSettings) -> ServiceServer:
    settings.require("minio_access_key", "minio_secret_key")
    store = ObjectStore(settings.minio_endpoint, settings.minio_access_key, settings.minio_secret_key,
                        secure=settings.minio_secure)
    results = ResultStore(store)
    producer = EnvelopeProducer(settings.kafka_bootstrap, client_id="ingest")
    waiter = ResultWaiter(settings.kafka_bootstrap, settings.topic(RESULTS_TOPIC), results)
    search = SearchClient(settings.search_url)
    gateway = PipelineGateway(settings, store, producer, waiter, results)
    jobs = JobRunner(store, gateway, image_limits(settings), concurrency=settings.job_concurrency,
                     lease_s=settings.job_lease_s)
    servicer = FaceSearchServicer(settings, gateway, search, store, jobs)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer),
                         authenticator=DevHeaderAuthenticator(settings.default_agency), workers=[waiter, jobs],
                         closers=[producer.close, search.close])


def main() -> int:
    return run_service(IngestSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
