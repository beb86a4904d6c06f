"""Settings of the `ingest` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings, SettingsError, env_name


@dataclass(frozen=True)
class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    grpc_port: int = 50051
    sync_timeout_s: float = 30.0  # how long a synchronous RPC waits for the pipeline's result
    search_url: str = "127.0.0.1:50054"  # the search service (collections, faces, users)
    max_image_mb: float = 15.0
    max_image_megapixels: float = 64.0
    # Until API keys exist (accountability issue), the caller's agency comes from the
    # `x-lineup-agency` metadata header. Only for a loopback deployment; see docs/api.md.
    job_lease_s: float = 60.0  # a bulk job whose owner has not reported for this long is resumed by another replica
    job_concurrency: int = 4  # images of a bulk job in flight at once
    auth_mode: str = "dev-header"
    default_agency: str = "demo"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sync_timeout_s <= 0:
            raise SettingsError(f"{env_name('sync_timeout_s')} must be > 0 seconds")
        if self.auth_mode not in {"dev-header"}:
            raise SettingsError(f"{env_name('auth_mode')}={self.auth_mode!r}: supported: dev-header")
