"""Synthetic distractor embeddings for large galleries.

We do not have 300,000 real, consented face photos, so a large gallery is the real enrolled faces plus
vectors drawn from a multivariate Gaussian fitted to those real embeddings (their mean and covariance,
shrunk towards a scaled identity so that a fit on a few hundred faces in 128 dimensions stays well
conditioned). Each draw stands for one more unknown person: it lands where real faces land, so search cost
and the score distribution a probe meets are realistic, but no distractor shares an identity with a probe.
Lineup's embeddings are L2-normalised (cosine search), so its draws are normalised too; face_recognition's
raw dlib encodings are compared by Euclidean distance, so its draws are left as drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GaussianFit:
    mean: Matrix
    cov: Matrix
    n_samples: int
    shrinkage: float

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])


def fit(embeddings: npt.ArrayLike, shrinkage: float = 0.1) -> GaussianFit:
    """Mean and shrunk covariance of `embeddings` (rows are faces)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"need at least 2 embeddings as rows of a matrix, got shape {x.shape}")
    if not 0.0 <= shrinkage <= 1.0:
        raise ValueError(f"shrinkage {shrinkage} is outside 0..1")
    mean = x.mean(axis=0)
    cov = np.cov(x, rowvar=False)
    target = np.eye(x.shape[1]) * (np.trace(cov) / x.shape[1])
    return GaussianFit(mean=mean, cov=(1.0 - shrinkage) * cov + shrinkage * target, n_samples=x.shape[0],
                       shrinkage=shrinkage)


class DistractorSampler:
    """Draws batches from a fit, reproducibly for a given seed."""

    def __init__(self, model: GaussianFit, *, normalize: bool, seed: int = 0) -> None:
        self.model = model
        self.normalize = normalize
        self._rng = np.random.default_rng(seed)
        # the shrunk covariance is positive definite, so Cholesky always exists
        self._chol = np.linalg.cholesky(model.cov)

    def sample(self, n: int) -> npt.NDArray[np.float32]:
        z = self._rng.standard_normal((n, self.model.dim))
        x = self.model.mean + z @ self._chol.T
        if self.normalize:
            x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32)
