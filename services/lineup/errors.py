"""Errors a person can act on, each tied to one gRPC status code.

Domain code raises these; the gRPC error-mapping interceptor turns them into statuses, and the
Kafka pipeline carries the same code in results and dead letters. Messages are written for the
caller: they say what was wrong and what to do, never a stack trace. The table lives in docs/api.md.
"""

from __future__ import annotations

import grpc


class LineupError(Exception):
    """`message` is for the caller; `detail` (endpoints, buckets, vendor errors) only for the operator's logs."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    @property
    def code_value(self) -> int:
        """The numeric google.rpc.Code, as stored in events and audit records."""
        return int(self.code.value[0])


class InvalidArgument(LineupError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(LineupError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(LineupError):
    code = grpc.StatusCode.ALREADY_EXISTS


class PermissionDenied(LineupError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(LineupError):
    code = grpc.StatusCode.UNAUTHENTICATED


class FailedPrecondition(LineupError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(LineupError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class DeadlineExceeded(LineupError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unavailable(LineupError):
    """A dependency (Kafka, MinIO, Milvus, Triton) is unreachable; retrying later may succeed."""

    code = grpc.StatusCode.UNAVAILABLE


class Aborted(LineupError):
    """A conflicting call is in progress (e.g. the same idempotency key); retry shortly."""

    code = grpc.StatusCode.ABORTED


class Unimplemented(LineupError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(LineupError):
    code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[LineupError]] = {
    cls.code: cls
    for cls in (InvalidArgument, NotFound, AlreadyExists, PermissionDenied, Unauthenticated,
                FailedPrecondition, ResourceExhausted, DeadlineExceeded, Unavailable, Aborted, Unimplemented,
                Internal)
}


def status_code_from_value(value: int) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN


def error_from_code(value: int, message: str) -> LineupError:
    """Rebuild an error that travelled as (code, message) through Kafka."""
    return _BY_CODE.get(status_code_from_value(value), Internal)(message)
