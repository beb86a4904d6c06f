"""Settings of the `rekognition` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.identity.sessions import MIN_SIGNING_KEY_LEN
from lineup.settings import HttpFrontSettings, SettingsError, env_name


@dataclass(frozen=True)
class RekognitionSettings(HttpFrontSettings):
    service_name: str = "rekognition"
    #: the gRPC port serves only grpc.health.v1, so Kubernetes and the local stack probe it like every service
    grpc_port: int = 50056
    #: the Rekognition JSON protocol
    http_port: int = 50057
    #: the deployment's session signing key (a Secret shared with ingest); required
    session_signing_key: str = ""
    #: largest request body: a 5 MB image is ~6.7 MB of base64 JSON, two of them (CompareFaces) ~13.4 MB
    max_body_mb: float = 16.0
    http_max_threads: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.session_signing_key and len(self.session_signing_key) < MIN_SIGNING_KEY_LEN:
            raise SettingsError(f"{env_name('session_signing_key')} is too short: use at least "
                                f"{MIN_SIGNING_KEY_LEN} random characters")
        if self.max_body_mb <= 0:
            raise SettingsError(f"{env_name('max_body_mb')} must be > 0")
