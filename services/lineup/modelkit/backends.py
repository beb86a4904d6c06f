"""How runtime code calls a model: one small protocol, two implementations.

Production calls Triton over gRPC (`TritonBackend`) so GPU batching, model versions and metrics live in
one server. `OnnxRuntimeBackend` runs the same ONNX files in-process; tests and tools use it when Triton
is not running. Both take and return numpy arrays keyed by the tensor names of the model's config.pbtxt,
so the detector and embedder code cannot tell them apart.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
from opentelemetry import trace

from lineup.errors import FailedPrecondition, Unavailable

DEFAULT_TRITON_URL = "127.0.0.1:8001"


@runtime_checkable
class InferenceBackend(Protocol):
    """Run one batched inference: inputs and outputs are keyed by tensor name, batch dimension first."""

    def infer(self, model_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def infer_in_batches(backend: InferenceBackend, model_name: str, inputs: Mapping[str, np.ndarray],
                     batch_size: int) -> dict[str, np.ndarray]:
    """Split a large request along the batch axis (Triton rejects batches above max_batch_size)."""
    n = len(next(iter(inputs.values())))
    if n <= batch_size:
        return backend.infer(model_name, inputs)
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, n, batch_size):
        parts.append(backend.infer(model_name, {k: v[start:start + batch_size] for k, v in inputs.items()}))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class TritonBackend:
    """Triton Inference Server over gRPC (the production path)."""

    def __init__(self, url: str = DEFAULT_TRITON_URL, *, timeout_s: float = 30.0) -> None:
        import tritonclient.grpc as grpcclient

        self._grpc = grpcclient
        self.url = url
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url=url)
        self._outputs: dict[str, list[str]] = {}
        self._inputs: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()

    def _metadata(self, model_name: str) -> tuple[dict[str, str], list[str]]:
        with self._lock:
            if model_name not in self._outputs:
                from tritonclient.utils import InferenceServerException

                try:
                    meta = self._client.get_model_metadata(model_name, as_json=True,
                                                           client_timeout=self.timeout_s)
                except InferenceServerException as exc:
                    raise Unavailable(f"Triton at {self.url} cannot serve model {model_name!r}: "
                                      f"{exc.message()}") from exc
                self._inputs[model_name] = {i["name"]: i["datatype"] for i in meta["inputs"]}
                self._outputs[model_name] = [o["name"] for o in meta["outputs"]]
            return self._inputs[model_name], self._outputs[model_name]

    def ready(self, model_name: str) -> bool:
        try:
            return bool(self._client.is_model_ready(model_name, client_timeout=self.timeout_s))
        except Exception:
            return False

    def infer(self, model_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        from tritonclient.utils import InferenceServerException

        input_types, output_names = self._metadata(model_name)
        requests = []
        for name, array in inputs.items():
            if name not in input_types:
                raise FailedPrecondition(f"model {model_name!r} has no input {name!r}")
            arr = np.ascontiguousarray(array)
            item = self._grpc.InferInput(name, list(arr.shape), input_types[name])
            item.set_data_from_numpy(arr)
            requests.append(item)
        outputs = [self._grpc.InferRequestedOutput(n) for n in output_names]
        try:
            result = self._client.infer(model_name, requests, outputs=outputs, client_timeout=self.timeout_s)
        except InferenceServerException as exc:
            raise Unavailable(f"Triton inference on {model_name!r} failed: {exc.message()}") from exc
        return {n: result.as_numpy(n) for n in output_names}

    def close(self) -> None:
        self._client.close()


def local_cache_dir() -> Path:
    """Where this machine keeps what Lineup builds and downloads (`LINEUP_CACHE_DIR`, default
    ~/.cache/lineup): the ONNX models among them. The local stack uses the same directory."""
    return Path(os.environ.get("LINEUP_CACHE_DIR", Path.home() / ".cache" / "lineup")).expanduser()


class OnnxRuntimeBackend:
    """The same ONNX files in-process (tests and tools when Triton is not up)."""

    def __init__(self, model_root: Path | None = None, *, threads: int = 0) -> None:
        self.model_root = model_root or local_cache_dir() / "models"
        self.threads = threads
        self._sessions: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _session(self, model_name: str) -> Any:
        with self._lock:
            if model_name not in self._sessions:
                import onnxruntime as ort

                path = self.model_root / model_name / "1" / "model.onnx"
                if not path.exists():
                    raise FailedPrecondition(f"{path} does not exist: run `make models`")
                opts = ort.SessionOptions()
                if self.threads:
                    opts.intra_op_num_threads = self.threads
                self._sessions[model_name] = ort.InferenceSession(
                    str(path), sess_options=opts, providers=["CPUExecutionProvider"])
            return self._sessions[model_name]

    def infer(self, model_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = self._session(model_name)
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, {k: np.ascontiguousarray(v) for k, v in inputs.items()})
        return dict(zip(names, values, strict=True))


def make_backend(kind: str, *, triton_url: str = DEFAULT_TRITON_URL) -> InferenceBackend:
    """`triton` (production) or `onnxruntime` (tests/tools)."""
    if kind == "triton":
        return TritonBackend(triton_url)
    if kind == "onnxruntime":
        return OnnxRuntimeBackend()
    raise ValueError(f"unknown backend {kind!r}: use triton or onnxruntime")


# --- tracing ---------------------------------------------------------------------------------------
# Model calls as CLIENT spans: Triton time shows up in every request's trace with model and batch size,
# while the detector and embedder code stay unaware of tracing.

_tracer = trace.get_tracer("lineup.triton")


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
        with _tracer.start_as_current_span(f"triton infer {model_name}", kind=trace.SpanKind.CLIENT, attributes={
            "rpc.system": "grpc", "rpc.service": "inference.GRPCInferenceService", "rpc.method": "ModelInfer",
            "server.address": self.server_address, "lineup.model": model_name, "lineup.batch_size": batch,
        }):  # an exception (e.g. Unavailable) is recorded on the span and marks it as an error
            with self._lock:
                self._calls += 1
            return self.backend.infer(model_name, inputs)

    def close(self) -> None:
        if isinstance(self.backend, TritonBackend):
            self.backend.close()
