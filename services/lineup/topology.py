"""Names of the Kafka topics and MinIO buckets the pipeline uses, with their default sizes.

One home for these names so that the services, the provisioning scripts of the local stack and the
Helm chart agree; a deployment may prefix them (LINEUP_TOPIC_PREFIX) to share a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    purpose: str


#: the pipeline's topics, in the order a request travels them (a deployment may prefix them)
IMAGES_TOPIC = "lineup.images"
DETECTED_TOPIC = "lineup.faces.detected"
EMBEDDED_TOPIC = "lineup.faces.embedded"
RESULTS_TOPIC = "lineup.results"
AUDIT_TOPIC = "lineup.audit"
DEADLETTER_TOPIC = "lineup.deadletter"

TOPICS: tuple[Topic, ...] = (
    Topic(IMAGES_TOPIC, 6, "ingest -> detection: an accepted image to process"),
    Topic(DETECTED_TOPIC, 6, "detection -> embedding: aligned face crops to embed"),
    Topic(EMBEDDED_TOPIC, 6, "embedding -> search: face vectors to index or search with"),
    Topic(RESULTS_TOPIC, 6, "search/pipeline -> ingest: the correlated result of a request"),
    Topic(AUDIT_TOPIC, 3, "every service -> audit writer: one record per RPC, allowed or denied"),
    Topic(DEADLETTER_TOPIC, 1, "any consumer: messages that could not be processed, with the reason"),
)

#: original images (enrolled photos under `images/`, search probes under `probes/`), content-addressed by
#: SHA-256 under the owning agency
IMAGES_BUCKET = "lineup-images"
#: aligned face crops, one per face (`<agency>/crops/<request id>/<face index>.png`)
CROPS_BUCKET = "lineup-crops"
#: append-only, hash-chained audit segments
AUDIT_BUCKET = "lineup-audit"
#: request state (pending tasks, results), bulk job manifests, idempotency outcomes, sealing keys, the
#: erasure journal
JOBS_BUCKET = "lineup-jobs"
#: agencies, API key hashes, grants, search records and examiner decisions
ADMIN_BUCKET = "lineup-admin"

BUCKETS: tuple[str, ...] = (IMAGES_BUCKET, CROPS_BUCKET, AUDIT_BUCKET, JOBS_BUCKET, ADMIN_BUCKET)


def topic_names(prefix: str = "") -> list[str]:
    return [prefix + t.name for t in TOPICS]
