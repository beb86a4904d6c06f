"""Settings of the `embedding` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings, SettingsError, env_name


@dataclass(frozen=True)
class EmbeddingSettings(CommonSettings):
    service_name: str = "embedding"
    grpc_port: int = 50053
    triton_url: str = "127.0.0.1:8001"  # gRPC endpoint of Triton (local CPU server or a GPU cluster)
    triton_timeout_s: float = 30.0
    #: the Triton models served, comma-separated, the default (new collections, probes) first; keep every
    #: model an existing collection is pinned to. Each model card gives version, crop and calibration
    face_model: str = "face_embedder_sface,face_embedder"
    #: Triton's max_batch_size of the model (infra/triton/models/face_embedder/config.pbtxt); with mirror
    #: averaging a call carries half as many faces
    triton_max_batch: int = 32
    #: a batch of Kafka messages: at most this many records ...
    batch_max_messages: int = 16
    #: ... whose faces are embedded in groups of at most this many (bounds the chips held in memory)
    batch_max_faces: int = 256
    #: after the first record arrives, wait this long for more to share the Triton calls
    batch_linger_ms: int = 20
    #: parallel object-store reads of the crops of one batch
    fetch_workers: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.triton_url:
            raise SettingsError(f"{env_name('triton_url')} is empty: give host:port of Triton's gRPC endpoint")
        for name in ("batch_max_messages", "batch_max_faces", "fetch_workers"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{env_name(name)}={getattr(self, name)} must be >= 1")
        if self.triton_max_batch < 2:
            raise SettingsError(f"{env_name('triton_max_batch')} must be >= 2 (a face and its mirror)")
        if self.batch_linger_ms < 0:
            raise SettingsError(f"{env_name('batch_linger_ms')} must be >= 0")
        if self.triton_timeout_s <= 0:
            raise SettingsError(f"{env_name('triton_timeout_s')} must be > 0")
