"""The shared object-store helper on the real MinIO: agency-scoped, content-addressed keys."""

from __future__ import annotations

import os
import uuid

import pytest
from lineup_tools.devstack.minio import credentials

from lineup.errors import InvalidArgument, NotFound
from lineup.objectstore import ObjectStore, agency_key, sha256_hex
from lineup.v1 import common_pb2

pytestmark = pytest.mark.integration


def test_content_addressed_put_get_delete(minio_endpoint: str) -> None:
    access, secret = credentials()
    store = ObjectStore(minio_endpoint, access, secret)
    agency = f"test-{uuid.uuid4().hex[:8]}"
    data = os.urandom(4096)
    digest, ref = store.put_content_addressed("lineup-images", agency, data, kind="images",
                                              content_type="application/octet-stream")
    assert digest == sha256_hex(data)
    assert ref.key == f"{agency}/images/{digest[:2]}/{digest}"
    again_digest, again = store.put_content_addressed("lineup-images", agency, data, kind="images",
                                                      content_type="application/octet-stream")
    assert (again_digest, again.key) == (digest, ref.key)  # same bytes, same object
    assert store.get(ref) == data
    assert [r.key for r in store.list("lineup-images", f"{agency}/")] == [ref.key]
    store.delete(ref)
    assert not store.exists(ref)
    with pytest.raises(NotFound):
        store.get(common_pb2.ObjectRef(bucket="lineup-images", key=ref.key))


@pytest.mark.parametrize(("agency", "part"), [("../etc", "x"), ("Agency", "x"), ("ok-agency", ".."), ("a1", "")])
def test_keys_cannot_escape_the_agency_prefix(agency: str, part: str) -> None:
    with pytest.raises(InvalidArgument):
        agency_key(agency, part)
