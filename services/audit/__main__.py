"""Entrypoint: `python -m audit` (the audit writer: the `lineup.audit` consumer plus gRPC health)."""

from __future__ import annotations

from audit.consumer import build_consumer
from audit.settings import AuditSettings
from audit.writer import AuditWriter
from lineup.audit.segments import AuditLog
from lineup.auth import InternalAuthenticator
from lineup.grpcserver import ServiceServer
from lineup.kafka.producer import EnvelopeProducer
from lineup.objectstore import ObjectStore
from lineup.service import run_service


def build(settings: AuditSettings) -> ServiceServer:
    """Missing object-store credentials stop the process (exit 2) before it connects anywhere. Kafka is
    connected here, so a writer that cannot reach it exits and is restarted instead of idling."""
    settings.require("minio_access_key", "minio_secret_key", "internal_token")
    store = ObjectStore.from_settings(settings)
    writer = AuditWriter(AuditLog(store, settings.audit_bucket), dedupe_window=settings.audit_dedupe_window,
                         store_retry_s=settings.audit_store_retry_s)
    producer = EnvelopeProducer.from_settings(settings)
    try:
        worker = build_consumer(settings, writer, producer)
    except BaseException:
        producer.close()
        raise
    return ServiceServer(settings=settings, register=lambda server: [],
                         authenticator=InternalAuthenticator(settings.internal_token),
                         workers=[worker], closers=[producer.close])


def main() -> int:
    return run_service(AuditSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
