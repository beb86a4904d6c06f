"""Scores a person can act on: raw cosine -> similarity (0-100) and estimated false-match rate, and the
resolution of a caller's threshold against the model's calibration and the agency's floor.

Similarity is 100 x the raw cosine clamped to [0, 1]: monotone, easy to explain, and never dressed up
as a probability. The number that carries meaning is the estimated FMR, read from the calibration
table in the model card of the model a collection is pinned to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lineup.errors import FailedPrecondition, InvalidArgument
from lineup.modelkit.calibration import DEFAULT_FMR, Calibration, from_card
from lineup.v1 import common_pb2, face_search_pb2

MODEL_REPOSITORY = Path(__file__).resolve().parents[2] / "infra" / "triton" / "models"
#: the model new collections are pinned to (and probes of CompareFaces are embedded with); collections
#: keep the model they were created with, so older models stay deployed next to it (docs/models.md)
DEFAULT_FACE_MODEL = "face_embedder_sface"
#: face model names end up in paths (model cards) and come from requests: this is all a name may be
MODEL_REF = re.compile(r"[a-z0-9_]{1,64}(/[0-9]{1,9})?")

NOTICE = ("Investigative lead only: these candidates are not a positive identification. A trained examiner "
          "must review every candidate, and no action may be taken on a match alone. Estimated false-match "
          "rates are averages measured on adult faces and vary across demographic groups.")


def model_version(model: str, version: int | str) -> str:
    return f"{model}/{version}"


@dataclass(frozen=True)
class ScoreModel:
    """The calibration of one face model version."""

    face_model_version: str
    calibration: Calibration
    dimension: int

    @staticmethod
    def similarity(raw: float) -> float:
        return 100.0 * min(1.0, max(0.0, raw))

    def match_score(self, raw: float) -> common_pb2.MatchScore:
        return common_pb2.MatchScore(similarity=self.similarity(raw), raw_score=raw,
                                     estimated_fmr=self.calibration.fmr_at(raw))

    @property
    def default_raw(self) -> float:
        return self.calibration.score_at_fmr(DEFAULT_FMR)

    def to_raw(self, threshold: common_pb2.Threshold | None) -> float | None:
        """A threshold on the raw-score scale; None when the caller set none."""
        if threshold is None:
            return None
        kind = threshold.WhichOneof("value")
        if kind == "min_similarity":
            if not 0 <= threshold.min_similarity <= 100:
                raise InvalidArgument(f"min_similarity {threshold.min_similarity} is outside 0..100")
            return threshold.min_similarity / 100.0
        if kind == "min_raw_score":
            if not -1 <= threshold.min_raw_score <= 1:
                raise InvalidArgument(f"min_raw_score {threshold.min_raw_score} is outside -1..1")
            return float(threshold.min_raw_score)
        if kind == "max_fmr":
            if not 0 < threshold.max_fmr <= 1:
                raise InvalidArgument(f"max_fmr {threshold.max_fmr} must be in (0, 1], e.g. 1e-4")
            return self.calibration.score_at_fmr(threshold.max_fmr)
        return None

    def resolve(self, requested: common_pb2.Threshold | None, floors: Sequence[common_pb2.Threshold] = (),
                ) -> float:
        """The raw threshold to apply: the request's (default: FMR 1e-4), never looser than any floor (the
        agency's policy; for a granted collection, the owner's too)."""
        raw = self.to_raw(requested)
        raw = self.default_raw if raw is None else raw
        for floor in floors:
            floor_raw = self.to_raw(floor)
            if floor_raw is not None:
                raw = max(raw, floor_raw)
        return raw


@lru_cache(maxsize=16)
def load_score_model(face_model_version: str = "", repository: Path = MODEL_REPOSITORY) -> ScoreModel:
    """The ScoreModel of `name/version` (default: the default embedder's card)."""
    name = face_model_version.split("/")[0] if face_model_version else DEFAULT_FACE_MODEL
    if face_model_version and not MODEL_REF.fullmatch(face_model_version):
        raise InvalidArgument(f"face model {face_model_version[:80]!r} is not a model name (1-64 of a-z, 0-9, _; "
                              f"optionally /<version>)")
    card_path = repository / name / "model_card.json"
    if not card_path.exists():
        raise FailedPrecondition(f"face model {name!r} has no model card at {card_path}")
    card = json.loads(card_path.read_text())
    version = model_version(card["name"], card["version"])
    if "/" in face_model_version and face_model_version != version:
        raise FailedPrecondition(f"collection is pinned to {face_model_version} but the deployment serves "
                                 f"{version}; keep the old model deployed or re-enroll into a new collection")
    return ScoreModel(face_model_version=version, calibration=from_card(card), dimension=int(card["embedding_dim"]))


def provenance(request_id: str, trace_id: str, scores: ScoreModel, min_raw_score: float
               ) -> face_search_pb2.SearchProvenance:
    """What every search and comparison response says about how it was produced: the request id is the
    search id examiners review, the threshold is the one applied (the agency floor included), and the
    result is labelled an investigative lead, never an identification."""
    return face_search_pb2.SearchProvenance(
        search_id=request_id, request_id=request_id, trace_id=trace_id,
        threshold_applied=scores.match_score(min_raw_score), face_model_version=scores.face_model_version,
        label=common_pb2.RESULT_LABEL_INVESTIGATIVE_LEAD, notice=NOTICE)
