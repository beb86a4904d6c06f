"""A thin FaceSearch client: one channel, the caller's credentials on every call, and the ids
(request id, trace id) the server returns in trailing metadata, so every printed result can be found
again in the logs, the traces and the audit trail."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from lineup.v1 import (
    admin_pb2_grpc,
    audit_pb2_grpc,
    common_pb2,
    face_search_pb2_grpc,
    review_pb2_grpc,
    session_pb2_grpc,
)

DEFAULT_ENDPOINT = "127.0.0.1:50051"
#: images are at most 15 MB; list responses can be large
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True)
class CallResult:
    """A response plus the ids from the call's trailing metadata."""

    response: Any
    request_id: str = ""
    trace_id: str = ""


class Client:
    """Calls public RPCs by name with `authorization: Bearer <key>` (the key decides the agency, the holder
    and the roles); `request_id` is sent with the first call only, since a request id names exactly one request.
    """

    def __init__(self, endpoint: str | None = None, api_key: str | None = None, timeout_s: float = 60.0,
                 request_id: str | None = None, tls_ca_file: str | None = None) -> None:
        self.endpoint = endpoint or os.environ.get("LINEUP_ENDPOINT") or DEFAULT_ENDPOINT
        self.api_key = api_key if api_key is not None else os.environ.get("LINEUP_API_KEY", "")
        self.timeout_s = timeout_s
        self.request_id = request_id
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        ca_file = tls_ca_file if tls_ca_file is not None else os.environ.get("LINEUP_TLS_CA_FILE", "")
        if ca_file:  # a TLS front door (Helm `tls.enabled`): trust this CA bundle
            creds = grpc.ssl_channel_credentials(root_certificates=Path(ca_file).read_bytes())
            self.channel = grpc.secure_channel(self.endpoint, creds, options=options)
        else:
            self.channel = grpc.insecure_channel(self.endpoint, options=options)
        self.stub = face_search_pb2_grpc.FaceSearchStub(self.channel)
        self._stubs: dict[str, Any] = {"FaceSearch": self.stub}

    def metadata(self, request_id: str | None = None) -> list[tuple[str, str]]:
        md = []
        if self.api_key:
            md.append(("authorization", f"Bearer {self.api_key}"))
        rid = request_id or self.request_id
        self.request_id = None  # --request-id names one call: later calls (polling, pages) get fresh ids
        if rid:
            md.append(("x-request-id", rid))
        return md

    def stub_for(self, service: str) -> Any:
        """The stub of a public service: FaceSearch, Admin, Audit or Review."""
        if service not in self._stubs:
            if service not in _STUBS:
                raise ValueError(f"unknown service {service!r}; choose from {', '.join(sorted(_STUBS))}")
            self._stubs[service] = _STUBS[service](self.channel)
        return self._stubs[service]

    def call(self, method: str, request: Any, *, request_id: str | None = None,
             timeout_s: float | None = None, service: str = "FaceSearch") -> CallResult:
        """Invoke `method` of `service` (e.g. "SearchFacesByImage"); grpc.RpcError propagates to the caller."""
        rpc = getattr(self.stub_for(service), method)
        response, call = rpc.with_call(request, metadata=self.metadata(request_id),
                                       timeout=timeout_s or self.timeout_s)
        trailing = {k: v for k, v in (call.trailing_metadata() or ()) if isinstance(v, str)}
        return CallResult(response, trailing.get("x-request-id", ""), trailing.get("x-trace-id", ""))

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


_STUBS: dict[str, Any] = {"FaceSearch": face_search_pb2_grpc.FaceSearchStub, "Admin": admin_pb2_grpc.AdminStub,
                          "Audit": audit_pb2_grpc.AuditStub, "Review": review_pb2_grpc.ReviewStub,
                          "Sessions": session_pb2_grpc.SessionsStub}


def new_request_id() -> str:
    return uuid.uuid4().hex


def parse_object_ref(value: str) -> common_pb2.ObjectRef:
    """`s3://bucket/key` or `bucket/key` -> ObjectRef (an object the agency already stored)."""
    bucket, _, key = value.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ValueError(f"{value!r} is not an object reference: use s3://<bucket>/<key>")
    return common_pb2.ObjectRef(bucket=bucket, key=key)


def load_image(value: str) -> common_pb2.Image:
    """A local file (sent as bytes) or `s3://bucket/key` (an object in the agency's space)."""
    if value.startswith("s3://"):
        return common_pb2.Image(object=parse_object_ref(value))
    path = Path(value)
    if not path.is_file():
        raise FileNotFoundError(f"{value}: no such file")
    return common_pb2.Image(bytes=path.read_bytes())


def image_files(folder: Path) -> list[Path]:
    """Every image below `folder` (by suffix), in a stable order so reruns index in the same order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
