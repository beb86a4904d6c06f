"""Milvus of the local stack (Milvus's embedded engine): a collection's life cycle as the search service will use it."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.integration

DIM = 128
N = 50
TIMEOUT_S = 30.0


@pytest.fixture()
def client(milvus_uri: str) -> Iterator[Any]:
    from pymilvus import MilvusClient

    c = MilvusClient(uri=milvus_uri, timeout=TIMEOUT_S, dedicated=True)
    yield c
    c.close()


def _unit_vectors(n: int, dim: int, seed: int = 7) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)  # type: ignore[no-any-return]


def test_collection_insert_search_filter_delete(client: Any) -> None:
    from pymilvus import DataType

    name = f"it_faces_{uuid.uuid4().hex[:12]}"
    schema = client.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("agency", DataType.VARCHAR, max_length=64)
    schema.add_field("embedding", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("embedding", index_type="FLAT", metric_type="COSINE")
    client.create_collection(name, schema=schema, index_params=index, timeout=TIMEOUT_S)
    try:
        vectors = _unit_vectors(N, DIM)
        rows = [{"id": i, "agency": "agency-a" if i % 2 == 0 else "agency-b",
                 "embedding": vectors[i].tolist()} for i in range(N)]
        assert client.insert(name, rows, timeout=TIMEOUT_S)["insert_count"] == N

        probe = 10  # an even id: agency-a
        hits = client.search(name, [vectors[probe].tolist()], limit=5, output_fields=["agency"],
                             timeout=TIMEOUT_S)[0]
        assert hits[0]["id"] == probe
        assert hits[0]["distance"] == pytest.approx(1.0, abs=1e-4)
        assert all(a["distance"] >= b["distance"] for a, b in itertools.pairwise(hits))

        filtered = client.search(name, [vectors[probe].tolist()], limit=N, filter='agency == "agency-b"',
                                 output_fields=["agency"], timeout=TIMEOUT_S)[0]
        assert len(filtered) == N // 2
        assert {h["entity"]["agency"] for h in filtered} == {"agency-b"}
        assert probe not in {h["id"] for h in filtered}

        client.delete(name, ids=[probe], timeout=TIMEOUT_S)
        after = client.search(name, [vectors[probe].tolist()], limit=5, timeout=TIMEOUT_S)[0]
        assert probe not in {h["id"] for h in after}
        assert client.get(name, ids=[probe], timeout=TIMEOUT_S) == []
    finally:
        client.drop_collection(name, timeout=TIMEOUT_S)
    assert name not in client.list_collections(timeout=TIMEOUT_S)
