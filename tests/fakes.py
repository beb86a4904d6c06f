"""In-memory stand-ins for unit tests only (integration tests use the real servers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lineup.client import CallResult
from lineup.errors import NotFound, Unavailable
from lineup.v1 import common_pb2


class MemoryStore:
    """The part of lineup.objectstore.ObjectStore the services use, in a dict; `down` simulates an outage."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.modified: dict[tuple[str, str], float] = {}
        self.down = False
        self.puts = 0
        self.gets = 0
        self.lists: list[tuple[str, str]] = []
        self.clock = 1_800_000_000.0

    def _check(self) -> None:
        if self.down:
            raise Unavailable("object store down (test)")

    def put(self, bucket: str, key: str, data: bytes, content_type: str = "") -> common_pb2.ObjectRef:
        self._check()
        self.puts += 1
        self.objects[(bucket, key)] = data
        self.modified[(bucket, key)] = self.clock
        return common_pb2.ObjectRef(bucket=bucket, key=key)

    def get(self, ref: common_pb2.ObjectRef) -> bytes:
        self._check()
        self.gets += 1
        try:
            return self.objects[(ref.bucket, ref.key)]
        except KeyError:
            raise NotFound(f"{ref.bucket}/{ref.key}") from None

    def exists(self, ref: common_pb2.ObjectRef) -> bool:
        self._check()
        return (ref.bucket, ref.key) in self.objects

    def delete(self, ref: common_pb2.ObjectRef) -> None:
        self._check()
        self.objects.pop((ref.bucket, ref.key), None)

    def list(self, bucket: str, prefix: str, *, start_after: str = "") -> Iterator[common_pb2.ObjectRef]:
        self._check()
        self.lists.append((prefix, start_after))
        for b, k in sorted(self.objects):
            if b == bucket and k.startswith(prefix) and k > start_after:
                yield common_pb2.ObjectRef(bucket=b, key=k)

    def list_modified(self, bucket: str, prefix: str) -> Iterator[tuple[common_pb2.ObjectRef, float]]:
        for ref in self.list(bucket, prefix):
            yield ref, self.modified[(ref.bucket, ref.key)]

    def list_prefixes(self, bucket: str, prefix: str = "") -> tuple[str, ...]:
        self._check()
        return tuple(sorted({k.split("/", 1)[0] + "/" for b, k in self.objects if b == bucket}))


class FakeClient:
    """Stands in for lineup.client.Client: records (service, method, request copy) and answers from a table
    (a response, a function of the request, or an exception to raise)."""

    answers: dict[str, Any] = {}
    calls: list[tuple[str, str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def call(self, method: str, request: Any, *, service: str = "FaceSearch", **_: Any) -> CallResult:
        copy = type(request)()
        copy.CopyFrom(request)
        FakeClient.calls.append((service, method, copy))
        answer = FakeClient.answers[method]
        if callable(answer):
            answer = answer(copy)
        if isinstance(answer, Exception):
            raise answer
        return CallResult(answer, request_id="r-trailer", trace_id="t-trailer")

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *_: object) -> None:
        pass
