"""The gRPC server bootstrap every Lineup service runs.

It wires the standard health service (for Kubernetes' native gRPC probes), reflection (grpcurl,
debugging), interceptors (tracing, auth hook, error mapping) and a graceful shutdown: on SIGTERM the
health status flips to NOT_SERVING, background workers (Kafka consumer loops) finish the message
in hand and commit, in-flight RPCs get the grace period, then producers and telemetry are flushed.
"""

from __future__ import annotations

import logging
import signal
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace

from lineup.audit.emit import AuditDraft, AuditEmitter, build_records, reset_draft, set_draft
from lineup.auth import Authenticator, reset_principal, set_principal
from lineup.errors import LineupError
from lineup.settings import CommonSettings, SettingsError
from lineup.telemetry import current_trace_id, extract_context, shutdown_telemetry

log = logging.getLogger(__name__)
tracer = trace.get_tracer("lineup.grpc")

#: metadata key carrying the request id back to the caller (also on errors)
REQUEST_ID_KEY = "x-request-id"


class Worker(Protocol):
    """A background loop owned by the service (e.g. a Kafka consumer)."""

    def run(self) -> None: ...

    def stop(self) -> None: ...


def _status_of(exc: BaseException) -> tuple[grpc.StatusCode, str]:
    if isinstance(exc, LineupError):
        return exc.code, exc.message
    return grpc.StatusCode.INTERNAL, ""


def _wrap_unary(handler: grpc.RpcMethodHandler, method: str, authenticator: Authenticator | None,
                auditor: AuditEmitter | None) -> grpc.RpcMethodHandler:
    inner = handler.unary_unary
    assert inner is not None

    def call(request: Any, context: grpc.ServicerContext) -> Any:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        request_id = metadata.get(REQUEST_ID_KEY) or uuid.uuid4().hex
        parent = extract_context(list((k, v.encode()) for k, v in metadata.items()))
        service, _, rpc = method.lstrip("/").rpartition("/")
        with tracer.start_as_current_span(method.lstrip("/"), context=parent, kind=trace.SpanKind.SERVER,
                                          attributes={"rpc.system": "grpc", "rpc.service": service,
                                                      "rpc.method": rpc, "lineup.request_id": request_id},
                                          ) as span:
            context.set_trailing_metadata(((REQUEST_ID_KEY, request_id), ("x-trace-id", current_trace_id())))
            draft = AuditDraft()
            draft_token = set_draft(draft)
            token = None
            principal = None
            response: Any = None
            code, message = grpc.StatusCode.OK, ""
            try:
                principal = authenticator.authenticate(method, metadata) if authenticator else None
                token = set_principal(principal)
                if authenticator is not None:
                    authenticator.authorize(method, principal)
                context.request_id = request_id  # type: ignore[attr-defined]
                response = inner(request, context)
            except Exception as exc:
                if not isinstance(exc, LineupError) and context.code() not in (None, grpc.StatusCode.OK):
                    raise  # the servicer already chose a status with context.abort
                code, message = _status_of(exc)
                if isinstance(exc, LineupError):
                    message = f"{message} (request id {request_id})"
                else:
                    log.exception("unhandled error in %s", method, extra={"request_id": request_id})
                    span.record_exception(exc)
                    message = (f"internal error in {rpc}; the operator can find it in the logs under "
                               f"request id {request_id}, trace id {current_trace_id()}")
            finally:
                if token is not None:
                    reset_principal(token)
                reset_draft(draft_token)
            if auditor is not None:
                try:
                    auditor.emit(build_records(
                        method=method, principal=principal, request=request, response=response,
                        code=int(code.value[0]), message=message, request_id=request_id,
                        trace_id=current_trace_id(), draft=draft))
                except Exception as exc:
                    log.exception("audit record not published", extra={"request_id": request_id})
                    code, message = grpc.StatusCode.UNAVAILABLE, (
                        f"the audit trail could not record this call ({exc}); no result is returned without an "
                        f"audit record; retry later (request id {request_id})")
            if code == grpc.StatusCode.OK:
                return response
            span.set_attribute("rpc.grpc.status_code", int(code.value[0]))
            span.set_status(trace.Status(trace.StatusCode.ERROR, message))
            context.abort(code, message)

    return grpc.unary_unary_rpc_method_handler(call, request_deserializer=handler.request_deserializer,
                                               response_serializer=handler.response_serializer)


class LineupInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Tracing + authentication/authorization + audit + error mapping for unary RPCs (Lineup has no
    streaming RPCs)."""

    def __init__(self, authenticator: Authenticator | None, exempt: Iterable[str],
                 auditor: AuditEmitter | None = None) -> None:
        self.authenticator = authenticator
        self.auditor = auditor
        self.exempt = tuple(exempt)

    def intercept_service(self, continuation: Callable[[Any], grpc.RpcMethodHandler | None],
                          handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.unary_unary is None or method.startswith(self.exempt):
            return handler
        return _wrap_unary(handler, method, self.authenticator, self.auditor)


@dataclass
class ServiceServer:
    """One gRPC server plus the workers and resources that share its lifetime."""

    settings: CommonSettings
    #: adds servicers to the server; returns the full service names it registered
    register: Callable[[grpc.Server], Sequence[str]]
    authenticator: Authenticator | None = None
    #: publishes one audit record per RPC (the public front door); None for internal services
    auditor: AuditEmitter | None = None
    workers: list[Worker] = field(default_factory=list)
    closers: list[Callable[[], None]] = field(default_factory=list)
    port: int = 0
    _server: grpc.Server | None = None
    _health: health.HealthServicer | None = None
    _threads: list[threading.Thread] = field(default_factory=list)
    _stopped: threading.Event = field(default_factory=threading.Event)

    def start(self) -> int:
        s = self.settings
        max_bytes = s.grpc_max_message_mb * 1024 * 1024
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=s.grpc_max_workers, thread_name_prefix="grpc"),
            interceptors=[LineupInterceptor(self.authenticator, exempt=("/grpc.health.", "/grpc.reflection."),
                                            auditor=self.auditor)],
            options=[("grpc.max_receive_message_length", max_bytes), ("grpc.max_send_message_length", max_bytes)],
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
        for name in ["", *names]:
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": f"{s.grpc_host}:{self.port}", "services": names})
        return self.port

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
