"""Settings of the `audit` writer (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings, SettingsError, env_name
from lineup.topology import AUDIT_BUCKET


@dataclass(frozen=True)
class AuditSettings(CommonSettings):
    service_name: str = "audit"
    grpc_port: int = 50055
    audit_bucket: str = AUDIT_BUCKET
    #: a batch of Kafka records, i.e. at most one segment per chain: at most this many records ...
    audit_batch_max_records: int = 500
    #: ... waiting at most this long after the first for more (fewer, larger segments under load)
    audit_batch_linger_ms: int = 200
    #: a record is skipped as a replay if its id is among this many last records of its chain
    audit_dedupe_window: int = 10_000
    #: how long the object store may fail before the writer exits without committing (and is restarted)
    audit_store_retry_s: float = 60.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.audit_bucket:
            raise SettingsError(f"{env_name('audit_bucket')} is empty: name the bucket of the audit segments")
        if self.audit_batch_max_records < 1:
            raise SettingsError(f"{env_name('audit_batch_max_records')} must be >= 1")
        if self.audit_batch_linger_ms < 0:
            raise SettingsError(f"{env_name('audit_batch_linger_ms')} must be >= 0")
        if self.audit_dedupe_window < self.audit_batch_max_records:
            raise SettingsError(f"{env_name('audit_dedupe_window')} must be >= "
                                f"{env_name('audit_batch_max_records')}: a replayed batch must fit the window")
        if self.audit_store_retry_s < 0:
            raise SettingsError(f"{env_name('audit_store_retry_s')} must be >= 0")
