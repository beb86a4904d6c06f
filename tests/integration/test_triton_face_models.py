"""The two face models served by the local Triton, called the production way (tritonclient gRPC).

Checks that both load with the tensors their config.pbtxt declares, that Triton's answers equal
onnxruntime's in-process answers on real faces, that the detector finds the same faces through either
backend, and compares the cost per face of one batch of 16 crops with 16 single calls (printed, not
asserted: timings depend on the machine).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detection.detector import FaceAnalyser, FaceDetector
from lineup.modelkit.backends import OnnxRuntimeBackend, TritonBackend
from tests.face_data import CROWD, lfw_images, models_root, require

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def models() -> object:
    return models_root()  # built before Triton starts: its repository needs the ONNX files


@pytest.fixture(scope="module")
def triton(models: object, triton_url: str) -> Iterator[TritonBackend]:
    backend = TritonBackend(triton_url)
    yield backend
    backend.close()


@pytest.fixture(scope="module")
def local() -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(models_root())


@pytest.fixture(scope="module")
def chips(local: OnnxRuntimeBackend) -> np.ndarray:
    """16 aligned chips of real LFW faces."""
    analyser = FaceAnalyser(FaceDetector(local))
    out = []
    for path in lfw_images(limit=20, step=131):
        faces = analyser.analyse(Image.open(path))
        if faces:
            out.append(faces[0].chip)
    assert len(out) >= 16
    return np.stack(out[:16])


def test_models_ready_with_declared_tensors(triton: TritonBackend) -> None:
    client: Any = triton._client
    for name, inputs, outputs in (
        ("face_detector", {"image": ("UINT8", [-1, 192, 192, 3])},
         {"regressors": [-1, 2304, 16], "scores": [-1, 2304, 1]}),
        ("face_embedder", {"image": ("UINT8", [-1, 150, 150, 3])}, {"embedding": [-1, 128]}),
    ):
        assert client.is_model_ready(name)
        meta = client.get_model_metadata(name, as_json=True)
        assert {i["name"]: (i["datatype"], [int(d) for d in i["shape"]]) for i in meta["inputs"]} == inputs
        assert {o["name"]: [int(d) for d in o["shape"]] for o in meta["outputs"]} == outputs


def test_embedder_through_triton_equals_onnxruntime(triton: TritonBackend, local: OnnxRuntimeBackend,
                                                    chips: np.ndarray) -> None:
    served = triton.infer("face_embedder", {"image": chips})["embedding"]
    direct = local.infer("face_embedder", {"image": chips})["embedding"]
    assert served.shape == (16, 128)
    np.testing.assert_allclose(served, direct, atol=1e-4)


def test_detector_through_triton_finds_the_same_faces(triton: TritonBackend, local: OnnxRuntimeBackend) -> None:
    image = Image.open(require(CROWD) / "bbt4.jpg")
    served = FaceDetector(triton).detect(image)
    direct = FaceDetector(local).detect(image)
    assert len(served) == len(direct) == 6
    for a, b in zip(served, direct, strict=True):
        assert np.allclose(a.box, b.box, atol=0.05)
        assert a.score == pytest.approx(b.score, abs=1e-4)


def test_batch_of_16_versus_16_single_calls(triton: TritonBackend, chips: np.ndarray) -> None:
    triton.infer("face_embedder", {"image": chips[:1]})  # warm up
    rounds = 3
    t0 = time.perf_counter()
    for _ in range(rounds):
        batch = triton.infer("face_embedder", {"image": chips})["embedding"]
    batch_s = (time.perf_counter() - t0) / rounds
    t0 = time.perf_counter()
    for _ in range(rounds):
        singles = np.concatenate([triton.infer("face_embedder", {"image": c[None]})["embedding"] for c in chips])
    single_s = (time.perf_counter() - t0) / rounds
    print(f"\nface_embedder via Triton gRPC: batch of 16: {1000 * batch_s / 16:.1f} ms/face "
          f"({1000 * batch_s:.0f} ms per call); 16 single calls: {1000 * single_s / 16:.1f} ms/face")
    np.testing.assert_allclose(batch, singles, atol=1e-4)
