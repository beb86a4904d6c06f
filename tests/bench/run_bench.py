"""`make bench` (`python -m tests.bench.run_bench`): Lineup end to end vs face_recognition, same run.

Order: build the photo plan and the crowd photo; Lineup enrolls and searches at each gallery size on its
private services (tests/bench/lineup_side.py); then face_recognition does the same in its own process
(tests/bench/fr_side.py). The two sides never run at the same time, so each has the machine's cores to
itself (apart from whatever else runs on the machine: the load average is recorded at both ends).
Prints a side-by-side table and writes bench-results/<UTC start>.json (schema: tests/bench/results.py).

Knobs (environment, typed and checked in BenchSettings): LINEUP_BENCH_SIZES=0,10000,100000,300000 (0: the
real enrolled faces only), LINEUP_BENCH_LINEUP_SIZES=1000000 (Lineup alone; empty: none),
LINEUP_BENCH_ENROLL=600, LINEUP_BENCH_KNOWN=100, LINEUP_BENCH_UNKNOWN=100,
LINEUP_BENCH_CROWD=100,
LINEUP_BENCH_CONCURRENCY=4, LINEUP_BENCH_FR_WORKERS=0 (0: every usable core), LINEUP_BENCH_SEED=7,
LINEUP_BENCH_OUT=bench-results, LINEUP_DATASETS=../shared/datasets.
A quick run: LINEUP_BENCH_SIZES=0,10000 LINEUP_BENCH_LINEUP_SIZES= LINEUP_BENCH_ENROLL=100 LINEUP_BENCH_KNOWN=30
LINEUP_BENCH_UNKNOWN=30
LINEUP_BENCH_CROWD=30 make bench.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lineup.settings import SettingsError, env_name, load_settings
from tests.bench import lineup_side, results
from tests.bench.crowd import build_crowd
from tests.bench.dataset import build_plan
from tests.bench.distractors import __doc__ as DISTRACTOR_DOC
from tests.bench.stats import ratio

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class BenchSettings:
    #: 0 is the gallery of the real enrolled faces alone (accuracy without any synthetic distractor)
    bench_sizes: str = "0,10000,100000,300000"
    #: larger galleries for Lineup alone (the in-process peer holds its gallery in one process's memory)
    bench_lineup_sizes: str = "1000000"
    bench_enroll: int = 600
    bench_known: int = 100
    bench_unknown: int = 100
    bench_crowd: int = 100
    bench_concurrency: int = 4
    bench_fr_workers: int = 0
    bench_seed: int = 7
    bench_out: str = "bench-results"
    bench_sync_timeout_s: float = 300.0
    datasets: str = str(REPO_ROOT.parent / "shared" / "datasets")

    def __post_init__(self) -> None:
        sizes = self.sizes
        if not sizes or sizes != sorted(set(sizes)) or sizes[0] < 0:
            raise SettingsError(f"{env_name('bench_sizes')}={self.bench_sizes!r}: give increasing gallery sizes, "
                                "e.g. 0,10000,100000,300000 (0: the real enrolled faces only)")
        for name in ("bench_enroll", "bench_known", "bench_concurrency"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{env_name(name)} must be >= 1")
        if not 1 <= self.bench_crowd <= 100:
            raise SettingsError(f"{env_name('bench_crowd')}={self.bench_crowd}: one search takes 1..100 faces")
        self.lineup_sizes  # noqa: B018 - validates the Lineup-only sizes now, not after the enrolment
        if self.bench_known > self.bench_enroll or self.bench_crowd > self.bench_enroll:
            raise SettingsError(f"{env_name('bench_known')} and {env_name('bench_crowd')} cannot exceed "
                                f"{env_name('bench_enroll')}: probes are held-out photos of enrolled people")

    @property
    def sizes(self) -> list[int]:
        return _sizes(self.bench_sizes, "bench_sizes")

    @property
    def lineup_sizes(self) -> list[int]:
        """Every gallery size Lineup is measured at: the shared ones, then the larger Lineup-only ones."""
        extra = _sizes(self.bench_lineup_sizes, "bench_lineup_sizes")
        if extra and (extra != sorted(set(extra)) or extra[0] <= self.sizes[-1]):
            raise SettingsError(f"{env_name('bench_lineup_sizes')}={self.bench_lineup_sizes!r}: give increasing sizes "
                                f"above the last of {env_name('bench_sizes')} (or nothing)")
        return self.sizes + extra

    @property
    def fr_workers(self) -> int:
        return self.bench_fr_workers or len(os.sched_getaffinity(0))


def _sizes(text: str, name: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise SettingsError(f"{env_name(name)}={text!r} is not a list of integers") from None


def run_face_recognition(job: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lineup-bench-fr-") as tmp:
        job_path, out_path = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job_path.write_text(json.dumps(job))
        subprocess.run([sys.executable, "-m", "tests.bench.fr_side", str(job_path), str(out_path)],
                       cwd=REPO_ROOT, check=True)
        return dict(json.loads(out_path.read_text()))


def side_by_side(doc: dict[str, Any]) -> str:
    ln, fr = doc["lineup"], doc["face_recognition"]
    rows = [("enroll images/s", ln["enroll"]["images_per_s"], fr["enroll"]["images_per_s"]),
            ("enroll faces/s", ln["enroll"]["faces_per_s"], fr["enroll"]["faces_per_s"])]
    missing: dict[str, Any] = {"latency": {}, "accuracy": {}}  # sizes the peer does not go to
    for size in ln["search"]:
        a, b = ln["search"][size], fr["search"].get(size, missing)
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            rows.append((f"search {size} {q}", a["latency"][q], b["latency"].get(q)))
        rows.append((f"search {size} rank-1 (closed set)", a["accuracy"]["rank1_closed_set"],
                     b["accuracy"].get("rank1_closed_set")))
        for key, label in (("rank1_accepted", "rank-1 accepted"), ("false_accepts", "unknowns accepted")):
            rows.append((f"search {size} {label}", a["accuracy"][key], b["accuracy"].get(key)))
        if a.get("index"):
            rows.append((f"search {size} IVF_FLAT recall@10 vs exact", a["index"]["recall_at_k"], None))
    if ln.get("floor"):
        for q in ("p50_ms", "p95_ms", "p99_ms"):
            rows.append((f"in-process floor (same models, real faces) {q}", ln["floor"]["latency"][q], None))
    rows += [("crowd faces found", ln["crowd"]["faces_found"], fr["crowd"]["faces_found"]),
             ("crowd seconds (one call)", ln["crowd"]["seconds"], fr["crowd"]["seconds"]),
             ("crowd rank-1 correct", ln["crowd"]["rank1_correct"], fr["crowd"]["rank1_correct"])]
    width = max(len(r[0]) for r in rows)

    def fmt(v: Any) -> str:
        return "-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = [f"{'':<{width}}  {'lineup':>12}  {'face_recognition':>16}  {'lineup/fr':>9}"]
    for name, a, b in rows:
        r = ratio(float(a), float(b)) if isinstance(a, int | float) and isinstance(b, int | float) else None
        lines.append(f"{name:<{width}}  {fmt(a):>12}  {fmt(b):>16}  {fmt(r):>9}")
    return "\n".join(lines)


def ratios(doc: dict[str, Any]) -> dict[str, float | None]:
    ln, fr = doc["lineup"], doc["face_recognition"]
    out: dict[str, float | None] = {
        "enroll_images_per_s lineup/fr": ratio(ln["enroll"]["images_per_s"], fr["enroll"]["images_per_s"]),
        "enroll_faces_per_s lineup/fr": ratio(ln["enroll"]["faces_per_s"], fr["enroll"]["faces_per_s"]),
        "crowd_seconds lineup/fr": ratio(ln["crowd"]["seconds"], fr["crowd"]["seconds"])}
    for size in ln["search"]:
        if size not in fr["search"]:
            continue
        a, b = ln["search"][size]["latency"]["p50_ms"], fr["search"][size]["latency"]["p50_ms"]
        out[f"search_{size}_p50 lineup/fr"] = ratio(a, b) if a is not None and b is not None else None
    floor, first = ln.get("floor"), next(iter(ln["search"].values()), None)
    if floor and first and first["latency"]["p50_ms"] is not None and floor["latency"]["p50_ms"]:
        out["search_real_faces_p50 lineup/in-process floor"] = ratio(first["latency"]["p50_ms"],
                                                                     floor["latency"]["p50_ms"])
    return {k: (None if v is None else round(v, 3)) for k, v in out.items()}


def main() -> int:
    try:
        settings = load_settings(BenchSettings)  # type: ignore[type-var]
    except SettingsError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    datasets = Path(settings.datasets)
    try:
        plan = build_plan(datasets / "lfw-dev" / "images", enroll=settings.bench_enroll, known=settings.bench_known,
                          unknown=settings.bench_unknown)
    except (FileNotFoundError, ValueError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    # the crowd: held-out photos of enrolled people other than the known probes where possible
    held_out = build_plan(datasets / "lfw-dev" / "images", enroll=settings.bench_enroll,
                          known=settings.bench_enroll, unknown=0).known_probes
    crowd_photos = (held_out[settings.bench_known:] + held_out[:settings.bench_known])[:settings.bench_crowd]
    crowd = build_crowd([(p.path, p.identity) for p in crowd_photos])

    lineup_sizes = settings.lineup_sizes
    doc = results.new_document({**asdict(settings), "sizes": settings.sizes, "lineup_sizes": lineup_sizes,
                                "fr_workers": settings.fr_workers})
    doc["gallery_method"] = " ".join(DISTRACTOR_DOC.split()) if DISTRACTOR_DOC else ""
    doc["notes"] += [
        "Lineup is timed end to end through its public gRPC API (ingest -> Kafka -> detection -> Triton on CPU -> "
        "embedding -> search -> Milvus -> Kafka -> ingest); face_recognition is in-process (no network, "
        "no storage, no audit), so the comparison is of what a user gets, not of equal work.",
        "Models differ: Lineup detects with BlazeFace and a tile pyramid and embeds with the collection's pinned "
        "model (new collections: SFace, int8, with its mirror view, on Triton); face_recognition uses dlib's HOG "
        "detector and dlib's ResNet (its defaults).",
        "The in-process floor (lineup.floor) runs Lineup's own detector, aligner and embedder code on the same "
        "ONNX files with onnxruntime in the benchmark process, and ranks the real faces with NumPy: Lineup end to "
        "end divided by it is what the distributed, audited pipeline costs on top of its models.",
        "Acceptance thresholds are each library's default: Lineup's collection default (estimated FMR 1e-4 "
        "from its calibration), face_recognition's tolerance 0.6.",
        "Lineup's server enforces the agency's threshold floor (lineup.search.*.accuracy.server_threshold; the "
        "local stack's agencies get FMR 1e-3), so its closed-set rank-1 counts only candidates above that floor; "
        "face_recognition's closed-set rank-1 has no threshold at all.",
        f"Lineup enrollment ran {settings.bench_concurrency} IndexFaces calls in flight; face_recognition "
        f"a pool of {settings.fr_workers} processes; searches on both sides are serial (one probe at a time).",
        "Kafka, MinIO and Triton are the shared local stack, possibly used by other engineers during the run: "
        "see machine.loadavg_start/loadavg_end."]
    print(f"bench: {os.cpu_count()} cpus ({len(os.sched_getaffinity(0))} usable), load average "
          f"{doc['machine']['loadavg_start']}; enroll {len(plan.enroll)}, {len(plan.known_probes)} known + "
          f"{len(plan.unknown_probes)} unknown probes, galleries {settings.sizes} (Lineup also "
          f"{lineup_sizes[len(settings.sizes):]}), crowd of {len(crowd.tiles)} ({crowd.width}x{crowd.height})",
          flush=True)

    with tempfile.TemporaryDirectory(prefix="lineup-bench-") as tmp:
        crowd_path = Path(tmp) / "crowd.jpg"
        crowd_path.write_bytes(crowd.jpeg)
        lineup = lineup_side.run(plan, lineup_sizes, crowd, crowd_at=settings.sizes[-1],
                                 concurrency=settings.bench_concurrency,
                                 seed=settings.bench_seed, sync_timeout_s=settings.bench_sync_timeout_s)
        doc["lineup"] = lineup
        job = {"enroll": [{"path": str(p.path), "identity": p.identity} for p in plan.enroll],
               "probes": [{"path": str(p.path), "identity": p.identity, "known": p in plan.known_probes}
                          for p in plan.probes],
               "sizes": settings.sizes, "workers": settings.fr_workers, "seed": settings.bench_seed,
               "crowd": {"path": str(crowd_path), "tiles": [[i, list(b)] for i, b in crowd.tiles]}}
        print(f"face_recognition: enrolling {len(plan.enroll)} photos with {settings.fr_workers} processes", flush=True)
        doc["face_recognition"] = run_face_recognition(job)
    doc["ratios"] = ratios(doc)
    path = results.write(doc, REPO_ROOT / settings.bench_out)
    print("\n" + side_by_side(doc))
    print("\npeak resident memory (VmHWM, MiB):")
    for side in results.SIDES:
        for name, mib in doc[side]["memory_mib"].items():
            print(f"  {side:<16} {name:<52} {mib}")
    print(f"\nload average at the end {doc['machine']['loadavg_end']}; results: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
