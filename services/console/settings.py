"""Settings of the `console` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import HttpFrontSettings, SettingsError, env_name


@dataclass(frozen=True)
class ConsoleSettings(HttpFrontSettings):
    service_name: str = "console"
    #: the gRPC port serves only grpc.health.v1, so Kubernetes and the local stack probe it like every service
    grpc_port: int = 50058
    #: the web pages
    http_port: int = 50059
    #: the front door's CA bundle when it serves TLS (Helm `tls.enabled`); empty: plaintext inside the cluster
    ingest_tls_ca_file: str = ""
    #: the browser reaches the console over HTTPS (an ingress terminates TLS): cookies get the Secure flag
    cookie_secure: bool = False
    #: a session ends after this long without a request, and in any case this long after sign-in
    session_idle_s: int = 900
    session_max_s: int = 8 * 3600
    #: sessions held at once (signed in or signing in); the least recently used one is dropped beyond it
    max_sessions: int = 2000
    #: ... of which one agency may hold at most this many, so one agency cannot lock the others out
    max_sessions_per_agency: int = 500
    #: the largest probe photo a person can upload (ingest's own limit applies as well)
    max_upload_mb: float = 15.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 60 <= self.session_idle_s <= self.session_max_s <= 7 * 24 * 3600:
            raise SettingsError(f"{env_name('session_idle_s')} and {env_name('session_max_s')}: use 60 <= idle <= "
                                "max <= 604800 seconds")
        if not 1 <= self.max_sessions_per_agency <= self.max_sessions:
            raise SettingsError(f"{env_name('max_sessions')} and {env_name('max_sessions_per_agency')}: use 1 <= "
                                "per agency <= in all")
        if not 0 < self.max_upload_mb <= 64:
            raise SettingsError(f"{env_name('max_upload_mb')}={self.max_upload_mb}: use (0, 64]")
