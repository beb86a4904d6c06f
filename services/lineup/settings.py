"""Typed settings from environment variables, one frozen dataclass per service.

A field `foo_bar` is read from `LINEUP_FOO_BAR`. Parsing happens once at start-up and any bad or
missing value stops the process with a message naming the variable, so a misconfigured pod fails
its rollout instead of limping along.
"""

from __future__ import annotations

import dataclasses
import os
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

#: shortest internal service credential accepted (LINEUP_INTERNAL_TOKEN; lineup.auth enforces the same)
MIN_INTERNAL_TOKEN_LEN = 32

PREFIX = "LINEUP_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

S = TypeVar("S", bound="CommonSettings")


class SettingsError(ValueError):
    """Configuration is unusable; the message names the variable and what is expected."""


def env_name(field: str) -> str:
    return PREFIX + field.upper()


def _parse(name: str, raw: str, typ: Any) -> Any:
    origin = get_origin(typ)
    if origin in (Union, types.UnionType):
        inner = [a for a in get_args(typ) if a is not type(None)]
        return None if raw == "" else _parse(name, raw, inner[0])
    if typ is bool:
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise SettingsError(f"{name}={raw!r} is not a boolean: use true or false")
    if typ is int:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if typ is float:
        try:
            return float(raw)
        except ValueError:
            raise SettingsError(f"{name}={raw!r} is not a number") from None
    if origin is tuple:
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    return raw


@dataclass(frozen=True)
class CommonSettings:
    """What every service needs. Defaults target the local stack on 127.0.0.1 (`make up`)."""

    service_name: str = "lineup"
    log_level: str = "INFO"
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    grpc_max_workers: int = 16
    grpc_max_message_mb: int = 20
    shutdown_grace_s: float = 10.0

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""

    minio_endpoint: str = "127.0.0.1:9000"
    minio_access_key: str = ""
    minio_secret_key: str = ""
    minio_secure: bool = False

    otlp_endpoint: str = ""  # e.g. http://otel-collector:4317; empty: no export
    metrics_interval_s: float = 30.0

    #: the largest image (decoded pixels, in millions) any service accepts: ingest refuses larger uploads
    #: before decoding, and detection's decoder enforces the same cap (one setting, so they cannot disagree)
    max_image_megapixels: float = 64.0

    #: server TLS for the gRPC port (PEM files, e.g. a mounted kubernetes.io/tls Secret); both or neither
    tls_cert_file: str = ""
    tls_key_file: str = ""
    #: > 0: also serve grpc.health.v1 alone, in plaintext, on this port. Kubelet's native gRPC probes cannot
    #: speak TLS, so a TLS-only port would never pass them; this port carries no API, only health.
    health_port: int = 0
    #: the deployment's internal service credential (a Secret, >= 32 characters): internal gRPC APIs refuse
    #: calls without it and every internal client sends it. Required by every service; deliberately no default.
    internal_token: str = ""

    def __post_init__(self) -> None:
        if not 0 < self.grpc_port < 65536:
            raise SettingsError(f"{env_name('grpc_port')}={self.grpc_port} is not a TCP port (1-65535)")
        if self.log_level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError(f"{env_name('log_level')}={self.log_level!r}: use DEBUG, INFO, WARNING or ERROR")
        if not self.kafka_bootstrap:
            raise SettingsError(f"{env_name('kafka_bootstrap')} is empty: give host:port of a Kafka broker")
        if not 0 < self.max_image_megapixels <= 1000:
            raise SettingsError(f"{env_name('max_image_megapixels')}={self.max_image_megapixels}: use a number of "
                                f"megapixels in (0, 1000]")
        if self.shutdown_grace_s < 0:
            raise SettingsError(f"{env_name('shutdown_grace_s')} must be >= 0")
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise SettingsError(f"{env_name('tls_cert_file')} and {env_name('tls_key_file')} go together: "
                                "set both (server TLS) or neither (plaintext)")
        if self.internal_token and len(self.internal_token) < MIN_INTERNAL_TOKEN_LEN:
            raise SettingsError(f"{env_name('internal_token')} is too short: use at least {MIN_INTERNAL_TOKEN_LEN} "
                                "random characters (e.g. `openssl rand -base64 48`)")
        if not 0 <= self.health_port < 65536 or (self.health_port and self.health_port == self.grpc_port):
            raise SettingsError(f"{env_name('health_port')}={self.health_port}: use 0 (off) or a TCP port other "
                                f"than {env_name('grpc_port')}")

    def require(self, *fields: str) -> None:
        """Fail fast when a service needs a setting that has no safe default (e.g. credentials)."""
        missing = [env_name(f) for f in fields if getattr(self, f) in ("", None)]
        if missing:
            raise SettingsError(f"missing required setting(s): {', '.join(missing)}")

    @property
    def max_image_pixels(self) -> int:
        return int(self.max_image_megapixels * 1_000_000)

    def topic(self, name: str) -> str:
        return self.topic_prefix + name


@dataclass(frozen=True)
class HttpFrontSettings(CommonSettings):
    """A service that answers HTTP beside its health-only gRPC port and calls ingest's public API (the
    Rekognition endpoint, the examiner console)."""

    #: HTTP/1.1; TLS is the ingress's job, like the gRPC front door's
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    ingest_url: str = "127.0.0.1:50051"
    #: how long one request may wait for ingest (searches run the whole pipeline)
    call_timeout_s: float = 90.0
    #: HTTP requests handled at once; further connections wait in the listen backlog
    http_max_threads: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.http_port < 65536 or self.http_port == self.grpc_port:
            raise SettingsError(f"{env_name('http_port')}={self.http_port}: use a TCP port other than "
                                f"{env_name('grpc_port')}")
        if self.call_timeout_s <= 0 or self.http_max_threads < 1:
            raise SettingsError(f"{env_name('call_timeout_s')} and {env_name('http_max_threads')} must be > 0")


def load_settings(cls: type[S], env: Mapping[str, str] | None = None, **overrides: Any) -> S:
    """Build `cls` from the environment; unknown LINEUP_* variables are ignored on purpose so
    one ConfigMap can serve several services."""
    env = os.environ if env is None else env
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        name = env_name(f.name)
        if f.name in overrides:
            values[f.name] = overrides[f.name]
        elif name in env:
            values[f.name] = _parse(name, env[name], hints[f.name])
    try:
        return cls(**values)
    except TypeError as exc:  # a required field without default and without a variable
        raise SettingsError(f"incomplete settings for {cls.__name__}: {exc}") from None
