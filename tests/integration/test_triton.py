"""Triton of the local stack over gRPC: health, the repository, and a real inference of `l2_normalize`.

`l2_normalize` is served locally by the generic Python-backend runner (onnxruntime on CPU) from the ONNX
file its build script generates, so these tests exercise the whole local path: the Triton virtualenv,
the stub's libpython, the derived config, the runner and the ONNX graph.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lineup_tools.devstack.components import load

pytestmark = pytest.mark.integration

MODEL = "l2_normalize"


@pytest.fixture(scope="session")
def triton(triton_url: str) -> Iterator[Any]:
    """The local Triton (started by the shared fixture); the first run creates its virtualenv."""
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(triton_url)
    yield client
    client.close()


def _normalize(client: Any, x: np.ndarray) -> np.ndarray:
    import tritonclient.grpc as grpcclient

    inp = grpcclient.InferInput("vectors", list(x.shape), "FP32")
    inp.set_data_from_numpy(x)
    result = client.infer(MODEL, [inp], outputs=[grpcclient.InferRequestedOutput("unit_vectors")],
                          client_timeout=30)
    out: np.ndarray = result.as_numpy("unit_vectors")
    return out


def test_server_live_and_ready(triton: Any) -> None:
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready(MODEL)


def test_repository_and_metadata(triton: Any) -> None:
    index = triton.get_model_repository_index(as_json=True)
    assert {"name": MODEL, "version": "1", "state": "READY"}.items() <= next(
        m for m in index["models"] if m["name"] == MODEL).items()
    meta = triton.get_model_metadata(MODEL, as_json=True)
    assert meta["platform"] == "python"  # the local twin; production uses onnxruntime_onnx
    assert [(t["name"], t["datatype"], t["shape"]) for t in meta["inputs"]] == [("vectors", "FP32", ["-1", "-1"])]
    assert [(t["name"], t["datatype"]) for t in meta["outputs"]] == [("unit_vectors", "FP32")]
    config = triton.get_model_config(MODEL, as_json=True)["config"]
    assert config["max_batch_size"] == 256
    assert config["dynamic_batching"]["preferred_batch_size"] == [32, 128]
    assert config["instance_group"][0]["kind"] == "KIND_CPU"


def test_batch_is_unit_norm_and_matches_numpy(triton: Any) -> None:
    x = np.random.default_rng(7).standard_normal((4, 128)).astype(np.float32) * 5
    y = _normalize(triton, x)
    assert y.shape == (4, 128) and y.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(y, x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-5)


def test_zero_vector_and_other_dimension(triton: Any) -> None:
    x = np.zeros((2, 512), dtype=np.float32)
    x[1, :3] = [3.0, 0.0, 4.0]
    y = _normalize(triton, x)
    np.testing.assert_array_equal(y[0], 0.0)
    np.testing.assert_allclose(y[1, :3], [0.6, 0.0, 0.8], atol=1e-6)


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def test_python_backend_stub_runs_the_venv_interpreters_libpython(triton: Any) -> None:
    """Regression guard: with Debian's libpython the pyenv stdlib fails (`_recursion_count`)."""
    comp = load("triton")
    pid = comp.pid()
    if pid is None:
        pytest.skip("Triton was not started by the devstack (external server)")
    libdir = comp.environment()["LD_LIBRARY_PATH"].split(":")[0]
    stubs = [k for k in _children(pid) if "triton_python_backend_stub" in Path(f"/proc/{k}/cmdline").read_text()]
    assert stubs, "no Python backend stub process"
    for stub in stubs:
        libs = {line.split()[-1] for line in Path(f"/proc/{stub}/maps").read_text().splitlines()
                if "libpython3" in line}
        assert libs and all(lib.startswith(libdir) for lib in libs), libs


def test_concurrent_requests_are_answered_separately(triton: Any) -> None:
    """Concurrent requests may be batched together by the dynamic batcher; each must get its own rows."""
    rng = np.random.default_rng(11)
    inputs = [rng.standard_normal((n, 128)).astype(np.float32) for n in (1, 3, 2, 5, 1, 4, 2, 6)]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            results[i] = _normalize(triton, inputs[i])
        except BaseException as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request got no answer"
    assert not errors
    for i, x in enumerate(inputs):
        np.testing.assert_allclose(results[i], x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-5)
