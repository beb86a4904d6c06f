"""Integration tests run against the real local stack on 127.0.0.1, started here when needed.

Each fixture starts its component the way `make up` does (or reuses one already running). What this
test session started, it stops at the end, unless LINEUP_KEEP_STACK=1 (handy while iterating).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from lineup_tools.devstack.base import Component
from lineup_tools.devstack.components import load

_started: list[Component] = []


def ensure_up(name: str) -> Component:
    component = load(name)
    if component.start() == "started":
        _started.append(component)
    return component


@pytest.fixture(scope="session", autouse=True)
def _stop_what_this_session_started() -> Iterator[None]:
    yield
    if os.environ.get("LINEUP_KEEP_STACK") == "1":
        return
    for component in reversed(_started):
        component.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    from lineup_tools.devstack.kafka import LOCAL_BOOTSTRAP

    ensure_up("kafka")
    return LOCAL_BOOTSTRAP


@pytest.fixture(scope="session")
def minio_endpoint() -> str:
    from lineup_tools.devstack.minio import API_PORT, HOST

    ensure_up("minio")
    return f"{HOST}:{API_PORT}"


@pytest.fixture(scope="session")
def milvus_uri() -> str:
    from lineup_tools.devstack.milvus import URI

    ensure_up("milvus")
    return URI


@pytest.fixture(scope="session")
def triton_url() -> str:
    ensure_up("triton")
    return "127.0.0.1:8001"


@pytest.fixture(scope="module")
def tv_pipeline(kafka_bootstrap: str, minio_endpoint: str, milvus_uri: str, triton_url: str) -> Iterator[Any]:
    """All five services as real processes for one test module, which uses the shared TV identities."""
    from tests.face_data import DATASETS, require
    from tests.integration.pipeline_harness import running_pipeline

    require(DATASETS / "tv-identities")
    with running_pipeline() as p:
        yield p


@pytest.fixture(scope="session")
def _test_sealer(minio_endpoint: str) -> Any:
    """The services seal pipeline payloads (lineup.kafka.sealing); tests that publish a stage's input or read
    its output do the same with a sealer of their own, keys in the same object store."""
    from lineup_tools.devstack.minio import credentials

    from lineup.kafka.sealing import KeyRing, Sealer
    from lineup.objectstore import ObjectStore

    return Sealer(KeyRing(ObjectStore(minio_endpoint, *credentials())))


@pytest.fixture(scope="module", autouse=True)
def _sealer_per_module(_test_sealer: Any) -> Iterator[None]:
    """Each module starts with the tests' sealer installed, also after a service built in-process (e.g.
    test_search_service) installed its own."""
    from lineup.kafka.sealing import install_sealer

    install_sealer(_test_sealer)
    yield
    install_sealer(None)  # nothing leaks into later modules (the unit tests run in the same process)
