"""The HTTP listeners some services add beside their gRPC port (the Rekognition endpoint, the examiner
console): a thread per request, but never more than a fixed number at once, and run as a
`lineup.grpcserver.Worker` so they start and stop with the service (graceful shutdown: no new requests,
in-flight ones finish).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
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


class ConnectionDeadline:
    """A request-handler mixin: every connection gets `deadline_s` in all, and `timeout` per read. A client that
    trickles bytes (slowloris) would otherwise hold one of the few handler threads for ever; at the deadline its
    socket is shut down and the thread goes back to the pool. Mix in before the handler class."""

    deadline_s: float = 150.0
    timeout: ClassVar[float | None] = 30
    connection: socket.socket

    def setup(self) -> None:
        super().setup()  # type: ignore[misc]
        self._cut = threading.Timer(self.deadline_s, self._expire)
        self._cut.daemon = True
        self._cut.start()

    def _expire(self) -> None:
        with contextlib.suppress(OSError):  # already closed
            self.connection.shutdown(socket.SHUT_RDWR)

    def finish(self) -> None:
        self._cut.cancel()
        super().finish()  # type: ignore[misc]


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
