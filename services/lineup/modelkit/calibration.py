"""Raw cosine score <-> estimated false-match rate, from a model card's calibration table.

A cosine of 0.93 means nothing to an examiner; "about 1 in 10,000 pairs of different people score this
high" does. The table is measured on every pair of a labelled face set (`python -m
lineup_tools.modelkit.calibrate --data <LFW-layout dir>`): all cross-identity pairs estimate the false-match
rate (FMR), all same-identity pairs the false non-match rate (FNMR). The search API's default threshold
is `score_at_fmr(1e-4)`.

Between table rows the FMR is interpolated linearly in log10(FMR). Beyond the last row the estimate is
clamped to the smallest FMR the data could measure: the table never claims a rarer false match than it
has evidence for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_FMR = 1e-4
#: FMR targets of the table (a row per target; the last ones are limited by the impostor sample size).
#: FMR 1 is the lowest impostor score, so the table spans every score the data produced.
FMR_GRID = (1.0, 0.5, 0.3, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)
DEMOGRAPHIC_CAVEAT = (
    "False-match rates are not the same for everyone: for face recognition models in general, and "
    "for this one, FMR at a fixed threshold varies across demographic groups (age, sex, skin tone, "
    "region of origin), typically by factors of 2-10 and most for children, the elderly and groups that "
    "are under-represented in the training data. This table was measured on LFW images of adult public "
    "figures and is an average over that population only; it is not valid for any particular group.")


@dataclass(frozen=True)
class Row:
    score: float  # raw cosine similarity threshold (match if score >= this)
    fmr: float  # fraction of impostor pairs scoring >= score
    fnmr: float  # fraction of genuine pairs scoring < score
    impostors_at_or_above: int


@dataclass(frozen=True)
class Calibration:
    rows: tuple[Row, ...]  # ascending score, descending FMR
    genuine_pairs: int
    impostor_pairs: int

    def fmr_at(self, score: float) -> float:
        """Estimated FMR at a raw score (monotone non-increasing in the score)."""
        scores = np.array([r.score for r in self.rows])
        log_fmr = np.log10([max(r.fmr, 1e-12) for r in self.rows])
        if score <= scores[0]:  # the first row is the lowest impostor score: FMR 1
            return float(self.rows[0].fmr)
        if score >= scores[-1]:
            return float(self.rows[-1].fmr)
        return float(10 ** np.interp(score, scores, log_fmr))

    def score_at_fmr(self, fmr: float) -> float:
        """The raw score at which the estimated FMR equals `fmr` (clamped to the table's range)."""
        if fmr <= 0:
            raise ValueError("fmr must be > 0")
        scores = np.array([r.score for r in self.rows])
        log_fmr = np.log10([max(r.fmr, 1e-12) for r in self.rows])
        # np.interp needs ascending x: use descending log FMR reversed
        return float(np.interp(np.log10(fmr), log_fmr[::-1], scores[::-1]))

    def fnmr_at(self, score: float) -> float:
        scores = np.array([r.score for r in self.rows])
        return float(np.interp(score, scores, [r.fnmr for r in self.rows]))


def build_table(genuine: np.ndarray, impostor: np.ndarray, grid: tuple[float, ...] = FMR_GRID) -> Calibration:
    """Rows at each FMR target that the impostor sample can resolve (at least one impostor above)."""
    imp = np.sort(np.asarray(impostor, np.float64))[::-1]
    gen = np.sort(np.asarray(genuine, np.float64))
    rows = []
    for target in grid:
        k = int(np.floor(target * len(imp)))  # impostors allowed at or above the threshold
        if k < 1:
            break
        score = float(imp[k - 1])  # the k-th highest impostor score: k impostors at or above it
        above = int(np.searchsorted(-imp, -score, side="right"))  # ties included
        fnmr = float(np.searchsorted(gen, score, side="left") / len(gen))
        rows.append(Row(score=round(score, 6), fmr=above / len(imp), fnmr=fnmr, impostors_at_or_above=above))
    rows.sort(key=lambda r: r.score)
    return Calibration(rows=tuple(rows), genuine_pairs=len(gen), impostor_pairs=len(imp))


def to_card(cal: Calibration, *, dataset: str, pipeline: str) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "pipeline": pipeline,
        "genuine_pairs": cal.genuine_pairs,
        "impostor_pairs": cal.impostor_pairs,
        "method": ("every same-identity pair is genuine and every cross-identity pair an impostor; for each FMR "
                   "target the threshold is the score of the k-th highest impostor (k = FMR x impostor pairs); "
                   "match means score >= threshold; between rows log10(FMR) is interpolated linearly"),
        "resolution": f"the smallest measurable FMR is 1/{cal.impostor_pairs} (~{1 / cal.impostor_pairs:.1e}); "
                      f"rows with fewer than ~10 impostors above are rough",
        "default_fmr": DEFAULT_FMR,
        "default_threshold": round(cal.score_at_fmr(DEFAULT_FMR), 6),
        "table": [{"score": r.score, "fmr": r.fmr, "fnmr": r.fnmr, "impostors_at_or_above": r.impostors_at_or_above}
                  for r in cal.rows],
        "caveat": DEMOGRAPHIC_CAVEAT,
    }


def from_card(card: dict[str, Any]) -> Calibration:
    section = card.get("calibration")
    if not section or not section.get("table"):
        raise ValueError(f"model card of {card.get('name')!r} has no calibration table")
    rows = tuple(sorted((Row(float(r["score"]), float(r["fmr"]), float(r["fnmr"]), int(r["impostors_at_or_above"]))
                         for r in section["table"]), key=lambda r: r.score))
    return Calibration(rows=rows, genuine_pairs=int(section["genuine_pairs"]),
                       impostor_pairs=int(section["impostor_pairs"]))


def default_card_path(model: str = "face_embedder") -> Path:
    return Path(__file__).resolve().parents[3] / "infra" / "triton" / "models" / model / "model_card.json"


@lru_cache(maxsize=8)
def load(card_path: Path | None = None) -> Calibration:
    """The calibration of a model card (default: the face_embedder's committed card)."""
    path = card_path or default_card_path()
    return from_card(json.loads(path.read_text()))


def fmr_at(score: float, card_path: Path | None = None) -> float:
    """Estimated false-match rate at a raw cosine score, from the model card."""
    return load(card_path).fmr_at(score)


def score_at_fmr(fmr: float = DEFAULT_FMR, card_path: Path | None = None) -> float:
    """Raw cosine score at an estimated false-match rate (default 1e-4: the search API's threshold)."""
    return load(card_path).score_at_fmr(fmr)
