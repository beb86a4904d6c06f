"""The shared HTTP listener's defences (lineup.httpserver), on a real loopback socket: a client that trickles
its request loses the connection at the read deadline, while an honest slow request is answered."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest

from lineup.httpserver import BoundedThreads, ReadDeadline


class _Handler(ReadDeadline, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    read_deadline_s = 1.5
    timeout = 0.5

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(2.0)  # work longer than the read deadline: only reading is bounded
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(BoundedThreads, HTTPServer):
    pass


@pytest.fixture()
def port() -> Iterator[int]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.limit_threads(4)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _request(body: bytes) -> bytes:
    return (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def test_a_trickling_client_is_cut_off_at_the_read_deadline(port: int) -> None:
    raw = _request(b"x" * 40)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        start = time.monotonic()
        cut = False
        for byte in raw:  # one byte every 0.2 s: never idle for the 0.5 s per-read timeout
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                cut = True
                break
            time.sleep(0.2)
            if time.monotonic() - start > 6:
                break
        if not cut:
            try:
                cut = sock.recv(1024) == b""  # the server closed its side
            except OSError:
                cut = True  # ... or reset the connection
        assert cut and time.monotonic() - start < 6


def test_an_honest_request_is_answered_even_when_its_work_outlasts_the_deadline(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_request(b"hello"))
        reply = b""
        while not reply.endswith(b"hello"):
            chunk = sock.recv(1024)
            assert chunk, reply
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200")
        sock.sendall(_request(b"again"))  # keep-alive: the next request gets a deadline of its own
        reply = b""
        while not reply.endswith(b"again"):
            chunk = sock.recv(1024)
            assert chunk, reply
            reply += chunk
