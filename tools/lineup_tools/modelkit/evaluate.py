"""Accuracy of the whole face chain (detect -> align -> embed) on a folder in LFW layout.

    python -m lineup_tools.modelkit.evaluate --data <dir> [--backend triton|onnxruntime] [--folds 1,2]
                                       [--model face_embedder_sface[,face_embedder]]

<dir> holds `pairs.txt` (LFW View-2 format) and `images/<Name>/<Name>_NNNN.jpg`. Reported:
  * verification on pairs.txt: k-fold cross-validation, the threshold of each fold picked on the other
    folds (never on the fold itself), accuracy mean +- std, and the ROC AUC over all pairs;
  * TAR at FAR 1e-3 / 1e-4 over ALL pairs of the images (every same-identity pair is genuine, every
    cross-identity pair an impostor): pairs.txt has too few impostor pairs to measure FAR 1e-4;
  * rank-1 identification: each identity with >= 2 images enrols its first image, the rest are probes;
    single-image identities are enrolled too, as distractors;
  * timings. The last line is machine-readable (for the first model given; default: the model new
    collections are pinned to):
    eval: accuracy=<0.xxxx> tar_at_far_1e-3=<0.xxxx> rank1=<0.xxxx>
Several models given with --model share one pass of detection and alignment (the same landmarks feed
every model's crop, as in production) and each gets its own block of results.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from lineup.modelkit.backends import InferenceBackend, make_backend


@dataclass(frozen=True)
class Pair:
    fold: int
    a: tuple[str, int]
    b: tuple[str, int]
    same: bool


def read_pairs(path: Path) -> list[Pair]:
    """LFW pairs.txt: header `folds<TAB>n`, then per fold n matched and n mismatched lines."""
    lines = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
    folds, n = int(lines[0][0]), int(lines[0][1])
    rows = lines[1:]
    if len(rows) != folds * 2 * n:
        raise ValueError(f"{path}: expected {folds * 2 * n} pairs, found {len(rows)}")
    pairs = []
    for i, row in enumerate(rows):
        fold = i // (2 * n)
        if len(row) == 3:
            pairs.append(Pair(fold, (row[0], int(row[1])), (row[0], int(row[2])), True))
        elif len(row) == 4:
            pairs.append(Pair(fold, (row[0], int(row[1])), (row[2], int(row[3])), False))
        else:
            raise ValueError(f"{path}: bad line {' '.join(row)!r}")
    return pairs


def list_images(images_dir: Path) -> list[tuple[str, int]]:
    """Every (identity, index) under images/<Name>/<Name>_NNNN.jpg, sorted."""
    out = []
    for person in sorted(p for p in images_dir.iterdir() if p.is_dir()):
        for f in sorted(person.glob("*.jpg")):
            out.append((person.name, int(f.stem.rsplit("_", 1)[1])))
    return out


def image_file(images_dir: Path, key: tuple[str, int]) -> Path:
    return images_dir / key[0] / f"{key[0]}_{key[1]:04d}.jpg"


# --- the face chain ------------------------------------------------------------------------------

@dataclass
class ChainStats:
    images: int = 0
    detected: int = 0  # images where the detector found the subject's face
    fallback: int = 0  # images embedded from a default centred box instead
    detect_s: float = 0.0
    align_s: float = 0.0
    embed_s: float = 0.0
    faces: int = 0
    extra: dict[str, float] = field(default_factory=dict)


class FaceChain:
    """detect -> pick the subject (LFW images are centred on it) -> align -> embed, in batches.

    One landmark fit per face feeds every model in `models` (each cuts its own crop, `lineup.chips`)."""

    def __init__(self, backend: InferenceBackend, *, landmarks: str = "joint", flip: bool = True,
                 models: Sequence[str] = ()) -> None:
        from detection.align import Aligner
        from detection.detector import FaceDetector
        from embedding.embedder import FaceEmbedder
        from lineup.chips import chip_spec
        from lineup.scoring import DEFAULT_FACE_MODEL

        self.detector = FaceDetector(backend)
        self.aligner = Aligner(landmarks)
        self.models = list(models) or [DEFAULT_FACE_MODEL]
        self.specs = [chip_spec(m) for m in self.models]
        self.embedders = [FaceEmbedder(backend, model_name=m, flip=flip, chip_size=spec.size)
                          for m, spec in zip(self.models, self.specs, strict=True)]
        self.stats = ChainStats()
        self.embed_s = [0.0] * len(self.models)

    def subject(self, dets: Sequence[object], width: int, height: int) -> object | None:
        """The detection nearest the image centre, preferring boxes that contain it."""
        from detection.detector import Detection

        best, best_key = None, (1e9, 0.0)
        for d in dets:
            assert isinstance(d, Detection)
            x0, y0, x1, y1 = d.box
            cx, cy = width / 2, height / 2
            contains = x0 <= cx <= x1 and y0 <= cy <= y1
            dist = float(np.hypot((x0 + x1) / 2 - cx, (y0 + y1) / 2 - cy))
            key = (0.0 if contains else 1.0 + dist, -d.width * d.height)
            if key < best_key:
                best, best_key = d, key
        return best

    def fallback_face(self, width: int, height: int) -> tuple[tuple[float, float, float, float], np.ndarray]:
        """A centred box (and keypoints) for the rare image the detector misses (~45 % of the side)."""
        from detection.align import BLAZEFACE_REFERENCE

        side = 0.45 * min(width, height)
        x0, y0 = (width - side) / 2, (height - side) / 2
        # keypoints: the BlazeFace reference layout scaled into the box
        kp = np.zeros((6, 2), np.float32)
        kp[:4] = (BLAZEFACE_REFERENCE - 75.0) * (side / 110.0) + [width / 2, height / 2]
        return (x0, y0, x0 + side, y0 + side), kp

    def embed_files(self, files: Sequence[Path], batch: int = 16) -> np.ndarray:
        """Embeddings of the first model (see `embed_files_all`)."""
        return self.embed_files_all(files, batch)[0]

    def embed_files_all(self, files: Sequence[Path], batch: int = 16) -> list[np.ndarray]:
        """One (len(files), dim) array per model, in the order of `models`."""
        from detection.align import extract_chip

        out = [np.zeros((len(files), e.dimension), np.float32) for e in self.embedders]
        for start in tqdm(range(0, len(files), batch), desc="embedding", unit="batch", leave=False):
            chunk = files[start:start + batch]
            images = [np.asarray(Image.open(f).convert("RGB")) for f in chunk]
            t0 = time.perf_counter()
            all_dets = self.detector.detect_batch(images)
            t1 = time.perf_counter()
            chips: list[list[np.ndarray]] = [[] for _ in self.models]
            for img, dets in zip(images, all_dets, strict=True):
                h, w = img.shape[:2]
                face = self.subject(dets, w, h)
                if face is not None:
                    self.stats.detected += 1
                    box, kp = face.box, face.keypoints  # type: ignore[attr-defined]
                else:
                    self.stats.fallback += 1
                    box, kp = self.fallback_face(w, h)
                aligned = self.aligner.align(img, box, kp)
                for crops, spec in zip(chips, self.specs, strict=True):
                    crops.append(aligned.chip if spec.is_dlib_chip else
                                 extract_chip(img, spec.transform(aligned.transform), spec.size))
            t2 = time.perf_counter()
            for i, embedder in enumerate(self.embedders):
                t = time.perf_counter()
                out[i][start:start + len(chunk)] = embedder.embed(np.stack(chips[i]))
                self.embed_s[i] += time.perf_counter() - t
            t3 = time.perf_counter()
            self.stats.images += len(chunk)
            self.stats.faces += len(chunk)
            self.stats.detect_s += t1 - t0
            self.stats.align_s += t2 - t1
            self.stats.embed_s += t3 - t2
        return out


# --- metrics ------------------------------------------------------------------------------------

def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The threshold maximising accuracy (midpoint between neighbouring scores)."""
    order = np.argsort(scores)
    s, y = scores[order], labels[order].astype(bool)
    # predict same when score > t; evaluate t at every gap
    candidates = np.concatenate([[s[0] - 1e-6], (s[:-1] + s[1:]) / 2, [s[-1] + 1e-6]])
    pos_above = y.sum() - np.concatenate([[0], np.cumsum(y)])  # positives with score > t
    neg_below = np.concatenate([[0], np.cumsum(~y)])  # negatives with score <= t
    acc = (pos_above + neg_below) / len(s)
    return float(candidates[int(np.argmax(acc))])


def kfold_accuracy(scores: np.ndarray, labels: np.ndarray, folds: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-fold accuracy with the threshold picked on the other folds; returns (accuracies, thresholds)."""
    accs, thresholds = [], []
    for f in np.unique(folds):
        train = folds != f
        t = best_threshold(scores[train], labels[train]) if train.any() else best_threshold(scores, labels)
        test = folds == f
        accs.append(float(((scores[test] > t) == labels[test].astype(bool)).mean()))
        thresholds.append(t)
    return accs, thresholds


def roc_auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    """P(genuine score > impostor score), ties counted half (Mann-Whitney U)."""
    allv = np.concatenate([genuine, impostor])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    sorted_v = allv[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    r_gen = ranks[: len(genuine)].sum()
    u = r_gen - len(genuine) * (len(genuine) + 1) / 2
    return float(u / (len(genuine) * len(impostor)))


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> tuple[float, float]:
    """(TAR, threshold) at the smallest threshold whose impostor acceptance rate is <= far."""
    imp = np.sort(impostor)[::-1]
    k = int(np.floor(far * len(imp)))  # impostors allowed above the threshold
    threshold = float(imp[k]) if k < len(imp) else float(imp[-1])
    return float((genuine > threshold).mean()), threshold


def pair_scores(emb: np.ndarray, ids: np.ndarray, block: int = 1024) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All i < j cosine scores, blockwise: yields (genuine block, impostor block). Vectorised; the full
    matrix of 3811 images is 7.3 M pairs, fine in blocks of rows."""
    n = len(emb)
    for start in range(0, n, block):
        rows = slice(start, min(start + block, n))
        sims = emb[rows] @ emb.T
        same = ids[rows, None] == ids[None, :]
        upper = np.arange(rows.start, rows.stop)[:, None] < np.arange(n)[None, :]
        yield sims[same & upper], sims[~same & upper]


def all_pairs(emb: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gen, imp = zip(*pair_scores(emb, ids), strict=True)
    return np.concatenate(gen), np.concatenate(imp)


def rank1_rate(emb: np.ndarray, ids: np.ndarray) -> tuple[float, int, int]:
    """(rank-1 rate, probes, gallery size): first image of each identity enrolled, the rest probed."""
    _, first = np.unique(ids, return_index=True)
    gallery = np.zeros(len(ids), dtype=bool)
    gallery[first] = True
    probes = ~gallery
    if not probes.any():
        return float("nan"), 0, int(gallery.sum())
    sims = emb[probes] @ emb[gallery].T
    predicted = ids[gallery][np.argmax(sims, axis=1)]
    return float((predicted == ids[probes]).mean()), int(probes.sum()), int(gallery.sum())


# --- command line -------------------------------------------------------------------------------

@dataclass
class EvalResult:
    accuracy: float
    accuracy_std: float
    fold_accuracies: list[float]
    thresholds: list[float]
    auc_pairs: float
    tar_1e3: float
    tar_1e4: float
    thr_1e3: float
    thr_1e4: float
    rank1: float
    probes: int
    gallery: int
    genuine_pairs: int
    impostor_pairs: int
    stats: ChainStats
    model: str = ""


def evaluate(data: Path, backend: InferenceBackend, *, folds: Sequence[int] | None = None,
             landmarks: str = "joint", flip: bool = True,
             save_embeddings: Path | None = None) -> EvalResult:
    """Run the chain over the data set's images and compute every metric (the default model)."""
    return evaluate_models(data, backend, folds=folds, landmarks=landmarks, flip=flip,
                           save_embeddings=save_embeddings)[0]


def evaluate_models(data: Path, backend: InferenceBackend, *, models: Sequence[str] = (),
                    folds: Sequence[int] | None = None, landmarks: str = "joint", flip: bool = True,
                    save_embeddings: Path | None = None) -> list[EvalResult]:
    """Run the chain once over the data set's images and compute every metric for each model."""
    pairs = read_pairs(data / "pairs.txt")
    if folds:
        pairs = [p for p in pairs if p.fold + 1 in folds]
    images_dir = data / "images"
    keys = list_images(images_dir)
    if folds:  # restrict the image set to what the chosen folds use (identities are fold-disjoint)
        used = {p.a for p in pairs} | {p.b for p in pairs}
        names = {k[0] for k in used}
        keys = [k for k in keys if k[0] in names]
    index = {k: i for i, k in enumerate(keys)}
    chain = FaceChain(backend, landmarks=landmarks, flip=flip, models=models)
    embs = chain.embed_files_all([image_file(images_dir, k) for k in keys])
    ids_str = np.array([k[0] for k in keys])
    _, ids = np.unique(ids_str, return_inverse=True)
    if save_embeddings:
        extra = {f"embeddings_{m}": e for m, e in zip(chain.models, embs, strict=True)}
        np.savez_compressed(save_embeddings, embeddings=embs[0], identities=ids_str,
                            indices=np.array([k[1] for k in keys]), **extra)  # type: ignore[arg-type]
    results = []
    for model, emb, embed_s in zip(chain.models, embs, chain.embed_s, strict=True):
        stats = ChainStats(images=chain.stats.images, detected=chain.stats.detected, fallback=chain.stats.fallback,
                           detect_s=chain.stats.detect_s, align_s=chain.stats.align_s, embed_s=embed_s,
                           faces=chain.stats.faces)
        results.append(metrics(model, emb, ids, index, pairs, stats))
    return results


def metrics(model: str, emb: np.ndarray, ids: np.ndarray, index: dict[tuple[str, int], int],
            pairs: Sequence[Pair], stats: ChainStats) -> EvalResult:
    """Every metric of one model's embeddings of the data set."""
    a = np.array([index[p.a] for p in pairs])
    b = np.array([index[p.b] for p in pairs])
    scores = np.einsum("ij,ij->i", emb[a], emb[b])
    labels = np.array([p.same for p in pairs])
    fold_ids = np.array([p.fold for p in pairs])
    accs, thresholds = kfold_accuracy(scores, labels, fold_ids)
    genuine, impostor = all_pairs(emb, ids)
    tar3, thr3 = tar_at_far(genuine, impostor, 1e-3)
    tar4, thr4 = tar_at_far(genuine, impostor, 1e-4)
    r1, probes, gallery = rank1_rate(emb, ids)
    return EvalResult(
        accuracy=float(np.mean(accs)), accuracy_std=float(np.std(accs)), fold_accuracies=accs,
        thresholds=thresholds, auc_pairs=roc_auc(scores[labels], scores[~labels]),
        tar_1e3=tar3, tar_1e4=tar4, thr_1e3=thr3, thr_1e4=thr4, rank1=r1, probes=probes, gallery=gallery,
        genuine_pairs=len(genuine), impostor_pairs=len(impostor), stats=stats, model=model)


def report(r: EvalResult, backend: str, landmarks: str) -> list[str]:
    s = r.stats
    per_img = 1000 * (s.detect_s + s.align_s + s.embed_s) / max(s.images, 1)
    return [
        f"model: {r.model}; backend: {backend}; landmarks: {landmarks}; images: {s.images} "
        f"(subject detected {s.detected}, centred fallback {s.fallback})",
        f"verification ({len(r.fold_accuracies)}-fold, threshold from "
        f"{'the other folds' if len(r.fold_accuracies) > 1 else 'the same fold (only one fold given)'}): "
        f"accuracy {100 * r.accuracy:.2f} ± {100 * r.accuracy_std:.2f} % "
        f"(folds: {', '.join(f'{100 * a:.2f}' for a in r.fold_accuracies)}; "
        f"thresholds {min(r.thresholds):.3f}..{max(r.thresholds):.3f})",
        f"ROC AUC (pairs.txt): {r.auc_pairs:.4f}",
        f"all pairs: {r.genuine_pairs} genuine, {r.impostor_pairs} impostor: "
        f"TAR@FAR=1e-3 {100 * r.tar_1e3:.2f} % (score {r.thr_1e3:.3f}), "
        f"TAR@FAR=1e-4 {100 * r.tar_1e4:.2f} % (score {r.thr_1e4:.3f})",
        f"identification: rank-1 {100 * r.rank1:.2f} % ({r.probes} probes, gallery {r.gallery} incl. "
        f"single-image distractors)",
        f"timings: {per_img:.1f} ms/image (detect {1000 * s.detect_s / max(s.images, 1):.1f}, "
        f"align {1000 * s.align_s / max(s.images, 1):.1f}, "
        f"embed incl. mirror {1000 * s.embed_s / max(s.faces, 1):.1f} ms/face)",
        f"eval: accuracy={r.accuracy:.4f} tar_at_far_1e-3={r.tar_1e3:.4f} rank1={r.rank1:.4f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lineup_tools.modelkit.evaluate",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with pairs.txt and images/")
    parser.add_argument("--backend", choices=("triton", "onnxruntime"), default="triton")
    parser.add_argument("--triton-url", default="127.0.0.1:8001")
    parser.add_argument("--folds", default="", help="comma-separated 1-based folds (default: all)")
    parser.add_argument("--landmarks", choices=("joint", "dlib", "blazeface"), default="joint")
    parser.add_argument("--no-flip", action="store_true", help="embed the chip only, not its mirror too")
    parser.add_argument("--save-embeddings", type=Path, help="write the embeddings to this .npz")
    parser.add_argument("--model", default="",
                        help="comma-separated Triton model names (default: the model new collections pin)")
    args = parser.parse_args(argv)
    if not (args.data / "pairs.txt").exists():
        print(f"evaluate: {args.data}/pairs.txt not found (LFW layout expected)", file=sys.stderr)
        return 2
    folds = [int(f) for f in args.folds.split(",") if f.strip()]
    t0 = time.monotonic()
    backend = make_backend(args.backend, triton_url=args.triton_url)
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    results = evaluate_models(args.data, backend, models=models, folds=folds, landmarks=args.landmarks,
                              flip=not args.no_flip, save_embeddings=args.save_embeddings)
    for result in results[1:]:  # the first model's block goes last: its `eval:` line ends the output
        print("\n".join(report(result, args.backend, args.landmarks)[:-1]))
    lines = report(results[0], args.backend, args.landmarks)
    lines.insert(-1, f"wall time: {time.monotonic() - t0:.0f} s")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
