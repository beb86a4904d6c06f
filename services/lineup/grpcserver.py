"""The gRPC server bootstrap every Lineup service runs.

It wires the standard health service (for Kubernetes' native gRPC probes), reflection (grpcurl,
debugging), interceptors (tracing, auth hook, error mapping) and a graceful shutdown: on SIGTERM the
health status flips to NOT_SERVING, background workers (Kafka consumer loops) finish the message
in hand and commit, in-flight RPCs get the grace period, then producers and telemetry are flushed.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace

from lineup.audit.emit import AuditDraft, AuditEmitter, build_records, reset_draft, set_draft
from lineup.auth import Authenticator, Principal, reset_principal, set_principal
from lineup.errors import InvalidArgument, LineupError, ResourceExhausted, Unimplemented, error_from_code
from lineup.metrics import instruments
from lineup.objectstore import sha256_hex
from lineup.settings import CommonSettings, SettingsError
from lineup.telemetry import current_trace_id, extract_context, shutdown_telemetry
from lineup.validation import validate_request

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.grpc")

#: metadata key carrying the server's request id back to the caller (also on errors). A caller may send
#: one too: it is then only an idempotency key (see `Idempotency`), never the request's id.
REQUEST_ID_KEY = "x-request-id"
IDEMPOTENCY_KEY_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: the gRPC core refuses messages above this multiple of the configured limit unaudited; between the
#: limit and this cap the call is refused by the interceptor, with an audit record. Small, because the core
#: buffers a whole message (per concurrent call) before any credential is checked
HARD_CAP_FACTOR = 1.25
_MAX_METHOD_CHARS = 200
#: outcomes a retry with the same idempotency key should run again rather than replay
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.ABORTED,
              grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED, grpc.StatusCode.RESOURCE_EXHAUSTED}


class Worker(Protocol):
    """A background loop owned by the service (e.g. a Kafka consumer)."""

    def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Outcome:
    """How an earlier call with the same idempotency key ended."""

    request_id: str
    code: int
    message: str
    response: bytes


class Idempotency(Protocol):
    """Remembers outcomes per (agency, key holder, idempotency key), so a retried call is not run twice."""

    def begin(self, principal: Principal, method: str, key: str, request_sha256: str, request_id: str
              ) -> Outcome | None:
        """Claim `key` for this call (None), or return the finished original's outcome; raise a LineupError
        when the key is in use by a call still running or was used for a different request."""
        ...

    def finish(self, principal: Principal, key: str, outcome: Outcome) -> None: ...

    def abandon(self, principal: Principal, key: str) -> None:
        """Release a claimed key after a transient failure, so a retry runs the call again."""
        ...


@dataclass(frozen=True)
class _Raw:
    """An already-serialized response (an idempotent replay): passed through the response serializer."""

    data: bytes


@dataclass
class _Deps:
    authenticator: Authenticator | None
    auditor: AuditEmitter | None
    idempotency: Idempotency | None
    max_request_bytes: int


def _status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, LineupError):
        return exc.code, exc.message
    return grpc.StatusCode.INTERNAL, ""


def safe_method(method: str) -> str:
    """A client-chosen method path made fit for logs, span names and audit records."""
    cleaned = "".join(c if c.isprintable() else "?" for c in method[:_MAX_METHOD_CHARS])
    return cleaned + ("..." if len(method) > _MAX_METHOD_CHARS else "")


def _message_class(method: str, output: bool) -> type[Message] | None:
    service, _, rpc = method.lstrip("/").rpartition("/")
    try:
        desc = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(rpc)
    except KeyError:
        return None
    if desc is None:
        return None
    return message_factory.GetMessageClass(desc.output_type if output else desc.input_type)


def _decode(raw: bytes, deserialize: Callable[[bytes], Any] | None, limit: int) -> Any:
    if len(raw) > limit:
        raise ResourceExhausted(f"the request is {len(raw) / 1024 / 1024:.1f} MB; the limit is "
                                f"{limit / 1024 / 1024:.0f} MB: send a smaller image")
    try:
        return deserialize(raw) if deserialize is not None else raw
    except Exception:
        raise InvalidArgument("the request is not a valid protobuf message of this method's type") from None


def _idempotency_key(metadata: Mapping[str, str]) -> str:
    key = metadata.get(REQUEST_ID_KEY, "")
    if key and not IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise InvalidArgument("x-request-id is an idempotency key: use 1-64 of A-Z, a-z, 0-9, '_' and '-' "
                              "(the server assigns the request id and returns it in the x-request-id trailer)")
    return key


def _wrap_unary(handler: grpc.RpcMethodHandler | None, method: str, deps: _Deps) -> grpc.RpcMethodHandler:
    """The one path every unary RPC takes; `handler` None is a method this server does not have."""
    inner = handler.unary_unary if handler is not None else None
    deserialize = handler.request_deserializer if handler is not None else None
    serialize = handler.response_serializer if handler is not None else None
    shown = safe_method(method)

    # a metric attribute must come from a bounded set: an unknown method's name is the client's choice
    metric_attrs = {"rpc.system": "grpc", "rpc.method": shown.lstrip("/") if handler is not None else "(unknown)"}

    def call(raw: bytes, context: grpc.ServicerContext) -> Any:
        started = time.perf_counter()
        code = "OK"
        try:
            return traced_call(raw, context)
        except BaseException:
            aborted = context.code() if hasattr(context, "code") else None
            code = aborted.name if isinstance(aborted, grpc.StatusCode) else "UNKNOWN"
            raise
        finally:
            try:  # a metric must never change the answer (the call's audit record is already written)
                instruments().rpc_duration.record(time.perf_counter() - started,
                                                  {**metric_attrs, "rpc.grpc.status_code": code})
            except Exception:
                log.debug("could not record the RPC duration metric", exc_info=True)

    def traced_call(raw: bytes, context: grpc.ServicerContext) -> Any:
        request_id = uuid.uuid4().hex
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        parent = extract_context(list((k, v.encode()) for k, v in metadata.items()))
        service, _, rpc = shown.lstrip("/").rpartition("/")
        with tracer.start_as_current_span(shown.lstrip("/"), context=parent, kind=trace.SpanKind.SERVER,
                                          attributes={"rpc.system": "grpc", "rpc.service": service,
                                                      "rpc.method": rpc, "lineup.request_id": request_id},
                                          ) as span:
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id), ("x-trace-id", current_trace_id())))
            draft = AuditDraft()
            draft_token = set_draft(draft)
            token = None
            principal = None
            request: Any = None
            response: Any = None
            refused = True
            claimed = ""
            code, message = grpc.StatusCode.OK, ""
            plain = ""
            try:
                auth = deps.authenticator
                principal = auth.authenticate(method, metadata) if auth else None
                token = set_principal(principal)
                if inner is None:
                    raise Unimplemented(f"{shown} is not a method of this service")
                # decoded before the role check, so a refused call's record still says what was asked
                request = _decode(raw, deserialize, deps.max_request_bytes)
                if auth is not None:
                    auth.authorize(method, principal)
                refused = False
                if principal is not None and principal.session_id:
                    bind_session(request, principal, draft)
                if deps.auditor is not None:  # the public front door; internal callers hold the internal token
                    validate_request(request)
                key = _idempotency_key(metadata)
                if deps.auditor is not None:  # built and validated before the state change
                    build_records(method=method, principal=principal, request=request, response=None, code=0,
                                  message="", request_id=request_id, trace_id="", draft=draft)
                context.request_id = request_id  # type: ignore[attr-defined]
                if key and deps.idempotency is not None and principal is not None and principal.agency_id:
                    earlier = deps.idempotency.begin(principal, method, key, sha256_hex(raw), request_id)
                    if earlier is None:
                        claimed = key
                    else:
                        draft.details["idempotent_replay_of"] = earlier.request_id
                        if earlier.code:
                            raise error_from_code(earlier.code, earlier.message)
                        response = _Raw(earlier.response)
                if response is None:
                    response = inner(request, context)
            except Exception as exc:
                if not isinstance(exc, LineupError) and context.code() not in (None, grpc.StatusCode.OK):
                    raise  # the servicer already chose a status with context.abort
                code, message = _status_of(exc)
                plain = message  # kept for an idempotent replay, which adds its own request id
                if isinstance(exc, LineupError):
                    if exc.detail:
                        log.warning("%s refused: %s", shown, exc.detail, extra={"request_id": request_id})
                    message = f"{message} (request id {request_id})"
                else:
                    log.exception("unhandled error in %s", shown, extra={"request_id": request_id})
                    span.record_exception(exc)
                    message = (f"internal error in {rpc}; the operator can find it in the logs under "
                               f"request id {request_id}, trace id {current_trace_id()}")
            finally:
                if token is not None:
                    reset_principal(token)
                reset_draft(draft_token)
            if claimed and principal is not None and deps.idempotency is not None:
                _remember(deps.idempotency, principal, claimed, request_id, code, plain, response, serialize)
            if deps.auditor is not None:
                code, message = _audit(deps.auditor, method, principal, request, response, code, message,
                                       request_id, draft, refused)
            if code == grpc.StatusCode.OK:
                return response
            span.set_attribute("rpc.grpc.status_code", int(code.value[0]))
            span.set_status(trace.Status(trace.StatusCode.ERROR, message))
            context.abort(code, message)

    def serialize_response(response: Any) -> bytes:
        if isinstance(response, _Raw):
            return response.data
        assert serialize is not None
        return bytes(serialize(response))

    return grpc.unary_unary_rpc_method_handler(call, request_deserializer=None,
                                               response_serializer=serialize_response)


def bind_session(request: Any, principal: Principal, draft: AuditDraft) -> None:
    """A call under a session searches for the session's case and purpose, whatever the request says: the
    context is overwritten before policy checks and the audit record see it, so a session cannot be used for
    another case than the one it was started for."""
    draft.details["session_id"] = principal.session_id
    if isinstance(request, Message) and "context" in request.DESCRIPTOR.fields_by_name:
        ctx = request.context
        if ctx.DESCRIPTOR.name == "SearchContext":
            ctx.case_id, ctx.purpose, ctx.justification = (principal.case_id, principal.purpose,
                                                           principal.justification)


def _remember(idempotency: Idempotency, principal: Principal, key: str, request_id: str, code: grpc.StatusCode,
              message: str, response: Any, serialize: Callable[[Any], bytes] | None) -> None:
    """Keep the outcome for retries (before the audit record goes out: a retry after an audit outage gets
    the same answer, audited then); a transient failure releases the key instead."""
    try:
        if code in _TRANSIENT:
            idempotency.abandon(principal, key)
            return
        data = b""
        if code == grpc.StatusCode.OK and not isinstance(response, _Raw) and serialize is not None:
            data = bytes(serialize(response))
        idempotency.finish(principal, key, Outcome(request_id, int(code.value[0]), message, data))
    except Exception:
        log.exception("could not record the idempotent outcome", extra={"request_id": request_id})


def _audit(auditor: AuditEmitter, method: str, principal: Principal | None, request: Any, response: Any,
           code: grpc.StatusCode, message: str, request_id: str, draft: AuditDraft, refused: bool
           ) -> tuple[grpc.StatusCode, str]:
    """Publish the call's record; without it no result leaves the server (fail closed)."""
    if isinstance(response, _Raw):
        cls = _message_class(method, output=True)
        response = cls.FromString(response.data) if cls is not None else None
    try:
        auditor.emit(build_records(
            method=safe_method(method), principal=principal, request=request if isinstance(request, Message) else None,
            response=response if code == grpc.StatusCode.OK else None, code=int(code.value[0]), message=message,
            request_id=request_id, trace_id=current_trace_id(), draft=draft, refused=refused))
    except Exception as exc:
        log.exception("audit record not published", extra={"request_id": request_id})
        reason = exc.message if isinstance(exc, LineupError) else "the audit trail is unavailable"
        return grpc.StatusCode.UNAVAILABLE, (
            f"the audit trail could not record this call ({reason}); no result is returned without an "
            f"audit record; retry later (request id {request_id})")
    return code, message


class LineupInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Tracing + authentication/authorization + validation + idempotency + audit + error mapping for unary
    RPCs (Lineup has no streaming RPCs). Unknown methods are answered (and audited) here too."""

    def __init__(self, authenticator: Authenticator | None, exempt: Iterable[str],
                 auditor: AuditEmitter | None = None, idempotency: Idempotency | None = None,
                 max_request_bytes: int = 20 * 1024 * 1024) -> None:
        self.deps = _Deps(authenticator, auditor, idempotency, max_request_bytes)
        self.exempt = tuple(exempt)

    def intercept_service(self, continuation: Callable[[Any], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method or ""
        if method.startswith(self.exempt):
            return handler
        if handler is not None and handler.unary_unary is None:
            return handler
        return _wrap_unary(handler, method, self.deps)


@dataclass
class ServiceServer:
    """One gRPC server plus the workers and resources that share its lifetime."""

    settings: CommonSettings
    #: adds servicers to the server; returns the full service names it registered
    register: Callable[[grpc.Server], Sequence[str]]
    authenticator: Authenticator | None = None
    #: publishes one audit record per RPC (the public front door); None for internal services
    auditor: AuditEmitter | None = None
    #: outcomes of calls sent with an idempotency key (the public front door); None: the header is ignored
    idempotency: Idempotency | None = None
    workers: list[Worker] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    #: checks that must all pass for health to say SERVING (e.g. "can publish audit records"); polled
    readiness: list[Callable[[], bool]] = field(default_factory=list)
    readiness_interval_s: float = 1.0
    port: int = 0
    _server: grpc.Server | None = None
    _health: health.HealthServicer | None = None
    _names: list[str] = field(default_factory=list)
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> int:
        s = self.settings
        max_bytes = s.grpc_max_message_mb * 1024 * 1024
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=s.grpc_max_workers, thread_name_prefix="grpc"),
            interceptors=[LineupInterceptor(self.authenticator, exempt=("/grpc.health.", "/grpc.reflection."),
                                            auditor=self.auditor, idempotency=self.idempotency,
                                            max_request_bytes=max_bytes)],
            options=[("grpc.max_receive_message_length", int(max_bytes * HARD_CAP_FACTOR)),
                     ("grpc.max_send_message_length", max_bytes)],
        )
        names = list(self.register(server))
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        reflection.enable_server_reflection(
            [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server)
        self.port = self._add_port(server, f"{s.grpc_host}:{s.grpc_port}")
        if self.port == 0:
            raise RuntimeError(f"cannot bind gRPC port {s.grpc_host}:{s.grpc_port} (already in use?)")
        if s.health_port:
            self._start_health_port(self._health)
        server.start()
        self._server = server
        for w in self.workers:
            t = threading.Thread(target=self._run_worker, args=(w,), name=type(w).__name__, daemon=True)
            t.start()
            self._threads.append(t)
        self._names = ["", *names]
        self._set_health(all(check() for check in self.readiness))
        if self.readiness:
            t = threading.Thread(target=self._watch_readiness, name="readiness", daemon=True)
            t.start()
        log.info("serving", extra={"address": f"{s.grpc_host}:{self.port}", "services": names})
        return self.port

    def _set_health(self, ready: bool) -> None:
        if self._health is None or self._stopped.is_set():
            return
        status = health_pb2.HealthCheckResponse.SERVING if ready else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in self._names:
            self._health.set(name, status)

    def _watch_readiness(self) -> None:
        """Health follows the readiness checks, so an orchestrator stops routing calls to a replica that
        cannot audit them and routes them back once it can."""
        last = True
        while not self._stopped.wait(self.readiness_interval_s):
            try:
                ready = all(check() for check in self.readiness)
            except Exception:
                log.exception("readiness check failed")
                ready = False
            if ready != last:
                log.warning("readiness changed", extra={"ready": ready})
                last = ready
            self._set_health(ready)

    def _add_port(self, server: grpc.Server, address: str) -> int:
        """TLS when both PEM files are configured (checked together by the settings), else plaintext."""
        s = self.settings
        if not s.tls_cert_file:
            return int(server.add_insecure_port(address))
        try:
            with open(s.tls_key_file, "rb") as key, open(s.tls_cert_file, "rb") as cert:
                pair = (key.read(), cert.read())
        except OSError as exc:
            raise SettingsError(f"cannot read the TLS key/certificate ({exc}); check LINEUP_TLS_CERT_FILE and "
                                "LINEUP_TLS_KEY_FILE") from None
        return int(server.add_secure_port(address, grpc.ssl_server_credentials([pair])))

    def _start_health_port(self, servicer: health.HealthServicer) -> None:
        """A second, plaintext server with only the health service (shared status, so graceful shutdown
        shows here too), for probes that cannot do TLS; closed with the other resources."""
        s = self.settings
        probe = grpc.server(futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"))
        health_pb2_grpc.add_HealthServicer_to_server(servicer, probe)
        if probe.add_insecure_port(f"{s.grpc_host}:{s.health_port}") == 0:
            raise RuntimeError(f"cannot bind the health port {s.grpc_host}:{s.health_port} (already in use?)")
        probe.start()
        self.closers.append(lambda: probe.stop(0).wait())

    def _run_worker(self, worker: Worker) -> None:
        try:
            worker.run()
        except Exception:
            # A dead worker means a service that accepts RPCs but processes nothing: stop the whole
            # process so the orchestrator restarts it (from the committed offsets).
            log.exception("worker crashed; shutting the service down", extra={"worker": type(worker).__name__})
            threading.Thread(target=self.stop, daemon=True).start()

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.settings.shutdown_grace_s
        log.info("shutting down", extra={"grace_s": grace})
        if self._health is not None:
            self._health.enter_graceful_shutdown()
        for w in self.workers:
            w.stop()
        for t in self._threads:
            t.join(timeout=grace)
        if self._server is not None:
            self._server.stop(grace).wait()
        for close in self.closers:
            try:
                close()
            except Exception:
                log.exception("error while closing a resource")
        shutdown_telemetry()
        log.info("stopped")

    def wait(self) -> None:
        self._stopped.wait()

    def serve_forever(self) -> int:
        """Run until SIGTERM/SIGINT; returns the process exit code."""
        done = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            log.info("signal received", extra={"signal": signal.Signals(signum).name})
            done.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        while not done.is_set() and not self._stopped.is_set():
            done.wait(0.5)
        self.stop()
        return 0


def metadata_dict(context: grpc.ServicerContext) -> Mapping[str, str]:
    return {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
