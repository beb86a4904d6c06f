"""Settings of the `ingest` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings


@dataclass(frozen=True)
class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    grpc_port: int = 50051
    sync_timeout_s: float = 30.0  # how long a synchronous RPC waits for the pipeline's result
