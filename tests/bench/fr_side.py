"""The comparison side: the `face_recognition` library (dlib HOG detector, dlib ResNet encoder) doing the
same enrollment and the same searches, with its own API and brute-force distances over the enrolled
encodings, as its README shows.

Runs as its own process (`python -m tests.bench.fr_side <job.json> <out.json>`), so its peak resident
memory is its own and not mixed with the benchmark driver's gRPC client. Enrollment uses a process pool
of `workers` processes (default: every usable core, as Lineup's services share them); searches are serial,
one probe at a time, as Lineup's searches are timed.
"""

from __future__ import annotations

import importlib.resources
import json
import sys
import time
import types
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from tests.bench.distractors import DistractorSampler, fit
from tests.bench.stats import rate, summarize_ms

#: face_recognition's documented default: distance <= 0.6 is "the same person"
TOLERANCE = 0.6
DISTRACTOR_CHUNK = 50_000


def import_face_recognition() -> types.ModuleType:
    """face_recognition_models resolves its files with pkg_resources, which setuptools >= 81 no longer
    ships; a two-line stand-in keeps the library usable without downgrading the project's setuptools."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: str(importlib.resources.files(package) / name)  # type: ignore[attr-defined]
        sys.modules["pkg_resources"] = shim
    import face_recognition

    return face_recognition


def _encode(path: str) -> tuple[str, list[list[float]], list[tuple[int, int, int, int]]]:
    fr = import_face_recognition()
    image = fr.load_image_file(path)
    boxes = fr.face_locations(image)
    encodings = fr.face_encodings(image, boxes)
    return path, [e.tolist() for e in encodings], boxes


def _largest(boxes: list[tuple[int, int, int, int]]) -> int:
    areas = [(b[2] - b[0]) * (b[1] - b[3]) for b in boxes]
    return int(np.argmax(areas))


def run(job: dict[str, Any]) -> dict[str, Any]:
    fr = import_face_recognition()
    enroll: list[dict[str, str]] = job["enroll"]
    workers = int(job["workers"])
    t0 = time.perf_counter()
    with Pool(processes=workers) as pool:
        encoded = pool.map(_encode, [e["path"] for e in enroll], chunksize=4)
    enroll_s = time.perf_counter() - t0
    identity_of = {e["path"]: e["identity"] for e in enroll}
    gallery: list[np.ndarray] = []
    labels: list[str] = []
    for path, encs, _ in encoded:
        for enc in encs:
            gallery.append(np.asarray(enc))
            labels.append(identity_of[path])
    real = np.asarray(gallery)
    out: dict[str, Any] = {"enroll": {
        "images": len(enroll), "images_ok": sum(1 for _, e, _ in encoded if e), "faces": len(labels),
        "seconds": round(enroll_s, 3), "images_per_s": round(rate(len(enroll), enroll_s), 3),
        "faces_per_s": round(rate(len(labels), enroll_s), 3), "workers": workers}, "search": {}}

    sampler = DistractorSampler(fit(real), normalize=False, seed=int(job["seed"]))
    # one preallocated gallery (float64, as face_recognition returns encodings), grown in place, so peak
    # memory is the gallery itself and not copies of it
    gallery_rows = max([len(real), *job["sizes"]])
    everything = np.empty((gallery_rows, real.shape[1]), dtype=np.float64)
    everything[:len(real)] = real
    filled = len(real)
    probes: list[dict[str, str]] = job["probes"]
    known = {p["identity"] for p in probes if p["known"]}
    for size in job["sizes"]:
        while filled < size:
            n = min(DISTRACTOR_CHUNK, size - filled)
            everything[filled:filled + n] = sampler.sample(n)
            filled += n
        encodings = everything[:max(size, len(real))]
        times, rank1, accepted, false_accepts, n_unknown = [], 0, 0, 0, 0
        for p in probes:
            t = time.perf_counter()
            image = fr.load_image_file(p["path"])
            boxes = fr.face_locations(image)
            top_label, top_dist = "", float("inf")
            if boxes:
                enc = fr.face_encodings(image, [boxes[_largest(boxes)]])[0]
                dist = fr.face_distance(encodings, enc)
                best = int(np.argmin(dist))
                top_dist = float(dist[best])
                top_label = labels[best] if best < len(labels) else "(distractor)"
            times.append(time.perf_counter() - t)
            if p["known"]:
                rank1 += top_label == p["identity"]
                accepted += top_label == p["identity"] and top_dist <= TOLERANCE
            else:
                n_unknown += 1
                false_accepts += top_dist <= TOLERANCE
        n_known = len(probes) - n_unknown
        out["search"][str(size)] = {
            "gallery": len(encodings), "real_faces": len(real),
            "latency": summarize_ms(times).as_dict(),
            "accuracy": {"known_probes": n_known, "rank1_closed_set": rank1 / n_known if n_known else None,
                         "rank1_accepted": accepted / n_known if n_known else None, "unknown_probes": n_unknown,
                         "false_accepts": false_accepts, "threshold": f"distance <= {TOLERANCE}"}}
        print(f"face_recognition: gallery {len(encodings)}: p50 {out['search'][str(size)]['latency']['p50_ms']} ms",
              flush=True)

    crowd = job["crowd"]
    t = time.perf_counter()
    image = fr.load_image_file(crowd["path"])
    boxes = fr.face_locations(image)
    encs = fr.face_encodings(image, boxes)
    tops = [int(np.argmin(fr.face_distance(encodings, e))) for e in encs]
    crowd_s = time.perf_counter() - t
    correct = 0
    for box, top in zip(boxes, tops, strict=True):
        cy, cx = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        truth = _tile_identity(crowd["tiles"], cx, cy)
        correct += top < len(labels) and truth is not None and labels[top] == truth
    out["crowd"] = {"faces_in_photo": len(crowd["tiles"]), "faces_found": len(boxes), "seconds": round(crowd_s, 3),
                    "rank1_correct": correct, "gallery": len(encodings)}
    out["known_identities"] = len(known)
    return out


def _tile_identity(tiles: list[list[Any]], cx: float, cy: float) -> str | None:
    for identity, (left, top, right, bottom) in tiles:
        if left <= cx < right and top <= cy < bottom:
            return str(identity)
    return None


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text())
    out = run(job)
    out["memory_mib"] = {"face_recognition process (search, in-process gallery)": round(peak_rss_mib(), 1)}
    Path(argv[1]).write_text(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
