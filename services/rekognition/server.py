"""The HTTP side of the Rekognition endpoint: `POST /` with `X-Amz-Target: RekognitionService.<Operation>`.

One request is handled in this order, and nothing reaches ingest before every step passed: size bound, target
and content type, the session token (authentic, not expired), the SigV4 signature under the session's derived
secret, JSON against botocore's input shape, then the operation. Ingest then checks the session's revocation,
roles, the case's search policy and writes the audit record, exactly as for a native call. Every answer carries
`x-amzn-RequestId`: Lineup's request id when ingest was reached, so a failed call can be found in the audit
trail and the logs.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import grpc
from google.protobuf.message import Message

from lineup.auth import internal_metadata
from lineup.httpserver import BoundedThreads, HttpWorker, ReadDeadline
from lineup.identity import sessions
from lineup.v1 import face_search_pb2_grpc
from rekognition import model, operations, sigv4
from rekognition.errors import RekognitionError, from_grpc
from rekognition.settings import RekognitionSettings

log = logging.getLogger(__name__)
CONTENT_TYPE = "application/x-amz-json-1.1"


class IngestClient:
    """Calls ingest's public FaceSearch API under a session: `authorization: Session <id>` plus the internal
    credential, which is what lets ingest accept a session at all."""

    def __init__(self, target: str, internal_token: str, timeout_s: float) -> None:
        self._channel = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20),
                                                               ("grpc.max_receive_message_length", 64 << 20)])
        self._stub = face_search_pb2_grpc.FaceSearchStub(self._channel)
        self._md = internal_metadata(internal_token, "rekognition")
        self._timeout = timeout_s

    def bind(self, session_id: str, request_ids: list[str], *, s3: bool, paged: bool) -> operations.Call:
        def call(method: str, request: Message, idempotency_key: str) -> Any:
            md = [*self._md, ("authorization", f"Session {session_id}")]
            if idempotency_key:
                md.append(("x-request-id", idempotency_key))
            try:
                response, rpc = getattr(self._stub, method).with_call(request, metadata=md, timeout=self._timeout)
            except grpc.RpcError as exc:
                _note_request_id(exc.trailing_metadata(), request_ids)  # type: ignore[attr-defined]
                raise from_grpc(exc.code(), exc.details() or "", has_s3_object=s3,  # type: ignore[attr-defined]
                                has_page_token=paged) from None
            _note_request_id(rpc.trailing_metadata(), request_ids)
            return response
        return call

    def close(self) -> None:
        self._channel.close()


def _note_request_id(trailers: Any, out: list[str]) -> None:
    for k, v in trailers or ():
        if k == "x-request-id" and isinstance(v, str):
            out.append(v)


class Endpoint:
    """Everything a request needs, independent of the HTTP plumbing (unit-testable)."""

    def __init__(self, settings: RekognitionSettings, ingest: IngestClient) -> None:
        self.settings = settings
        self.ingest = ingest
        self._key = settings.session_signing_key
        self._page_key = sessions.derive_secret(self._key, "pagination-tokens").encode()

    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
               ) -> tuple[int, dict[str, Any], list[str]]:
        """(HTTP status, JSON body, Lineup request ids) for one request; never raises."""
        request_ids: list[str] = []
        try:
            return 200, self._handle(method, path, query, headers, body, request_ids), request_ids
        except RekognitionError as exc:
            return exc.status, {"__type": exc.code, "message": exc.message}, request_ids
        except sigv4.SignatureError as exc:
            status = 400 if exc.code == "IncompleteSignatureException" else 403
            return status, {"__type": exc.code, "message": exc.message}, request_ids
        except Exception:
            ref = uuid.uuid4().hex
            log.exception("unhandled error in the rekognition endpoint", extra={"request_id": ref})
            return 500, {"__type": "InternalServerError",
                         "message": f"internal error; the operator can find it in the logs under {ref}"}, request_ids

    def _handle(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes,
                request_ids: list[str]) -> dict[str, Any]:
        if method != "POST" or path != "/":
            raise RekognitionError("UnknownOperationException", "the Rekognition JSON protocol is POST / with an "
                                   "X-Amz-Target header")
        target = headers.get("x-amz-target", "")
        prefix, _, name = target.partition(".")
        if prefix != model.TARGET_PREFIX or not name:
            raise RekognitionError("UnknownOperationException", f"X-Amz-Target must be "
                                   f"{model.TARGET_PREFIX}.<Operation>")
        ctype = headers.get("content-type", "").split(";")[0].strip()
        if ctype != CONTENT_TYPE:
            raise RekognitionError("SerializationException", f"Content-Type must be {CONTENT_TYPE}")
        token, region = self._authenticate(method, path, query, headers, body)
        op_model = model.operation(name)
        handler = operations.OPERATIONS.get(name)
        if op_model is None:
            raise RekognitionError("UnknownOperationException", f"{name} is not a Rekognition operation")
        if handler is None:
            raise RekognitionError("AccessDeniedException", f"{name} is not supported by Lineup's Rekognition "
                                   f"endpoint; see docs/rekognition.md for the supported operations")
        try:
            raw = json.loads(body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise RekognitionError("SerializationException", "the request body is not valid JSON") from None
        try:
            params = model.check(op_model.input_shape, raw)
        except model.ShapeError as exc:
            if exc.too_large:
                raise RekognitionError("ImageTooLargeException", str(exc)) from None
            raise RekognitionError("InvalidParameterException", str(exc)) from None
        ctx = operations.Context(
            call=self.ingest.bind(token.session_id, request_ids, s3=operations.has_s3_object(params),
                                  paged=bool(params.get("NextToken"))),
            agency_id=token.agency_id, region=region, page_key=self._page_key)
        return handler(ctx, params)

    def _authenticate(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
                      ) -> tuple[sessions.SessionToken, str]:
        """The session token and region of a correctly signed request with an authentic, unexpired token.
        Revocation is ingest's check (it reads the session document on every call)."""
        signed = sigv4.parse_authorization(headers)
        token = headers.get("x-amz-security-token", "")
        if not token:
            raise RekognitionError("UnrecognizedClientException", "The security token included in the request is "
                                   "invalid: Lineup credentials are session credentials; set AWS_SESSION_TOKEN from "
                                   "`lineup session start`")
        parsed = sessions.parse_token(self._key, token)
        if parsed is None or parsed.session_id != signed.access_key_id:
            raise RekognitionError("UnrecognizedClientException", "The security token included in the request is "
                                   "invalid.")
        if parsed.expires_epoch_s <= int(time.time()):
            raise RekognitionError("ExpiredTokenException", "The security token included in the request is "
                                   "expired; start a new session with `lineup session start`")
        if "x-amz-security-token" not in signed.signed_headers:
            raise sigv4.SignatureError("InvalidSignatureException", "the x-amz-security-token header must be signed")
        sigv4.verify(signed, sessions.derive_secret(self._key, signed.access_key_id), method, path, query, headers,
                     body)
        return parsed, signed.region


def make_handler(endpoint: Endpoint, max_body: int) -> type[BaseHTTPRequestHandler]:
    class Handler(ReadDeadline, BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lineup-rekognition"
        sys_version = ""

        def do_POST(self) -> None:
            self._serve("POST")

        def do_GET(self) -> None:
            self._serve("GET")

        def _serve(self, method: str) -> None:
            length_text = self.headers.get("Content-Length", "0")
            try:
                length = int(length_text)
            except ValueError:
                length = -1
            if length < 0 or length > max_body:
                self._reply(413 if length > max_body else 400, {
                    "__type": "ImageTooLargeException" if length > max_body else "SerializationException",
                    "message": f"the request body must be 0..{max_body} bytes (Content-Length {length_text[:32]!r})"},
                    [], close=True)
                return
            body = self.rfile.read(length) if length else b""
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, payload, request_ids = endpoint.handle(method, path, query, headers, body)
            self._reply(status, payload, request_ids)

        def _reply(self, status: int, payload: dict[str, Any], request_ids: list[str], close: bool = False) -> None:
            data = operations.dumps(payload)
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", request_ids[-1] if request_ids else uuid.uuid4().hex)
            if "__type" in payload:
                self.send_header("x-amzn-ErrorType", str(payload["__type"]))
            if close:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("http %s", format % args)

    return Handler


class _BoundedServer(BoundedThreads, HTTPServer):
    def __init__(self, address: tuple[str, int], handler: Callable[..., BaseHTTPRequestHandler], limit: int) -> None:
        self.limit_threads(limit)
        super().__init__(address, handler)


def http_worker(settings: RekognitionSettings, endpoint: Endpoint) -> HttpWorker:
    handler = make_handler(endpoint, int(settings.max_body_mb * 1024 * 1024))
    httpd = _BoundedServer((settings.http_host, settings.http_port), handler, settings.http_max_threads)
    return HttpWorker(httpd, "rekognition endpoint")
