"""Settings of the `console` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings, SettingsError, env_name


@dataclass(frozen=True)
class ConsoleSettings(CommonSettings):
    service_name: str = "console"
    #: the gRPC port serves only grpc.health.v1, so Kubernetes and the local stack probe it like every service
    grpc_port: int = 50058
    #: the web pages (HTTP/1.1; TLS is the ingress's job, like the gRPC front door's)
    http_host: str = "127.0.0.1"
    http_port: int = 50059
    #: the public gRPC API the console calls with the signed-in person's API key
    ingest_url: str = "127.0.0.1:50051"
    #: the front door's CA bundle when it serves TLS (Helm `tls.enabled`); empty: plaintext inside the cluster
    ingest_tls_ca_file: str = ""
    #: the browser reaches the console over HTTPS (an ingress terminates TLS): cookies get the Secure flag
    cookie_secure: bool = False
    #: a session ends after this long without a request, and in any case this long after sign-in
    session_idle_s: int = 900
    session_max_s: int = 8 * 3600
    #: sessions held at once (signed in or signing in); the oldest idle one is dropped beyond it
    max_sessions: int = 2000
    #: the largest probe photo a person can upload (ingest's own limit applies as well)
    max_upload_mb: float = 15.0
    #: how long one page may wait for the API (a search runs the whole pipeline)
    call_timeout_s: float = 90.0
    http_max_threads: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.http_port < 65536 or self.http_port == self.grpc_port:
            raise SettingsError(f"{env_name('http_port')}={self.http_port}: use a TCP port other than "
                                f"{env_name('grpc_port')}")
        if not 60 <= self.session_idle_s <= self.session_max_s <= 7 * 24 * 3600:
            raise SettingsError(f"{env_name('session_idle_s')} and {env_name('session_max_s')}: use 60 <= idle <= "
                                "max <= 604800 seconds")
        if self.max_sessions < 1 or self.http_max_threads < 1 or self.call_timeout_s <= 0:
            raise SettingsError(f"{env_name('max_sessions')}, {env_name('http_max_threads')} and "
                                f"{env_name('call_timeout_s')} must be > 0")
        if not 0 < self.max_upload_mb <= 64:
            raise SettingsError(f"{env_name('max_upload_mb')}={self.max_upload_mb}: use (0, 64]")
