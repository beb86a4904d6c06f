"""Generic Triton Python-backend runner: serve the version directory's ONNX file with onnxruntime on CPU.

Why it exists: the Triton build we can run without Docker or a GPU (the `tritonserver` inside the
`nvidia-pytriton` wheel) has only the Python backend, while production serves the same ONNX files with the
onnxruntime backend. `lineup_tools.devstack.triton_repository` copies this file as `<model>/<version>/model.py`
next to the model's ONNX file, with a config derived from the production one, so clients see the same
model names, tensors and batching locally and in production.

Tensors are mapped by name: Triton input/output names must equal the ONNX graph's names (which the
onnxruntime backend requires too). When the dynamic batcher hands over several requests at once they are
concatenated along the batch axis and run as one onnxruntime call, as the onnxruntime backend would.

Runs inside the Python backend stub (the Triton virtualenv's interpreter: numpy<2, onnxruntime), never in
the project's own environment.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils

#: same keys as the onnxruntime backend's config parameters, plus the runner's model file name
INTRA_OP_PARAM = "intra_op_thread_count"
INTER_OP_PARAM = "inter_op_thread_count"
MODEL_FILE_PARAM = "onnx_model_filename"
THREADS_ENV = "LINEUP_TRITON_INTRA_OP_THREADS"
DEFAULT_INTRA_OP_THREADS = 2


def _param(config: dict[str, Any], key: str) -> str:
    return str(config.get("parameters", {}).get(key, {}).get("string_value", "")).strip()


class TritonPythonModel:
    """One onnxruntime session per model instance."""

    def initialize(self, args: dict[str, str]) -> None:
        config = json.loads(args["model_config"])
        # args["model_repository"] is this model's directory; the version directory holds the ONNX file
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        path = os.path.join(version_dir, _param(config, MODEL_FILE_PARAM) or "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(_param(config, INTRA_OP_PARAM) or os.environ.get(THREADS_ENV)
                                           or DEFAULT_INTRA_OP_THREADS)
        options.inter_op_num_threads = int(_param(config, INTER_OP_PARAM) or 1)
        self.session = ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])
        self.batched = int(config.get("max_batch_size", 0)) > 0
        self.inputs = [(t["name"], bool(t.get("optional", False))) for t in config["input"]]
        self.outputs = [(t["name"], pb_utils.triton_string_to_numpy(t["data_type"])) for t in config["output"]]
        graph_inputs = {i.name for i in self.session.get_inputs()}
        graph_outputs = {o.name for o in self.session.get_outputs()}
        missing = [n for n, _ in self.inputs if n not in graph_inputs]
        missing += [n for n, _ in self.outputs if n not in graph_outputs]
        if missing:
            raise pb_utils.TritonModelException(
                f"{path}: config tensors {missing} are not in the ONNX graph "
                f"(inputs {sorted(graph_inputs)}, outputs {sorted(graph_outputs)})")

    def _feeds(self, request: Any) -> dict[str, np.ndarray]:
        feeds: dict[str, np.ndarray] = {}
        for name, optional in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                if optional:
                    continue
                raise ValueError(f"missing input {name!r}")
            feeds[name] = tensor.as_numpy()
        return feeds

    def _run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        names = [name for name, _ in self.outputs]
        results = self.session.run(names, feeds)
        return [np.ascontiguousarray(r, dtype=dtype) for r, (_, dtype) in zip(results, self.outputs, strict=True)]

    def _response(self, results: list[np.ndarray]) -> Any:
        return pb_utils.InferenceResponse(
            [pb_utils.Tensor(name, r) for r, (name, _) in zip(results, self.outputs, strict=True)])

    def _error(self, exc: Exception) -> Any:
        return pb_utils.InferenceResponse(output_tensors=[], error=pb_utils.TritonError(str(exc)))

    def execute(self, requests: list[Any]) -> list[Any]:
        responses: list[Any] = [None] * len(requests)
        feeds: dict[int, dict[str, np.ndarray]] = {}
        for i, request in enumerate(requests):
            try:
                feeds[i] = self._feeds(request)
            except Exception as exc:
                responses[i] = self._error(exc)
        if self.batched and len(feeds) > 1 and self._stackable(list(feeds.values())):
            try:
                parts = list(feeds.values())
                joined = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
                bounds = np.cumsum([len(next(iter(p.values()))) for p in parts])[:-1]
                split = [np.split(r, bounds) for r in self._run(joined)]
                for j, i in enumerate(feeds):
                    responses[i] = self._response([s[j] for s in split])
                return responses
            except Exception:  # one bad request must not fail the others: fall back to one run each
                pass
        for i, feed in feeds.items():
            try:
                responses[i] = self._response(self._run(feed))
            except Exception as exc:
                responses[i] = self._error(exc)
        return responses

    @staticmethod
    def _stackable(parts: list[dict[str, np.ndarray]]) -> bool:
        """Requests can share one run when they carry the same inputs with equal non-batch dimensions."""
        first = parts[0]
        if not first:
            return False
        return all(p.keys() == first.keys()
                   and all(p[k].shape[1:] == first[k].shape[1:] and p[k].dtype == first[k].dtype for k in first)
                   for p in parts)

    def finalize(self) -> None:
        self.session = None
