"""The HTTP listeners some services add beside their gRPC port (the Rekognition endpoint, the examiner
console): a thread per request, but never more than a fixed number at once, and run as a
`lineup.grpcserver.Worker` so they start and stop with the service (graceful shutdown: no new requests,
in-flight ones finish).
"""

from __future__ import annotations

import io
import logging
import socket
import socketserver
import sys
import threading
import time
from http.server import HTTPServer
from typing import Any, ClassVar

log = logging.getLogger(__name__)


class BoundedThreads(socketserver.ThreadingMixIn):
    """ThreadingMixIn with a cap on concurrent handler threads: a flood of connections waits in the listen
    backlog instead of spawning unbounded threads. Mix in before the server class."""

    daemon_threads = True
    _slots: threading.BoundedSemaphore

    def limit_threads(self, limit: int) -> None:
        self._slots = threading.BoundedSemaphore(limit)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away or ran out of time is routine: one quiet line, not a traceback with its
        address on stderr; anything else is logged as an error (without the client's address)."""
        exc = sys.exc_info()[1]
        if isinstance(exc, TimeoutError | ConnectionError):
            log.debug("http connection ended: %s", type(exc).__name__)
        else:
            log.error("http handler failed", exc_info=exc)


class _DeadlineSocketReader(io.RawIOBase):
    """The socket as the handler reads it: each receive waits at most the per-read timeout and never past the
    request's read deadline. Only reading is bounded: the work a request starts and the writing of its answer
    are not cut short."""

    def __init__(self, sock: socket.socket, handler: ReadDeadline) -> None:
        self._sock = sock
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._handler.read_deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request did not arrive within its read deadline")
        per_read = self._handler.timeout
        self._sock.settimeout(left if per_read is None else min(per_read, left))
        try:
            return self._sock.recv_into(buffer)
        finally:
            self._sock.settimeout(per_read)  # writing the answer keeps the plain per-operation timeout


class ReadDeadline:
    """A request-handler mixin against clients that trickle bytes (slowloris), which would otherwise hold one of
    the few handler threads for ever: reading one request (line, headers, body) may take `read_deadline_s` in
    all and `timeout` per read; a keep-alive connection's deadline starts again with each request. Mix in before
    the handler class."""

    read_deadline_s: float = 300.0
    timeout: ClassVar[float | None] = 30
    connection: socket.socket
    rbufsize: int
    read_deadline: float
    rfile: Any

    def setup(self) -> None:
        super().setup()  # type: ignore[misc]
        self.read_deadline = time.monotonic() + self.read_deadline_s
        size = self.rbufsize if self.rbufsize > 0 else io.DEFAULT_BUFFER_SIZE
        self.rfile = io.BufferedReader(_DeadlineSocketReader(self.connection, self), size)

    def handle_one_request(self) -> None:
        self.read_deadline = time.monotonic() + self.read_deadline_s
        super().handle_one_request()  # type: ignore[misc]


class HttpWorker:
    """An HTTP server (already bound) as a service worker."""

    def __init__(self, httpd: HTTPServer, what: str) -> None:
        self.httpd = httpd
        host, port = httpd.server_address[:2]
        self.port = int(port)
        log.info("%s listening", what, extra={"address": f"{host!s}:{self.port}"})

    def run(self) -> None:
        self.httpd.serve_forever(poll_interval=0.5)

    def stop(self) -> None:
        threading.Thread(target=self.httpd.shutdown, daemon=True).start()

    def close(self) -> None:
        self.httpd.server_close()
