"""Which crop each face model takes, as a fixed transform from dlib's aligned chip.

Every embedder is fed a crop cut from the *same* landmarks (the detection service's joint dlib 5-point +
BlazeFace fit, `detection.align.Aligner`), only through a different template: the model card's `chip`
section gives the crop size and the 2x3 similarity `from_dlib_chip` that maps a pixel of the model's crop
into dlib's 150-px chip. The crop is then sampled straight from the photo through
`T_dlib o from_dlib_chip` (one interpolation, no black borders), never cut out of the 150-px chip, which
is too tight for templates with more forehead, like ArcFace's.

One landmark fit for all models keeps alignment cost per face constant as models are added, and keeps
the quality measurements (made on dlib's chip) the same whichever model a collection is pinned to. For
SFace the measured transform (ArcFace 112-px template into dlib's chip, docs/models.md) worked as well as
fitting the ArcFace template to the landmarks directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from lineup.errors import FailedPrecondition, InvalidArgument
from lineup.scoring import DEFAULT_FACE_MODEL, MODEL_REF, MODEL_REPOSITORY

#: dlib's chip (150 px, padding 0.25): what `face_embedder` takes and what quality is measured on
DLIB_CHIP_SIZE = 150


@dataclass(frozen=True)
class ChipSpec:
    """The crop a face model takes: `size` x `size` RGB, at `from_dlib_chip` relative to dlib's chip."""

    size: int = DLIB_CHIP_SIZE
    from_dlib_chip: tuple[tuple[float, float, float], tuple[float, float, float]] = ((1.0, 0.0, 0.0),
                                                                                     (0.0, 1.0, 0.0))
    model: str = field(default="", compare=False)

    @property
    def is_dlib_chip(self) -> bool:
        return self.size == DLIB_CHIP_SIZE and np.allclose(self.from_dlib_chip, ((1, 0, 0), (0, 1, 0)))

    def transform(self, dlib_transform: np.ndarray) -> np.ndarray:
        """The model crop's pixel -> image transform, given dlib's chip pixel -> image transform."""
        s = np.vstack([np.asarray(self.from_dlib_chip, np.float64), [0.0, 0.0, 1.0]])
        return np.asarray(dlib_transform, np.float64) @ s


def _spec_from_card(card: dict[str, object], path: Path) -> ChipSpec:
    chip = card.get("chip")
    name = str(card.get("name", path.parent.name))
    if chip is None:
        return ChipSpec(model=name)
    if not isinstance(chip, dict):
        raise FailedPrecondition(f"{path}: `chip` must be an object with size and from_dlib_chip")
    try:
        size = int(chip["size"])
        m = chip.get("from_dlib_chip", [[1, 0, 0], [0, 1, 0]])
        rows = tuple(tuple(float(v) for v in row) for row in m)
        if len(rows) != 2 or any(len(r) != 3 for r in rows) or not 16 <= size <= 1024:
            raise ValueError("from_dlib_chip must be 2x3 and size 16..1024")
    except (KeyError, TypeError, ValueError) as exc:
        raise FailedPrecondition(f"{path}: bad `chip` section ({exc})") from None
    return ChipSpec(size=size, from_dlib_chip=(rows[0], rows[1]), model=name)  # type: ignore[arg-type]


@lru_cache(maxsize=16)
def chip_spec(face_model: str = "", repository: Path = MODEL_REPOSITORY) -> ChipSpec:
    """The crop of a face model given by name or `name/version` (empty: the default model for new
    collections). FailedPrecondition when the deployment has no card for it."""
    name = face_model.split("/")[0] if face_model else DEFAULT_FACE_MODEL
    if face_model and not MODEL_REF.fullmatch(face_model):  # names come from requests and envelopes
        raise InvalidArgument("face model must be 1-64 of a-z, 0-9 and _, optionally /<version> "
                              "(e.g. face_embedder_sface/1)")
    path = repository / name / "model_card.json"
    if not path.exists():
        raise FailedPrecondition(f"face model {name!r} has no model card at {path}")
    return _spec_from_card(json.loads(path.read_text()), path)
