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


TOPICS: tuple[Topic, ...] = (
    Topic("lineup.images", 6, "ingest -> detection: an accepted image to process"),
    Topic("lineup.faces.detected", 6, "detection -> embedding: aligned face crops to embed"),
    Topic("lineup.faces.embedded", 6, "embedding -> search: face vectors to index or search with"),
    Topic("lineup.results", 6, "search/pipeline -> ingest: the correlated result of a request"),
    Topic("lineup.audit", 3, "every service -> audit writer: one record per RPC, allowed or denied"),
    Topic("lineup.deadletter", 1, "any consumer: messages that could not be processed, with the reason"),
)

BUCKETS: tuple[str, ...] = (
    "lineup-images",  # original images, content-addressed by SHA-256 under the owning agency
    "lineup-crops",  # aligned face crops
    "lineup-audit",  # append-only, hash-chained audit segments
    "lineup-jobs",  # bulk index manifests and job state
    "lineup-admin",  # agencies, API key hashes, grants, search records and examiner decisions
)


def topic_names(prefix: str = "") -> list[str]:
    return [prefix + t.name for t in TOPICS]
