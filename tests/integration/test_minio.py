"""MinIO of the local stack: object round trip and the provisioned buckets (first run builds MinIO)."""

from __future__ import annotations

import hashlib
import io
import os
import uuid
from collections.abc import Iterator

import pytest
import urllib3
from lineup_tools.devstack.minio import credentials

from lineup.topology import BUCKETS

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def s3(minio_endpoint: str) -> Iterator[object]:
    from minio import Minio

    access, secret = credentials()
    # bounded waits and no retry storm: a broken server fails the test in seconds, not minutes
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5, read=30),
                               retries=urllib3.Retry(total=2, backoff_factor=0.2))
    yield Minio(minio_endpoint, access_key=access, secret_key=secret, secure=False, http_client=http)
    http.clear()


def test_topology_buckets_exist(s3: object) -> None:
    from minio import Minio

    assert isinstance(s3, Minio)
    names = {b.name for b in s3.list_buckets()}
    assert set(BUCKETS) <= names


def test_object_round_trip(s3: object) -> None:
    from minio import Minio
    from minio.error import S3Error

    assert isinstance(s3, Minio)
    bucket = BUCKETS[0]
    prefix = f"it-{uuid.uuid4().hex}/"
    payload = os.urandom(256 * 1024) + b"\x00\xff end"
    key = prefix + hashlib.sha256(payload).hexdigest()
    s3.put_object(bucket, key, io.BytesIO(payload), len(payload), content_type="application/octet-stream",
                  metadata={"x-amz-meta-agency": "test"})
    try:
        stat = s3.stat_object(bucket, key)
        assert stat.size == len(payload)
        assert stat.content_type == "application/octet-stream"

        resp = s3.get_object(bucket, key)
        try:
            assert resp.read() == payload
        finally:
            resp.close()
            resp.release_conn()

        listed = [o.object_name for o in s3.list_objects(bucket, prefix=prefix, recursive=True)]
        assert listed == [key]
    finally:
        s3.remove_object(bucket, key)

    with pytest.raises(S3Error) as err:
        s3.stat_object(bucket, key)
    assert err.value.code == "NoSuchKey"
    assert list(s3.list_objects(bucket, prefix=prefix, recursive=True)) == []
