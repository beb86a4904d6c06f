"""The embedding client: mirror averaging, normalisation, batching to Triton's max_batch_size."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytest

from embedding.embedder import MAX_BATCH, FaceEmbedder
from lineup.modelkit.backends import OnnxRuntimeBackend, infer_in_batches
from tests.face_data import lfw_images, models_root


class Recorder:
    """A fake backend: the 'embedding' is the mean colour of the left and right halves, so a mirrored
    chip gives a different, predictable vector."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def infer(self, model_name: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert model_name == "face_embedder"
        x = inputs["image"].astype(np.float32)
        self.batches.append(len(x))
        left, right = x[:, :, :75].mean(axis=(1, 2)), x[:, :, 75:].mean(axis=(1, 2))
        out = np.zeros((len(x), 128), np.float32)
        out[:, :3], out[:, 3:6] = left, right
        return {"embedding": out}


def test_mirror_averaging_and_unit_length() -> None:
    chips = np.zeros((3, 150, 150, 3), np.uint8)
    chips[:, :, :75] = 200  # bright left half
    backend = Recorder()
    emb = FaceEmbedder(backend).embed(chips)
    assert emb.shape == (3, 128)
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0)
    # chip (left 200, right 0) + mirror (left 0, right 200): both halves sum to the same value
    assert np.allclose(emb[:, :3], emb[:, 3:6])
    assert backend.batches == [6]  # chips and mirrors in one call
    plain = FaceEmbedder(backend, flip=False).embed(chips)
    assert np.allclose(plain[:, 3:6], 0.0)


def test_large_requests_are_split_at_max_batch() -> None:
    backend = Recorder()
    FaceEmbedder(backend).embed(np.zeros((40, 150, 150, 3), np.uint8))
    assert backend.batches == [MAX_BATCH, MAX_BATCH, 80 - 2 * MAX_BATCH]
    out = infer_in_batches(backend, "face_embedder", {"image": np.zeros((5, 150, 150, 3), np.uint8)}, 2)
    assert out["embedding"].shape == (5, 128)


def test_rejects_wrong_chip_size() -> None:
    with pytest.raises(ValueError, match="150"):
        FaceEmbedder(Recorder()).embed(np.zeros((1, 112, 112, 3), np.uint8))


def test_real_model_same_person_closer_than_strangers() -> None:
    """On real LFW images through the whole chain: two photos of one person are more similar than
    photos of different people."""
    from PIL import Image

    from detection.detector import FaceAnalyser, FaceDetector

    backend = OnnxRuntimeBackend(models_root())
    people: dict[str, list[Path]] = {}
    for path in lfw_images(limit=400):
        people.setdefault(path.parent.name, []).append(path)
    pairs = [v[:2] for v in people.values() if len(v) >= 2][:6]
    analyser = FaceAnalyser(FaceDetector(backend))
    embedder = FaceEmbedder(backend)

    def central_chip(path: Path) -> np.ndarray:
        faces = analyser.analyse(Image.open(path))
        return min(faces, key=lambda f: abs(sum(f.detection.box[::2]) / 2 - 125)).chip

    emb = embedder.embed(np.stack([central_chip(p) for pair in pairs for p in pair]))
    sims = emb @ emb.T
    same = [sims[2 * i, 2 * i + 1] for i in range(len(pairs))]
    different = [sims[2 * i, 2 * j] for i in range(len(pairs)) for j in range(len(pairs)) if i != j]
    assert min(same) > np.median(different)
    assert np.mean(same) > np.mean(different) + 0.03
