"""Settings of the `detection` service (environment variables LINEUP_*, see docs/configuration.md)."""

from __future__ import annotations

from dataclasses import dataclass

from lineup.settings import CommonSettings, SettingsError, env_name
from lineup.topology import BUCKETS, CROPS_BUCKET

#: the API's ceiling on faces per image (IndexFacesRequest.max_faces, DetectRequest.max_faces: 1..100)
API_MAX_FACES = 100


@dataclass(frozen=True)
class DetectionSettings(CommonSettings):
    service_name: str = "detection"
    grpc_port: int = 50052
    #: most faces taken from one image (largest first); requests may ask for fewer, never more
    max_faces: int = API_MAX_FACES
    triton_url: str = "127.0.0.1:8001"  # gRPC endpoint of Triton (local CPU server or a GPU cluster)
    triton_timeout_s: float = 30.0
    detector_model: str = "face_detector"  # the Triton model name; its card gives the reported version
    #: smallest face (shorter box side, source px) the tile pyramid is built to find
    min_face_px: float = 40.0
    crops_bucket: str = CROPS_BUCKET
    #: Kafka records fetched per poll (at least detection_concurrency)
    max_poll_records: int = 8
    #: images of the lineup.images topic in work at once, so one slow image delays only itself
    detection_concurrency: int = 4
    #: images whose longer side exceeds this are searched for faces at this size (faces are still cut
    #: from the original pixels); bounds the work per image. 0: always the full resolution
    detection_max_side: int = 2048

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 1 <= self.max_faces <= API_MAX_FACES:
            raise SettingsError(f"{env_name('max_faces')}={self.max_faces}: use 1..{API_MAX_FACES}")
        if not self.triton_url:
            raise SettingsError(f"{env_name('triton_url')} is empty: give host:port of Triton's gRPC endpoint")
        if self.triton_timeout_s <= 0:
            raise SettingsError(f"{env_name('triton_timeout_s')} must be > 0")
        if self.min_face_px < 8:
            raise SettingsError(f"{env_name('min_face_px')}={self.min_face_px}: faces under 8 px cannot be "
                                f"aligned; use >= 8 (default 40)")
        if self.crops_bucket not in BUCKETS:
            raise SettingsError(f"{env_name('crops_bucket')}={self.crops_bucket!r} is not one of the "
                                f"provisioned buckets ({', '.join(BUCKETS)})")
        if self.max_poll_records < 1:
            raise SettingsError(f"{env_name('max_poll_records')} must be >= 1")
        if not 1 <= self.detection_concurrency <= 64:
            raise SettingsError(f"{env_name('detection_concurrency')}={self.detection_concurrency}: use 1..64")
        if self.detection_max_side != 0 and self.detection_max_side < 192:
            raise SettingsError(f"{env_name('detection_max_side')}={self.detection_max_side}: use 0 (no limit) or "
                                f">= 192 (the detector's input size)")
