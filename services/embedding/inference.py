"""Model calls as CLIENT spans: Triton time shows up in every request's trace with model and batch size.

Wraps any `InferenceBackend` (Triton in the service), so the detector code stays unaware of tracing.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
from opentelemetry import trace

from lineup.modelkit.backends import InferenceBackend, TritonBackend

tracer = trace.get_tracer("lineup.triton")


class TracedBackend:
    """An `InferenceBackend` that records one CLIENT span per model call and counts the calls."""

    def __init__(self, backend: InferenceBackend, *, server_address: str = "") -> None:
        self.backend = backend
        self.server_address = server_address
        self._calls = 0
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        """Model calls so far (a cheap, exact measure of how well requests are batched)."""
        return self._calls

    def infer(self, model_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        batch = len(next(iter(inputs.values()))) if inputs else 0
        with tracer.start_as_current_span(f"triton infer {model_name}", kind=trace.SpanKind.CLIENT, attributes={
            "rpc.system": "grpc", "rpc.service": "inference.GRPCInferenceService", "rpc.method": "ModelInfer",
            "server.address": self.server_address, "lineup.model": model_name, "lineup.batch_size": batch,
        }):  # an exception (e.g. Unavailable) is recorded on the span and marks it as an error
            with self._lock:
                self._calls += 1
            return self.backend.infer(model_name, inputs)

    def close(self) -> None:
        if isinstance(self.backend, TritonBackend):
            self.backend.close()
