"""The object store (MinIO or any S3 API): originals, crops, audit segments, job manifests.

Every key starts with the owning agency's id, so tenancy is visible in the storage layout itself
and a whole agency can be exported or erased by prefix. Images are content-addressed by SHA-256:
the same photo uploaded twice is stored once and its id is stable.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterator

from minio import Minio
from minio.error import S3Error
from opentelemetry import trace
from urllib3.exceptions import HTTPError

from lineup.errors import InvalidArgument, NotFound, Unavailable
from lineup.settings import CommonSettings
from lineup.topology import IMAGES_BUCKET
from lineup.v1 import common_pb2

tracer = trace.get_tracer("lineup.objectstore")
#: what a caller is told; the endpoint, bucket layout and the store's request ids go to the logs only
_UNAVAILABLE = "the object store is unavailable; retry later"
#: S3 answers that mean "no such object" for a caller, including names the store cannot hold at all
_NOT_THERE = {"NoSuchKey", "NoSuchBucket", "NoSuchObject", "InvalidBucketName", "XMinioInvalidObjectName",
              "InvalidObjectName", "KeyTooLongError"}
_AGENCY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def agency_key(agency_id: str, *parts: str) -> str:
    """`<agency>/<part>/...`; refuses ids that could escape the agency's prefix."""
    if not _AGENCY_RE.fullmatch(agency_id):
        raise InvalidArgument(f"agency id {agency_id!r} is not valid: use 2-63 of a-z, 0-9 and '-'")
    for p in parts:
        if not p or p in {".", ".."} or p.startswith("/"):
            raise InvalidArgument(f"invalid object key part {p!r}")
    return "/".join((agency_id, *parts))


_MAX_KEY = 1024
_BUCKETS_FOR_SOURCES = IMAGES_BUCKET


def check_source_object(ref: common_pb2.ObjectRef, agency_id: str, field: str, *, kinds: tuple[str, ...],
                        prefix: bool = False) -> None:
    """Refuse an object (or, with `prefix`, a prefix) a client names as a source of photos unless it is one of
    the agency's own photos: `lineup-images/<agency>/<kind>/...` with `kind` in `kinds`.

    A malformed key (empty, `.`/`..` or empty segments, control characters, over 1024 bytes) or a wrong bucket
    is INVALID_ARGUMENT naming the field; another agency's key is NOT_FOUND, the same answer as a missing
    object, so no agency can learn what another stores; one of the caller's own objects of the wrong kind
    (a probe, a manifest) is INVALID_ARGUMENT saying which kinds are accepted."""
    key = ref.key
    parts = key.split("/")
    body = parts[:-1] if prefix and key.endswith("/") else parts
    if (not key or len(key.encode()) > _MAX_KEY or key.startswith("/") or any(p in {"", ".", ".."} for p in body)
            or any(ord(c) < 32 or c == "\x7f" or c == "\\" for c in key)):
        raise InvalidArgument(f"{field}.key is not a valid object key: use '/'-separated names without empty, "
                              f"'.' or '..' segments, at most {_MAX_KEY} bytes")
    if ref.bucket != _BUCKETS_FOR_SOURCES:
        raise InvalidArgument(f"{field}.bucket must be {_BUCKETS_FOR_SOURCES!r}: photos are read only from there")
    if parts[0] != agency_id:
        raise NotFound(f"{field} {ref.bucket}/{key} not found")
    if len(parts) < 2 + (0 if prefix else 1) or parts[1] not in kinds:
        allowed = " or ".join(f"{ref.bucket}/{agency_id}/{k}/" for k in kinds)
        raise InvalidArgument(f"{field} {ref.bucket}/{key} is not accepted here: use an object under {allowed}")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ObjectStore:
    def __init__(self, endpoint: str, access_key: str, secret_key: str, *, secure: bool = False) -> None:
        self.endpoint = endpoint
        self._client = Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure)

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> ObjectStore:
        """The service's object store; its credentials are required (a clear exit 2 when missing)."""
        settings.require("minio_access_key", "minio_secret_key")
        return cls(settings.minio_endpoint, settings.minio_access_key, settings.minio_secret_key,
                   secure=settings.minio_secure)

    def _span(self, op: str, bucket: str, key: str = "") -> trace.Span:
        return tracer.start_as_current_span(f"s3 {op}", kind=trace.SpanKind.CLIENT, attributes={  # type: ignore[return-value]
            "rpc.system": "s3", "server.address": self.endpoint, "aws.s3.bucket": bucket, "aws.s3.key": key})

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "application/octet-stream",
            ) -> common_pb2.ObjectRef:
        with self._span("PutObject", bucket, key):
            try:
                self._client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type)
            except ValueError as exc:  # the client refuses a malformed bucket or key before sending
                raise InvalidArgument("invalid object reference", detail=str(exc)) from exc
            except (S3Error, HTTPError) as exc:
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint}: cannot write {bucket}/{key}: {exc}") from exc
        return common_pb2.ObjectRef(bucket=bucket, key=key)

    def put_content_addressed(self, bucket: str, agency_id: str, data: bytes, *, kind: str,
                              content_type: str) -> tuple[str, common_pb2.ObjectRef]:
        """Store under `<agency>/<kind>/<sha[:2]>/<sha>`; returns (sha256, ref). Idempotent."""
        digest = sha256_hex(data)
        key = agency_key(agency_id, kind, digest[:2], digest)
        ref = common_pb2.ObjectRef(bucket=bucket, key=key)
        if not self.exists(ref):
            self.put(bucket, key, data, content_type)
        return digest, ref

    def get(self, ref: common_pb2.ObjectRef) -> bytes:
        with self._span("GetObject", ref.bucket, ref.key):
            try:
                resp = self._client.get_object(ref.bucket, ref.key)
                try:
                    return resp.read()
                finally:
                    resp.close()
                    resp.release_conn()
            except S3Error as exc:
                if exc.code in _NOT_THERE:
                    raise NotFound("object not found", detail=f"{ref.bucket}/{ref.key}: {exc.code}") from exc
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint}: cannot read {ref.bucket}/{ref.key}: {exc}") from exc
            except ValueError as exc:
                raise InvalidArgument("invalid object reference", detail=str(exc)) from exc
            except HTTPError as exc:
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint} unreachable: {exc}") from exc

    def exists(self, ref: common_pb2.ObjectRef) -> bool:
        with self._span("HeadObject", ref.bucket, ref.key):
            try:
                self._client.stat_object(ref.bucket, ref.key)
                return True
            except S3Error as exc:
                if exc.code in _NOT_THERE:
                    return False
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint}: {exc}") from exc
            except ValueError as exc:
                raise InvalidArgument("invalid object reference", detail=str(exc)) from exc
            except HTTPError as exc:
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint} unreachable: {exc}") from exc

    def delete(self, ref: common_pb2.ObjectRef) -> None:
        with self._span("DeleteObject", ref.bucket, ref.key):
            try:
                self._client.remove_object(ref.bucket, ref.key)
            except ValueError as exc:
                raise InvalidArgument("invalid object reference", detail=str(exc)) from exc
            except (S3Error, HTTPError) as exc:
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint}: cannot delete {ref.bucket}/{ref.key}: {exc}") from exc

    def list(self, bucket: str, prefix: str, *, start_after: str = "") -> Iterator[common_pb2.ObjectRef]:
        """Keys under `prefix` in key order; with `start_after`, only the keys after it (one cheap request to
        find what is new since a known key, however many objects precede it)."""
        with self._span("ListObjects", bucket, prefix):
            try:
                for obj in self._client.list_objects(bucket, prefix=prefix, recursive=True,
                                                     start_after=start_after or None):
                    yield common_pb2.ObjectRef(bucket=bucket, key=obj.object_name or "")
            except (S3Error, HTTPError) as exc:
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint}: cannot list {bucket}/{prefix}: {exc}") from exc

    def list_modified(self, bucket: str, prefix: str) -> Iterator[tuple[common_pb2.ObjectRef, float]]:
        """Objects under a prefix with their last-modified time (Unix seconds), for retention."""
        with self._span("ListObjects", bucket, prefix):
            try:
                for obj in self._client.list_objects(bucket, prefix=prefix, recursive=True):
                    when = obj.last_modified.timestamp() if obj.last_modified else 0.0
                    yield common_pb2.ObjectRef(bucket=bucket, key=obj.object_name or ""), when
            except (S3Error, HTTPError) as exc:
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint}: cannot list {bucket}/{prefix}: {exc}") from exc

    def list_prefixes(self, bucket: str, prefix: str = "") -> tuple[str, ...]:
        """The immediate "folders" under a prefix (e.g. the agencies that have objects in a bucket)."""
        with self._span("ListObjects", bucket, prefix):
            try:
                return tuple(obj.object_name or "" for obj in self._client.list_objects(bucket, prefix=prefix)
                             if obj.is_dir)
            except (S3Error, HTTPError) as exc:
                raise Unavailable(
                    _UNAVAILABLE, detail=f"{self.endpoint}: cannot list {bucket}/{prefix}: {exc}") from exc
