"""Entrypoint: `python -m detection` (the gRPC API plus the `lineup.images` consumer)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from detection.detector import FaceAnalyser, FaceDetector
from detection.faces import FaceFinder, served_version, set_decoder_limit
from detection.servicer import DetectionServiceServicer, register
from detection.settings import DetectionSettings
from detection.stage import DetectionStage, build_consumer
from lineup.auth import InternalAuthenticator
from lineup.errors import FailedPrecondition
from lineup.grpcserver import ServiceServer
from lineup.kafka.producer import EnvelopeProducer
from lineup.kafka.sealing import install_store_sealer
from lineup.modelkit.backends import TracedBackend, TritonBackend
from lineup.objectstore import ObjectStore
from lineup.pipeline import ResultPublisher, ResultStore
from lineup.service import run_service
from lineup.settings import SettingsError, env_name


def build(settings: DetectionSettings) -> ServiceServer:
    """Missing credentials stop the process (exit 2) before it connects anywhere. Triton is reached lazily:
    while it is down, messages are retried and then fail with UNAVAILABLE instead of the pod crash-looping."""
    settings.require("minio_access_key", "minio_secret_key", "internal_token")
    backend = TracedBackend(TritonBackend(settings.triton_url, timeout_s=settings.triton_timeout_s),
                            server_address=settings.triton_url)
    detector = FaceDetector(backend, model_name=settings.detector_model, min_face_px=settings.min_face_px,
                            max_side=settings.detection_max_side)
    set_decoder_limit(settings.max_image_pixels)
    try:
        version = served_version(settings.detector_model)
    except FailedPrecondition as exc:
        raise SettingsError(f"{env_name('detector_model')}: {exc.message}") from None
    finder = FaceFinder(FaceAnalyser(detector), max_faces=settings.max_faces, model_version=version)
    store = ObjectStore.from_settings(settings)
    install_store_sealer(store)  # pipeline payloads are sealed per request (crypto-shredding)
    producer = EnvelopeProducer.from_settings(settings)
    results = ResultPublisher(producer, ResultStore(store), service=settings.service_name,
                              topic_prefix=settings.topic_prefix)
    uploads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="crop-put")
    stage = DetectionStage(settings, finder, store, producer, results, uploads)
    consumer = build_consumer(settings, stage, producer, results)
    servicer = DetectionServiceServicer(settings, finder, store)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer),
                         authenticator=InternalAuthenticator(settings.internal_token),
                         workers=[consumer], closers=[producer.close, backend.close, uploads.shutdown])


def main() -> int:
    return run_service(DetectionSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
