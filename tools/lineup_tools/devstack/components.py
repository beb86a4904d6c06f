"""The registry of local stack components, in start order (imported lazily, one module each)."""

from __future__ import annotations

import importlib

from lineup_tools.devstack.base import Component

#: component name -> "module:Class"; the order is the start order
REGISTRY: dict[str, str] = {
    "kafka": "lineup_tools.devstack.kafka:Kafka",
    "minio": "lineup_tools.devstack.minio:Minio",
    "milvus": "lineup_tools.devstack.milvus:Milvus",
    "triton": "lineup_tools.devstack.triton:Triton",
}


def load(name: str) -> Component:
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)()  # type: ignore[no-any-return]


def all_components() -> list[Component]:
    return [load(n) for n in REGISTRY]
