"""Our ONNX conversions against the originals, on real faces.

* embedder: native dlib (dlib-bin + the public-domain dlib_face_recognition_resnet_model_v1 from
  face-recognition-models) vs our ONNX rebuild of the TF.js weights, on the same aligned chips of 120
  LFW faces;
* detector: the MediaPipe TFLite file run by LiteRT vs our ONNX conversion, raw outputs and decoded
  boxes on the crowd photos and LFW images;
* alignment: our numpy chip cutter vs dlib.get_face_chip, pixel for pixel.
No servers needed; skipped when ../shared/datasets is absent.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detection.align import face_chip, shape_predictor_path
from detection.detector import INPUT_SIZE, decode, iou_matrix, plan_tiles, render_tile
from lineup.modelkit.backends import OnnxRuntimeBackend
from tests.face_data import CROWD, CROWD_FACES, lfw_images, models_root, require

N_FACES = 120


def _face_recognition_models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("face-recognition-models is not installed: pip install -e '.[models]'")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@pytest.fixture(scope="module")
def dlib_native() -> tuple[Any, Any, Any]:
    dlib = pytest.importorskip("dlib", reason="dlib-bin is not installed: pip install -e '.[models]'")
    models = _face_recognition_models_dir()
    return (dlib.get_frontal_face_detector(), dlib.shape_predictor(str(shape_predictor_path())),
            dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat")))


@pytest.fixture(scope="module")
def backend() -> OnnxRuntimeBackend:
    return OnnxRuntimeBackend(models_root())


@pytest.fixture(scope="module")
def lfw_chips(dlib_native: tuple[Any, Any, Any]) -> list[tuple[np.ndarray, Any, np.ndarray]]:
    """(image, dlib shape, points) for N_FACES LFW faces found by dlib's own HOG detector."""
    import dlib

    hog, predictor, _ = dlib_native
    out = []
    for path in lfw_images(limit=4 * N_FACES, step=7):
        img = dlib.load_rgb_image(str(path))
        rects = hog(img, 0)
        if len(rects) != 1:
            continue
        shape = predictor(img, rects[0])
        out.append((img, shape, np.array([[p.x, p.y] for p in shape.parts()], float)))
        if len(out) == N_FACES:
            break
    assert len(out) == N_FACES, "too few single-face LFW images"
    return out


def test_embedder_matches_native_dlib(dlib_native: tuple[Any, Any, Any], backend: OnnxRuntimeBackend,
                                      lfw_chips: list[tuple[np.ndarray, Any, np.ndarray]]) -> None:
    import dlib

    _, _, recogniser = dlib_native
    chips = np.stack([dlib.get_face_chip(img, shape, 150, 0.25) for img, shape, _ in lfw_chips])
    native = np.array([np.array(recogniser.compute_face_descriptor(c)) for c in chips])
    ours = backend.infer("face_embedder", {"image": chips})["embedding"]
    assert ours.shape == (N_FACES, 128)
    cos = (native * ours).sum(1) / np.linalg.norm(native, axis=1) / np.linalg.norm(ours, axis=1)
    print(f"\nembedder parity on {N_FACES} LFW faces: cosine min {cos.min():.5f} mean {cos.mean():.5f}; "
          f"mean L2 diff {np.linalg.norm(native - ours, axis=1).mean():.4f}")
    assert cos.min() >= 0.999
    # the raw descriptors agree too (dlib's own rule compares them with L2 distance < 0.6)
    assert np.linalg.norm(native - ours, axis=1).max() < 0.1


def test_embedder_batch_equals_single(backend: OnnxRuntimeBackend,
                                      lfw_chips: list[tuple[np.ndarray, Any, np.ndarray]]) -> None:
    import dlib

    chips = np.stack([dlib.get_face_chip(img, shape, 150, 0.25) for img, shape, _ in lfw_chips[:8]])
    batch = backend.infer("face_embedder", {"image": chips})["embedding"]
    single = np.concatenate([backend.infer("face_embedder", {"image": c[None]})["embedding"] for c in chips])
    np.testing.assert_allclose(batch, single, atol=1e-4)


def test_chip_cutter_matches_dlib(lfw_chips: list[tuple[np.ndarray, Any, np.ndarray]]) -> None:
    import dlib

    for img, shape, points in lfw_chips[:40]:
        ours = face_chip(img, points).astype(int)
        theirs = dlib.get_face_chip(img, shape, 150, 0.25).astype(int)
        assert np.abs(ours - theirs).max() <= 1


@pytest.fixture(scope="module")
def tflite_interpreter() -> Any:
    litert = pytest.importorskip("ai_edge_litert.interpreter",
                                 reason="ai-edge-litert is not installed: pip install -e '.[models]'")
    root = models_root()
    from lineup_tools.modelkit.sources import BLAZEFACE

    path = (root.parent / "downloads" / "extracted" / BLAZEFACE.archive / BLAZEFACE.members[0].path)
    interpreter = litert.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    return interpreter


def _tflite_run(interpreter: Any, tile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inp = interpreter.get_input_details()[0]
    interpreter.set_tensor(inp["index"], (tile[None].astype(np.float32) / 127.5 - 1.0).astype(np.float32))
    interpreter.invoke()
    out = {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
    return out["reshaped_regressor_face_4"][0], out["reshaped_classifier_face_4"][0]


def _real_tiles() -> list[np.ndarray]:
    """Model inputs cut from real photos: every tile of 4 crowd photos plus 12 LFW images."""
    tiles = []
    for name in list(CROWD_FACES)[::3]:
        img = Image.open(require(CROWD) / f"{name}.jpg").convert("RGB")
        tiles += [render_tile(img, t) for _, t in plan_tiles(img.width, img.height, 40)][:12]
    for path in lfw_images(limit=12, step=97):
        img = Image.open(path).convert("RGB")
        tiles += [render_tile(img, t) for _, t in plan_tiles(img.width, img.height, 40)]
    return tiles


def test_detector_matches_tflite(tflite_interpreter: Any, backend: OnnxRuntimeBackend) -> None:
    tiles = np.stack(_real_tiles())
    assert tiles.shape[1:] == (INPUT_SIZE, INPUT_SIZE, 3)
    onnx_out = backend.infer("face_detector", {"image": tiles})
    worst_reg = worst_logit = 0.0
    matched = 0
    min_iou_f = 1.0
    for i, tile in enumerate(tiles):
        reg, logit = _tflite_run(tflite_interpreter, tile)
        worst_reg = max(worst_reg, float(np.abs(reg - onnx_out["regressors"][i]).max()))
        worst_logit = max(worst_logit, float(np.abs(logit - onnx_out["scores"][i]).max()))
        b_ref, _, s_ref = decode(reg, logit, 0.5)
        b_onnx, _, s_onnx = decode(onnx_out["regressors"][i], onnx_out["scores"][i], 0.5)
        assert len(b_ref) == len(b_onnx)
        if len(b_ref):
            iou = np.diag(iou_matrix(b_ref, b_onnx))
            min_iou_f = min(min_iou_f, float(iou.min()))
            matched += len(b_ref)
            np.testing.assert_allclose(s_ref, s_onnx, atol=1e-4)
    print(f"\ndetector parity on {len(tiles)} real tiles: max |regressor diff| {worst_reg:.2e} px, "
          f"max |logit diff| {worst_logit:.2e}; {matched} candidate boxes, min IoU {min_iou_f:.6f}")
    assert matched > 20
    assert min_iou_f >= 0.99
    assert worst_reg < 0.05  # input pixels
    assert worst_logit < 0.01
