"""Entrypoint: `python -m embedding` (the gRPC API plus the batching `lineup.faces.detected` consumer)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from embedding.embedder import FaceEmbedder
from embedding.models import ServedModels, load_face_model, parse_model_list
from embedding.servicer import EmbeddingServiceServicer, register
from embedding.settings import EmbeddingSettings
from embedding.stage import EmbeddingStage, build_consumer
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


def build(settings: EmbeddingSettings) -> ServiceServer:
    """Missing credentials or an unknown model stop the process (exit 2) before it connects anywhere.
    Triton is reached lazily: while it is down, messages are retried and then fail with UNAVAILABLE, and
    Embed answers UNAVAILABLE, instead of the pod crash-looping."""
    settings.require("minio_access_key", "minio_secret_key", "internal_token")
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels  # PIL's bomb check: the deployment's one pixel cap
    try:
        models = [load_face_model(name) for name in parse_model_list(settings.face_model)]
    except FailedPrecondition as exc:
        raise SettingsError(f"{env_name('face_model')}: {exc.message}") from None
    backend = TracedBackend(TritonBackend(settings.triton_url, timeout_s=settings.triton_timeout_s),
                            server_address=settings.triton_url)
    served = ServedModels(models, [FaceEmbedder(backend, model_name=m.name, batch_size=settings.triton_max_batch,
                                                chip_size=m.chip_size, dimension=m.dimension) for m in models])
    store = ObjectStore.from_settings(settings)
    pool = ThreadPoolExecutor(max_workers=settings.fetch_workers, thread_name_prefix="fetch")
    install_store_sealer(store)  # pipeline payloads are sealed per request (crypto-shredding)
    producer = EnvelopeProducer.from_settings(settings)
    results = ResultPublisher(producer, ResultStore(store), service=settings.service_name,
                              topic_prefix=settings.topic_prefix)
    stage = EmbeddingStage(settings, served, backend, store, producer, results, pool)
    consumer = build_consumer(settings, stage, producer, results)
    servicer = EmbeddingServiceServicer(settings, served, store, pool)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer),
                         authenticator=InternalAuthenticator(settings.internal_token),
                         workers=[consumer], closers=[producer.close, pool.shutdown, backend.close])


def main() -> int:
    return run_service(EmbeddingSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
