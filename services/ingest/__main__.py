"""Entrypoint: `python -m ingest`."""

from __future__ import annotations

import grpc

from ingest import admin_api, audit_api, review_api, sessions_api
from ingest.access import Access
from ingest.erasure import Eraser
from ingest.evidence import EvidenceImages
from ingest.face_search_api import FaceSearchServicer, image_limits, register
from ingest.gateway import PipelineGateway
from ingest.idempotency import IdempotencyStore
from ingest.jobs import JobRunner
from ingest.results import ResultWaiter
from ingest.retention import RetentionSweeper
from ingest.reviews import SearchRecords
from ingest.search_client import SearchClient
from ingest.settings import IngestSettings
from lineup.audit.emit import AuditEmitter
from lineup.audit.segments import AuditLog
from lineup.errors import NotFound
from lineup.grpcserver import ServiceServer
from lineup.identity.authenticator import ApiKeyAuthenticator
from lineup.identity.store import IdentityStore
from lineup.kafka.producer import EnvelopeProducer
from lineup.kafka.sealing import install_store_sealer
from lineup.objectstore import ObjectStore
from lineup.pipeline import ResultStore
from lineup.service import run_service
from lineup.topology import AUDIT_TOPIC, RESULTS_TOPIC
from lineup.v1 import search_pb2


def build(settings: IngestSettings) -> ServiceServer:
    settings.require("minio_access_key", "minio_secret_key", "bootstrap_admin_key", "internal_token")
    store = ObjectStore.from_settings(settings)
    results = ResultStore(store)
    sealer = install_store_sealer(store)  # pipeline payloads are sealed per request (crypto-shredding)
    producer = EnvelopeProducer.from_settings(settings)
    waiter = ResultWaiter(settings.kafka_bootstrap, settings.topic(RESULTS_TOPIC), results)
    search = SearchClient(settings.search_url, internal_token=settings.internal_token)
    gateway = PipelineGateway(settings, store, producer, waiter, results)
    identities = IdentityStore(store)
    searches = SearchRecords(store)
    idempotency = IdempotencyStore(store, ttl_s=settings.idempotency_ttl_s,
                                   claim_lease_s=settings.sync_timeout_s * 2 + 60)
    eraser = Eraser(store, search, sealer.keys, searches, idempotency)
    jobs = JobRunner(store, gateway, image_limits(settings), identities, concurrency=settings.job_concurrency,
                     lease_s=settings.job_lease_s, not_enrolled=eraser.discard_enrolment)
    auditor = AuditEmitter(producer, settings.topic(AUDIT_TOPIC), "ingest")
    access = Access(identities)
    servicer = FaceSearchServicer(settings, gateway, search, store, jobs, access, searches, eraser)
    session_api = sessions_api.SessionsServicer(identities, access, settings.session_signing_key)
    admin = admin_api.AdminServicer(identities, lambda agency, cid: _collection_exists(search, agency, cid))
    images = EvidenceImages(store, results, search, searches, access,
                            auditors_see_images=settings.auditor_image_access)
    review = review_api.ReviewServicer(searches, images)
    audit = audit_api.AuditServicer(AuditLog(store))
    retention = RetentionSweeper(identities, store, search, auditor, eraser, interval_s=settings.retention_interval_s,
                                 day_s=settings.retention_day_s)

    def register_all(server: grpc.Server) -> list[str]:
        return [*register(server, servicer), *admin_api.register(server, admin),
                *review_api.register(server, review), *audit_api.register(server, audit),
                *sessions_api.register(server, session_api)]

    return ServiceServer(settings=settings, register=register_all,
                         authenticator=ApiKeyAuthenticator(identities, settings.bootstrap_admin_key,
                                                           settings.internal_token), auditor=auditor,
                         idempotency=idempotency,
                         workers=[waiter, jobs, retention], closers=[producer.close, search.close],
                         readiness=[producer.ready])


def _collection_exists(search: SearchClient, agency_id: str, collection_id: str) -> bool:
    try:
        search.call("DescribeCollection", search_pb2.DescribeVectorCollectionRequest(
            agency_id=agency_id, collection_id=collection_id, pin_only=True))
        return True
    except NotFound:
        return False


def main() -> int:
    return run_service(IngestSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
