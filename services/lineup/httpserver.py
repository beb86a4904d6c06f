"""The HTTP listeners some services add beside their gRPC port (the Rekognition endpoint, the examiner
console): a thread per request, but never more than a fixed number at once, and run as a
`lineup.grpcserver.Worker` so they start and stop with the service (graceful shutdown: no new requests,
in-flight ones finish).
"""

from __future__ import annotations

import logging
import socketserver
import threading
from http.server import HTTPServer
from typing import Any

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
