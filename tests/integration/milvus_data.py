"""Removing what a test module wrote to Milvus, through the store's own naming (so it follows the tenancy)."""

from __future__ import annotations

from search.naming import agency_namespace


def drop_agency_collections(milvus_uri: str, agency_id: str, timeout_s: float = 30.0) -> None:
    """Drop every Milvus collection in the agency's namespace (the default `collection` tenancy)."""
    from pymilvus import MilvusClient

    space = agency_namespace(agency_id)
    client = MilvusClient(uri=milvus_uri, db_name=space.database, timeout=timeout_s, dedicated=True)
    try:
        for name in client.list_collections():
            if name.startswith(space.prefix):
                client.drop_collection(name)
    finally:
        client.close()
