"""Face embeddings from aligned crops through a Triton face model (dlib's ResNet, SFace, ...).

The crop size is the model's (`lineup.chips.ChipSpec`: 150 px for dlib, 112 px for SFace); every model
takes uint8 NHWC RGB on input `image` and gives a raw descriptor on output `embedding`.

Each chip is embedded together with its horizontal mirror and the two raw descriptors are summed before
L2 normalisation: faces are roughly symmetric, and averaging the two views removes part of the noise
that depends on which side of the face the light or the crop favours (on lfw-dev: 98.60 -> 99.13 %
verification accuracy, TAR at FAR 1e-4 76.7 -> 80.5 %). Both views go in the same batch: one call.
"""

from __future__ import annotations

import numpy as np

from lineup.modelkit.backends import InferenceBackend, infer_in_batches

MODEL_NAME = "face_embedder"
CHIP_SIZE = 150
EMBEDDING_DIM = 128
MAX_BATCH = 32  # max_batch_size of infra/triton/models/face_embedder/config.pbtxt


def l2_normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


class FaceEmbedder:
    """Aligned RGB crops (chip_size square) in, L2-normalised embeddings out (cosine = dot product)."""

    def __init__(self, backend: InferenceBackend, *, model_name: str = MODEL_NAME, flip: bool = True,
                 batch_size: int = MAX_BATCH, chip_size: int = CHIP_SIZE, dimension: int = EMBEDDING_DIM) -> None:
        self.backend = backend
        self.model_name = model_name
        self.flip = flip
        self.batch_size = batch_size
        self.chip_size = chip_size
        self.dimension = dimension

    def raw(self, chips: np.ndarray) -> np.ndarray:
        """The model's unnormalised descriptors for a stack of chips, no mirroring."""
        chips = np.asarray(chips)
        size = self.chip_size
        if chips.ndim != 4 or chips.shape[1:] != (size, size, 3):
            raise ValueError(f"chips must be (N, {size}, {size}, 3), got {chips.shape}")
        if len(chips) == 0:
            return np.zeros((0, self.dimension), np.float32)
        out = infer_in_batches(self.backend, self.model_name, {"image": chips.astype(np.uint8)},
                               self.batch_size)
        return np.asarray(out["embedding"], dtype=np.float32)

    def embed(self, chips: np.ndarray) -> np.ndarray:
        """(N, dimension) float32, unit length."""
        chips = np.asarray(chips)
        if not self.flip:
            return l2_normalise(self.raw(chips))
        both = self.raw(np.concatenate([chips, chips[:, :, ::-1]]))
        n = len(chips)
        return l2_normalise(both[:n] + both[n:])
