"""Kafka wiring of the audit writer: consumer group `<prefix>audit` on `<prefix>lineup.audit`, in batches."""

from __future__ import annotations

import logging

from audit.settings import AuditSettings
from audit.writer import AuditWriter, StoreOutage
from lineup.kafka.consumer import BatchEnvelopeConsumer
from lineup.kafka.deadletter import DeadLetterPublisher
from lineup.kafka.producer import EnvelopeProducer
from lineup.topology import AUDIT_TOPIC, DEADLETTER_TOPIC

log = logging.getLogger(__name__)



class AuditWorker:
    """The consumer loop as a ServiceServer worker. A StoreOutage ends the loop without committing: while
    stopping that is a clean exit (Kafka keeps the records); otherwise it is a crash, which stops the
    process so the orchestrator restarts it from the committed offsets."""

    def __init__(self, consumer: BatchEnvelopeConsumer, writer: AuditWriter) -> None:
        self.consumer = consumer
        self.writer = writer

    def run(self) -> None:
        try:
            self.consumer.run()
        except StoreOutage as exc:
            if self.writer.stopping.is_set():
                log.warning("stopped while the object store was unavailable; uncommitted records will be "
                            "replayed", extra={"error": str(exc)})
                return
            raise RuntimeError(str(exc)) from exc

    def stop(self) -> None:
        self.writer.stopping.set()
        self.consumer.stop()


def build_consumer(settings: AuditSettings, writer: AuditWriter, producer: EnvelopeProducer) -> AuditWorker:
    name = settings.service_name
    consumer = BatchEnvelopeConsumer(
        bootstrap=settings.kafka_bootstrap, group_id=settings.topic_prefix + name,
        topics=[settings.topic(AUDIT_TOPIC)], handler=writer.handle,
        dead_letters=DeadLetterPublisher(producer, topic=settings.topic(DEADLETTER_TOPIC), service=name),
        client_id=name, max_batch_records=settings.audit_batch_max_records,
        linger_ms=settings.audit_batch_linger_ms)
    return AuditWorker(consumer, writer)
