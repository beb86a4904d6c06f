"""The face models this service serves, from their model cards: version, dimension, metric, threshold.

The card next to the model's Triton config is the one source for these facts (and for the calibration
that turns scores into false-match rates), so what ListModels reports, the version stamped on every
embedding and the version a collection is pinned to cannot drift apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lineup.errors import FailedPrecondition, InvalidArgument
from lineup.modelkit.calibration import DEFAULT_FMR
from lineup.scoring import MODEL_REPOSITORY, load_score_model, model_version
from lineup.v1 import embedding_pb2


@dataclass(frozen=True)
class FaceModel:
    name: str  # the Triton model name, e.g. face_embedder
    version: str  # `<name>/<version>`, as stamped on embeddings and pinned on collections
    dimension: int
    metric: str
    default_threshold: float  # raw cosine at the card's default FMR (1e-4)
    default_fmr: float
    licence: str

    def info(self) -> embedding_pb2.FaceModelInfo:
        return embedding_pb2.FaceModelInfo(name=self.name, version=self.version, dimension=self.dimension,
                                           metric=self.metric, default_threshold=self.default_threshold,
                                           default_fmr=self.default_fmr, licence=self.licence)

    def check_requested(self, requested: str) -> None:
        """A request may name the model (`face_embedder`) or a version (`face_embedder/1`); empty: default."""
        if requested and requested not in (self.name, self.version):
            raise InvalidArgument(f"face_model {requested!r} is unknown: this service serves {self.version} "
                                  f"(call ListModels to see the installed models)")

    def check_pinned(self, pinned: str) -> None:
        """Vectors of different models are not comparable: a request pinned to another version must fail
        loudly instead of mixing vectors in one collection."""
        if pinned and pinned != self.version:
            raise FailedPrecondition(f"the request is pinned to face model {pinned} but this service embeds with "
                                     f"{self.version}; deploy {pinned} or re-enroll into a new collection")


def _licence(card: dict[str, Any]) -> str:
    lic = card.get("licence", "")
    if isinstance(lic, dict):
        return "; ".join(f"{k}: {v}" for k, v in lic.items())
    return str(lic)


def load_face_model(name: str, repository: Path = MODEL_REPOSITORY) -> FaceModel:
    """The served model's facts from `<repository>/<name>/model_card.json` (FailedPrecondition if absent)."""
    path = repository / name / "model_card.json"
    if not path.exists():
        raise FailedPrecondition(f"face model {name!r} has no model card at {path}")
    card = json.loads(path.read_text())
    if "embedding_dim" not in card:
        raise FailedPrecondition(f"{path} is not a face embedding model's card (no embedding_dim)")
    version = model_version(card["name"], card["version"])
    score = load_score_model(version, repository)
    metric = "cosine" if str(card.get("metric", "cosine")).startswith("cosine") else str(card["metric"])
    return FaceModel(name=card["name"], version=version, dimension=int(card["embedding_dim"]), metric=metric,
                     default_threshold=score.default_raw, default_fmr=DEFAULT_FMR, licence=_licence(card))
