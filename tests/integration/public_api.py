"""What the integration tests use to call the public front door as an agency would: the stubs of every
public service on one channel, the TV-identities photos, and a call's status without raising."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc

from lineup.v1 import (
    admin_pb2_grpc,
    audit_pb2_grpc,
    common_pb2,
    face_search_pb2_grpc,
    review_pb2_grpc,
    session_pb2_grpc,
)
from tests.face_data import DATASETS

TV = DATASETS / "tv-identities"


class Api:
    """Stubs of the public services (and health) on one channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.channel = channel
        self.faces = face_search_pb2_grpc.FaceSearchStub(channel)
        self.admin = admin_pb2_grpc.AdminStub(channel)
        self.audit = audit_pb2_grpc.AuditStub(channel)
        self.review = review_pb2_grpc.ReviewStub(channel)
        self.sessions = session_pb2_grpc.SessionsStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)

    def stub(self, service: str) -> Any:
        return {"FaceSearch": self.faces, "Admin": self.admin, "Audit": self.audit, "Review": self.review,
                "Sessions": self.sessions}[service]


def image_of(path: Path) -> common_pb2.Image:
    return common_pb2.Image(bytes=path.read_bytes())


def tv_photos(name: str) -> list[Path]:
    return sorted((TV / name).glob("*.png"))


def status_of(fn: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    """The status code and details of a call (OK, "" when it succeeds)."""
    try:
        fn()
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""  # type: ignore[attr-defined]
    return grpc.StatusCode.OK, ""
