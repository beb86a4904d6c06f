"""Settings of the `ingest` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.identity.keys import MIN_BOOTSTRAP_LEN
from lineup.identity.sessions import MIN_SIGNING_KEY_LEN
from lineup.settings import CommonSettings, SettingsError, env_name


@dataclass(frozen=True)
class IngestSettings(CommonSettings):
    service_name: str = "ingest"
    grpc_port: int = 50051
    sync_timeout_s: float = 30.0  # how long a synchronous RPC waits for the pipeline's result
    search_url: str = "127.0.0.1:50054"  # the search service (collections, faces, users)
    max_image_mb: float = 15.0
    job_lease_s: float = 60.0  # a bulk job whose owner has not reported for this long is resumed by another replica
    job_concurrency: int = 4  # images of a bulk job in flight at once
    # The deployment's bootstrap admin credential (a Secret): creates agencies and their first keys.
    # Required at start-up; there is deliberately no default.
    bootstrap_admin_key: str = ""
    retention_interval_s: float = 3600.0  # how often each replica sweeps expired probes and faces
    retention_day_s: float = 86400.0  # length of a retention "day"; tests and demos shorten it
    #: how long a client's idempotency key (x-request-id) replays the original outcome
    idempotency_ttl_s: float = 86400.0
    #: the deployment's session signing key (a Secret shared with the rekognition service): session secrets are
    #: derived from it and never stored. Empty: Sessions.CreateSession is refused (no Rekognition endpoint).
    session_signing_key: str = ""
    #: whether the agency's auditors may see the face images of its searches (Review.GetProbeImage and
    #: GetCandidateImage); reviewers and the searcher of a search always may. Off by default: an audit of
    #: who did what rarely needs the faces themselves
    auditor_image_access: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sync_timeout_s <= 0:
            raise SettingsError(f"{env_name('sync_timeout_s')} must be > 0 seconds")
        if self.bootstrap_admin_key and len(self.bootstrap_admin_key) < MIN_BOOTSTRAP_LEN:
            raise SettingsError(f"{env_name('bootstrap_admin_key')} is too short: use at least {MIN_BOOTSTRAP_LEN} "
                                f"random characters (e.g. `openssl rand -base64 48`)")
        if self.session_signing_key and len(self.session_signing_key) < MIN_SIGNING_KEY_LEN:
            raise SettingsError(f"{env_name('session_signing_key')} is too short: use at least {MIN_SIGNING_KEY_LEN} "
                                f"random characters")
        if self.idempotency_ttl_s <= 0:
            raise SettingsError(f"{env_name('idempotency_ttl_s')} must be > 0 seconds")
        if self.retention_interval_s <= 0 or self.retention_day_s <= 0:
            raise SettingsError(f"{env_name('retention_interval_s')} and {env_name('retention_day_s')} must be > 0")
