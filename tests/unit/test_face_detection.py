"""Detection domain: anchor decoding, NMS, tiling, quality measures, and the crowd-photo check.

The decoding/NMS/tiling/quality tests are synthetic and need nothing; the crowd and LFW tests run the real
converted detector in-process (onnxruntime) on ../shared/datasets and skip when it is absent.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest
from PIL import Image, ImageFilter

from detection.detector import (
    GRID,
    INPUT_SIZE,
    FaceAnalyser,
    FaceDetector,
    anchor_centres,
    decode,
    iou_matrix,
    plan_tiles,
    weighted_nms,
)
from detection.quality import Band, Pose, assess, brightness, estimate_pose, sharpness
from lineup.modelkit.backends import InferenceBackend, OnnxRuntimeBackend
from tests.face_data import CROWD, CROWD_FACES, lfw_images, models_root, require

# --- synthetic -------------------------------------------------------------------------------------


def test_anchors_cover_the_grid_row_major() -> None:
    a = anchor_centres()
    assert a.shape == (GRID * GRID, 2)
    assert np.allclose(a[0], [2.0, 2.0])  # (0 + 0.5) * 4
    assert np.allclose(a[1], [6.0, 2.0])  # x varies fastest
    assert np.allclose(a[GRID], [2.0, 6.0])
    assert np.allclose(a[-1], [190.0, 190.0])


def test_decode_offsets_are_relative_to_the_anchor_centre() -> None:
    reg = np.zeros((GRID * GRID, 16), np.float32)
    logits = np.full((GRID * GRID, 1), -10.0, np.float32)
    i = 10 * GRID + 20  # row 10, column 20: anchor centre (82, 42)
    reg[i, :4] = [3.0, -2.0, 40.0, 50.0]
    reg[i, 4:6] = [-10.0, -8.0]  # first keypoint
    logits[i] = 2.0
    boxes, kps, scores = decode(reg, logits, threshold=0.6)
    assert boxes.shape == (1, 4)
    assert np.allclose(boxes[0], [85 - 20, 40 - 25, 85 + 20, 40 + 25])
    assert np.allclose(kps[0, 0], [72.0, 34.0])
    assert scores[0] == pytest.approx(1 / (1 + np.exp(-2.0)))


def test_weighted_nms_merges_overlaps_and_keeps_separate_faces() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    kps = np.zeros((3, 6, 2), np.float32)
    scores = np.array([0.9, 0.9, 0.8], np.float32)
    merged = weighted_nms(boxes, kps, scores, iou_threshold=0.3)
    assert len(merged) == 2
    assert np.allclose(merged[0][0], [0.5, 0, 10.5, 10])  # equal-weight mean of the two overlapping boxes
    assert merged[1][2] == pytest.approx(0.8)


def test_iou() -> None:
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], float)
    assert np.allclose(iou_matrix(a, b), [[50 / 150, 0.0]])


@pytest.mark.parametrize("size", [(1920, 1280), (1366, 768), (640, 480), (4000, 3000), (250, 250)])
def test_tiles_contain_every_small_face_whole_at_a_usable_scale(size: tuple[int, int]) -> None:
    """Any face from 40 px up to the image side lies whole inside a tile where it is 20-90 px big in the
    model input (the range where the model finds >= 98 % of LFW faces)."""
    width, height = size
    plan = plan_tiles(width, height, 40)
    rng = np.random.default_rng(0)
    for _ in range(300):
        face = float(np.exp(rng.uniform(np.log(40), np.log(min(width, height)))))
        x = rng.uniform(0, width - face)
        y = rng.uniform(0, height - face)
        ok = False
        for _, t in plan:
            inside = t.x0 <= x and t.y0 <= y and x + face <= t.x0 + t.size and y + face <= t.y0 + t.size
            if inside and 20 - 1e-6 <= face * INPUT_SIZE / t.size <= 90:
                ok = True
                break
        assert ok, f"face {face:.0f}px at ({x:.0f},{y:.0f}) in {size} is in no usable tile"


def test_pose_of_a_frontal_and_a_rolled_face() -> None:
    frontal = np.array([[40, 50], [80, 50], [60, 72], [60, 90], [20, 60], [100, 60]], float)
    pose = estimate_pose(frontal)
    assert abs(pose.yaw) < 1 and abs(pose.roll) < 1 and abs(pose.pitch) < 6
    angle = np.radians(20)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = estimate_pose((frontal - 60) @ rot.T + 60)
    assert rolled.roll == pytest.approx(20, abs=0.5)
    assert abs(rolled.yaw) < 1
    turned = frontal.copy()
    turned[2, 0] += 20  # nose tip towards the image right
    assert estimate_pose(turned).yaw > 20


def _textured_chip(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, size=(150, 150, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(base).filter(ImageFilter.GaussianBlur(0.7)))


def test_quality_bands_follow_the_measurements() -> None:
    chip = _textured_chip()
    frontal = Pose(0, 0, 0)
    good = assess(chip, (0, 0, 120, 130), 0.95, frontal)
    assert good.band == Band.HIGH and good.reasons == ()
    blurred = np.asarray(Image.fromarray(chip).filter(ImageFilter.GaussianBlur(4)))
    assert sharpness(blurred) < sharpness(chip)
    assert assess(blurred, (0, 0, 120, 130), 0.95, frontal).band == Band.LOW
    dark = (chip * 0.1).astype(np.uint8)
    assert brightness(dark) < 12
    assert "dark" in assess(dark, (0, 0, 120, 130), 0.95, frontal).reasons
    assert assess(chip, (0, 0, 30, 30), 0.95, frontal).band == Band.LOW  # too small
    assert assess(chip, (0, 0, 60, 60), 0.95, frontal).band == Band.MEDIUM
    assert assess(chip, (0, 0, 120, 130), 0.95, Pose(70, 0, 0)).reasons == ("extreme_pose",)


# --- real photos -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def backend() -> InferenceBackend:
    return OnnxRuntimeBackend(models_root())


def test_crowd_photos_faces_found(backend: InferenceBackend) -> None:
    """>= 90 % of the 46 faces counted by eye are found, with at most 2 extra detections in total."""
    require(CROWD)
    detector = FaceDetector(backend)
    found = false = 0
    lines = []
    for name, expected in CROWD_FACES.items():
        dets = detector.detect(Image.open(CROWD / f"{name}.jpg"))
        found += min(len(dets), expected)
        false += max(len(dets) - expected, 0)
        lines.append(f"{name}: {len(dets)}/{expected}")
        assert all(d.score >= detector.score_threshold for d in dets)
    total = sum(CROWD_FACES.values())
    print(f"\ncrowd: {'; '.join(lines)}; found {found}/{total}, extra {false}")
    assert found >= 0.9 * total
    assert false <= 2


def test_lfw_subject_found_with_sane_geometry(backend: InferenceBackend) -> None:
    analyser = FaceAnalyser(FaceDetector(backend))
    files = lfw_images(limit=40, step=95)
    hits = 0
    for path in files:
        faces = analyser.analyse(Image.open(path))
        central = [f for f in faces if f.detection.box[0] < 125 < f.detection.box[2]
                   and f.detection.box[1] < 125 < f.detection.box[3]]
        if not central:
            continue
        hits += 1
        face = central[0]
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
        assert left_eye[0] > right_eye[0]  # the subject's left eye is on the image's right
        assert nose[1] > max(left_eye[1], right_eye[1])
        assert mouth_left[1] > nose[1] and mouth_left[0] > mouth_right[0]
        assert face.chip.shape == (150, 150, 3)
        assert 50 <= face.quality.face_size_px <= 200
        assert abs(face.pose.roll) < 30
    assert hits >= 38


def test_detector_backend_is_pluggable() -> None:
    """The detector only talks to the InferenceBackend protocol: a fake returning nothing yields no faces."""

    class Empty:
        calls = 0

        def infer(self, model_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
            Empty.calls += 1
            n = len(inputs["image"])
            return {"regressors": np.zeros((n, GRID * GRID, 16), np.float32),
                    "scores": np.full((n, GRID * GRID, 1), -20.0, np.float32)}

    assert isinstance(Empty(), InferenceBackend)
    assert FaceDetector(Empty()).detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert Empty.calls == 1  # all tiles of the image in one batch


@pytest.mark.parametrize(("left", "top", "side"), [(-50, -20, 120), (350, 250, 100), (10, 10, 50), (-500, -500, 10),
                                                   (390, 290, 200), (0, 0, 400)])
def test_the_hog_window_is_exactly_pils_crop_without_copying_the_photo(left: int, top: int, side: int) -> None:
    """The landmarker's HOG refinement cuts a window around each face; it must be pixel for pixel what
    `Image.crop` gave (black off the image), since alignment accuracy was measured with that."""
    from detection.align import _window

    photo = np.random.default_rng(7).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    expected = np.asarray(Image.fromarray(photo).crop((left, top, left + side, top + side)))
    got = _window(photo, left, top, side)
    assert got.shape == expected.shape and np.array_equal(got, expected)
