"""Settings of the `embedding` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings


@dataclass(frozen=True)
class EmbeddingSettings(CommonSettings):
    service_name: str = "embedding"
    grpc_port: int = 50053
    triton_url: str = "127.0.0.1:8001"  # gRPC endpoint of Triton (local CPU server or a GPU cluster)
