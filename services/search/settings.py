"""Settings of the `search` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings


@dataclass(frozen=True)
class SearchSettings(CommonSettings):
    service_name: str = "search"
    grpc_port: int = 50054
    milvus_uri: str = "http://127.0.0.1:19530"
    milvus_token: str = ""
    milvus_index_type: str = "FLAT"  # exact search locally; HNSW etc. on a cluster (docs/search.md)
    # false: serve the SearchService API only, without consuming lineup.faces.embedded (tests, or an
    # API-only replica); the pipeline stage needs Kafka and the MinIO credentials
    pipeline_stage: bool = True
