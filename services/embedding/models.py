"""The face models this service serves, from their model cards: version, dimension, metric, threshold.

One deployment serves several models side by side: the default one, which new collections are pinned to,
and the older ones existing collections are still pinned to (vectors of different models are not
comparable, so a collection keeps its model until it is re-embedded into a new one: docs/models.md).
Every request and message names its pin; `ServedModels` routes it to that model or fails loudly.

The card next to the model's Triton config is the one source for these facts (and for the calibration
that turns scores into false-match rates), so what ListModels reports, the version stamped on every
embedding and the version a collection is pinned to cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedding.embedder import FaceEmbedder
from lineup.chips import chip_spec
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
    chip_size: int = 150  # side of the square RGB crop the model takes (lineup.chips)

    def info(self) -> embedding_pb2.FaceModelInfo:
        return embedding_pb2.FaceModelInfo(name=self.name, version=self.version, dimension=self.dimension,
                                           metric=self.metric, default_threshold=self.default_threshold,
                                           default_fmr=self.default_fmr, licence=self.licence)


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
                     default_threshold=score.default_raw, default_fmr=DEFAULT_FMR, licence=_licence(card),
                     chip_size=chip_spec(name, repository).size)


def parse_model_list(value: str) -> list[str]:
    """`LINEUP_FACE_MODEL`: comma-separated Triton model names, the default (new collections) first."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise FailedPrecondition("no face model configured: name at least one Triton model")
    if len(set(names)) != len(names):
        raise FailedPrecondition(f"face model list {value!r} names a model twice")
    return names


class ServedModels:
    """The models of this deployment, each with its embedder; the first is the default."""

    def __init__(self, models: Sequence[FaceModel], embedders: Sequence[FaceEmbedder]) -> None:
        if not models or len(models) != len(embedders):
            raise ValueError("one embedder per model, at least one model")
        self.models = tuple(models)
        self._embedders = {m.version: e for m, e in zip(models, embedders, strict=True)}

    @property
    def default(self) -> FaceModel:
        return self.models[0]

    def embedder(self, model: FaceModel) -> FaceEmbedder:
        return self._embedders[model.version]

    def for_request(self, requested: str) -> FaceModel:
        """A request may name a model (`face_embedder`) or a version (`face_embedder/1`); empty: default."""
        if not requested:
            return self.default
        for model in self.models:
            if requested in (model.name, model.version):
                return model
        served = ", ".join(m.version for m in self.models)
        raise InvalidArgument(f"face_model {requested[:80]!r} is unknown: this service serves {served} "
                              f"(call ListModels to see the installed models)")

    def for_pin(self, pinned: str) -> FaceModel:
        """Vectors of different models are not comparable: a message pinned to a version this deployment
        does not serve must fail loudly instead of being embedded with another model. Empty: default."""
        if not pinned:
            return self.default
        for model in self.models:
            if pinned == model.version:
                return model
        served = ", ".join(m.version for m in self.models)
        raise FailedPrecondition(f"the request is pinned to face model {pinned[:80]} but this service embeds with "
                                 f"{served}; deploy {pinned[:80]} or re-embed the collection into a new one "
                                 f"(python -m lineup.reembed)")
