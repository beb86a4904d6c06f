"""A thin client of the internal SearchService: statuses come back as lineup errors, so the front
door's interceptor returns the same code and message to the caller.

Every call carries the deployment's internal credential: the search service acts for whichever agency
the request names, so it must know the caller is ingest (which checked the API key) and not anyone on
the network."""

from __future__ import annotations

from typing import Any

import grpc

from lineup.auth import internal_metadata
from lineup.errors import LineupError, Unavailable, error_from_code
from lineup.v1 import search_pb2_grpc


class SearchClient:
    def __init__(self, target: str, *, internal_token: str, timeout_s: float = 15.0) -> None:
        self.timeout_s = timeout_s
        self._metadata = internal_metadata(internal_token, "ingest")
        self._channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
        self._stub = search_pb2_grpc.SearchServiceStub(self._channel)

    def call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout_s,
                                               metadata=self._metadata)
        except grpc.RpcError as exc:
            code = exc.code()  # type: ignore[attr-defined]
            details = exc.details() or ""  # type: ignore[attr-defined]
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise Unavailable("the search service is unavailable; retry later",
                                  detail=f"search service {method}: {code.name}: {details}") from None
            raise _strip(error_from_code(code.value[0], details)) from None

    def close(self) -> None:
        self._channel.close()


def _strip(err: LineupError) -> LineupError:
    """Drop the search service's own '(request id …)' suffix; the front door adds the caller's."""
    msg = err.message
    cut = msg.rfind(" (request id ")
    if cut > 0:
        err.message = msg[:cut]
        err.args = (err.message,)
    return err
