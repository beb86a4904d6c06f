"""Which real photos the benchmark enrolls and searches with (identical for Lineup and face_recognition).

From `lfw-dev` (read in place, never copied): people with at least two photos give one enrolled photo each
and one held-out probe (a *known* probe: rank 1 should be that person); people with a single photo are
never enrolled and are the *unknown* probes (any accepted candidate is a false match). The order is fixed
(sorted names), so two runs with the same knobs use the same photos.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Photo:
    path: Path
    identity: str

    @property
    def label(self) -> str:
        return f"{self.identity}/{self.path.name}"


@dataclass
class Plan:
    enroll: list[Photo] = field(default_factory=list)
    known_probes: list[Photo] = field(default_factory=list)
    unknown_probes: list[Photo] = field(default_factory=list)

    @property
    def probes(self) -> list[Photo]:
        return [*self.known_probes, *self.unknown_probes]


def build_plan(lfw_images: Path, *, enroll: int, known: int, unknown: int) -> Plan:
    """`enroll` people enrolled with their first photo; probes are their second photos (the first `known`
    of them) and the first photo of `unknown` single-photo people."""
    if not lfw_images.is_dir():
        raise FileNotFoundError(f"{lfw_images} is missing: the benchmark reads lfw-dev from ../shared/datasets "
                                f"beside the clone (set LINEUP_DATASETS to point elsewhere)")
    multi: list[list[Path]] = []
    single: list[Path] = []
    for person in sorted(p for p in lfw_images.iterdir() if p.is_dir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 2:
            multi.append(photos)
        elif photos:
            single.append(photos[0])
    if enroll > len(multi):
        raise ValueError(f"asked to enroll {enroll} people but {lfw_images} has only {len(multi)} with 2+ photos")
    if known > enroll:
        raise ValueError(f"{known} known probes need at least as many enrolled people (enroll={enroll})")
    if unknown > len(single):
        raise ValueError(f"asked for {unknown} unknown probes but only {len(single)} single-photo people exist")
    plan = Plan()
    for photos in multi[:enroll]:
        plan.enroll.append(Photo(photos[0], photos[0].parent.name))
    for photos in multi[:known]:
        plan.known_probes.append(Photo(photos[1], photos[1].parent.name))
    plan.unknown_probes = [Photo(p, p.parent.name) for p in single[:unknown]]
    return plan
