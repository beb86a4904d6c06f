"""Settings of the `rekognition` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.identity.sessions import MIN_SIGNING_KEY_LEN
from lineup.settings import CommonSettings, SettingsError, env_name


@dataclass(frozen=True)
class RekognitionSettings(CommonSettings):
    service_name: str = "rekognition"
    #: the gRPC port serves only grpc.health.v1, so Kubernetes and the local stack probe it like every service
    grpc_port: int = 50056
    #: the Rekognition JSON protocol (HTTP/1.1; TLS is the ingress's job, like the gRPC front door's)
    http_host: str = "127.0.0.1"
    http_port: int = 50057
    ingest_url: str = "127.0.0.1:50051"
    #: the deployment's session signing key (a Secret shared with ingest); required
    session_signing_key: str = ""
    #: largest request body: a 5 MB image is ~6.7 MB of base64 JSON, two of them (CompareFaces) ~13.4 MB
    max_body_mb: float = 16.0
    #: how long one operation may wait for ingest (IndexFaces/searches run the whole pipeline)
    call_timeout_s: float = 90.0
    #: HTTP requests handled at once; further connections wait in the listen backlog
    http_max_threads: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.http_port < 65536 or self.http_port == self.grpc_port:
            raise SettingsError(f"{env_name('http_port')}={self.http_port}: use a TCP port other than "
                                f"{env_name('grpc_port')}")
        if self.session_signing_key and len(self.session_signing_key) < MIN_SIGNING_KEY_LEN:
            raise SettingsError(f"{env_name('session_signing_key')} is too short: use at least "
                                f"{MIN_SIGNING_KEY_LEN} random characters")
        if self.max_body_mb <= 0 or self.call_timeout_s <= 0 or self.http_max_threads < 1:
            raise SettingsError(f"{env_name('max_body_mb')}, {env_name('call_timeout_s')} and "
                                f"{env_name('http_max_threads')} must be > 0")
