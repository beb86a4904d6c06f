"""Entrypoint: `python -m search`."""

from __future__ import annotations

from lineup.grpcserver import ServiceServer
from lineup.service import run_service
from search.servicer import SearchServiceServicer, register
from search.settings import SearchSettings
from search.store import FaceStore


def build(settings: SearchSettings) -> ServiceServer:
    """Bad Milvus settings (empty URI, unknown index type) raise SettingsError here, so the process exits
    with code 2 before serving. Milvus being down is not a settings error: the store connects lazily and
    RPCs answer UNAVAILABLE until it is back, instead of the pod crash-looping."""
    store = FaceStore.from_settings(settings)
    servicer = SearchServiceServicer(settings, store)
    return ServiceServer(settings=settings, register=lambda server: register(server, servicer),
                         closers=[store.close])


def main() -> int:
    return run_service(SearchSettings, build)


if __name__ == "__main__":
    raise SystemExit(main())
