"""Entrypoint: `python -m search`."""

from __future__ import annotations

from collections.abc import Callable

from lineup.auth import InternalAuthenticator
from lineup.grpcserver import ServiceServer, Worker
from lineup.service import run_service
from search.servicer import SearchServiceServicer, register
from search.settings import SearchSettings
from search.stage import build_consumer
from search.store import FaceStore


def build(settings: SearchSettings) -> ServiceServer:
    """Bad Milvus settings (empty URI, unknown index type, a tenancy that cannot see the stored data) raise
    SettingsError here, so the process exits with code 2 before serving. Milvus being down is not a
    settings error: the store connects lazily and RPCs answer UNAVAILABLE until it is back, instead of the
    pod crash-looping.

    With `pipeline_stage` (the default) the service also runs the pipeline's search stage as a worker;
    on shutdown the consumer finishes its message first, then the producer and the store are closed."""
    settings.require("internal_token")
    store = FaceStore.from_settings(settings)
    store.check_layout()  # data written under the other tenancy would be unreachable: refuse to start
    servicer = SearchServiceServicer(settings, store)
    workers: list[Worker] = []
    closers: list[Callable[[], None]] = [store.close]
    if settings.pipeline_stage:
        consumer, producer = build_consumer(settings, store)
        workers.append(consumer)
        closers.insert(0, producer.close)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer),
                         authenticator=InternalAuthenticator(settings.internal_token), workers=workers, closers=closers)


def main() -> int:
    return run_service(SearchSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
