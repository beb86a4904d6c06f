"""Settings of the `search` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings, SettingsError, env_name


@dataclass(frozen=True)
class SearchSettings(CommonSettings):
    service_name: str = "search"
    grpc_port: int = 50054
    milvus_uri: str = "http://127.0.0.1:19530"
    milvus_token: str = ""
    milvus_index_type: str = "FLAT"  # exact search locally; HNSW etc. on a cluster (docs/search.md)
    # how agencies are kept apart: "collection" (agency prefix in every collection name; any Milvus, and
    # the only layout the embedded engine supports) or "database" (one database per agency; clusters)
    milvus_tenancy: str = "collection"
    # false: serve the SearchService API only, without consuming lineup.faces.embedded (tests, or an
    # API-only replica); the pipeline stage needs Kafka and the MinIO credentials
    pipeline_stage: bool = True
    #: embedded-face messages handled at once by the pipeline stage
    stage_concurrency: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.stage_concurrency <= 64:
            raise SettingsError(f"{env_name('stage_concurrency')}={self.stage_concurrency}: use 1..64")
