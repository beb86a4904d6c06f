"""The common `main()` of every service: settings, logs, telemetry, then the gRPC server.

A configuration error ends the process at once with exit code 2 and one line naming the variable,
before anything connects anywhere.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from lineup.grpcserver import ServiceServer
from lineup.logs import setup_logging
from lineup.settings import CommonSettings, SettingsError, load_settings
from lineup.telemetry import setup_telemetry

S = TypeVar("S", bound=CommonSettings)
log = logging.getLogger(__name__)


def run_service(settings_cls: type[S], build: Callable[[S], ServiceServer]) -> int:
    try:
        settings = load_settings(settings_cls)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.service_name, settings.log_level)
    setup_telemetry(settings.service_name, otlp_endpoint=settings.otlp_endpoint,
                    metrics_interval_s=settings.metrics_interval_s)
    try:
        server = build(settings)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return server.serve_forever()
