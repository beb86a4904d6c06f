"""Settings of the `detection` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings


@dataclass(frozen=True)
class DetectionSettings(CommonSettings):
    service_name: str = "detection"
    grpc_port: int = 50052
    max_faces: int = 100
