"""The in-process floor: Lineup's own models and production code called in one process, no pipeline.

For each probe the bench times what a search must compute at the least: decode the photo, run the
production detector (`detection.detector.FaceDetector`, all tiles in one batch), align the largest face
(`detection.align.Aligner`) and cut the pinned model's crop, embed it with its mirror view
(`embedding.embedder.FaceEmbedder`), and rank the real-faces gallery with one NumPy matrix-vector product.
The models are the same ONNX files Triton serves, run by onnxruntime in this process on every usable core.

Lineup end to end divided by this is the price of being a distributed, accountable service (gRPC, Kafka
hops, object storage, the vector store, the audit record): the issue *speed* target is <= 1.5.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lineup.modelkit.backends import OnnxRuntimeBackend
from tests.bench.dataset import Photo
from tests.bench.stats import summarize_ms


def measure(probes: list[Photo], gallery: np.ndarray, face_model_version: str, *, warmup: int = 2
            ) -> tuple[dict[str, Any], np.ndarray]:
    """Latency (ms) of decode + detect + align + embed + exact search, one probe at a time; also returns the
    embeddings of the probes in which a face was found."""
    from detection.align import Aligner, extract_chip
    from detection.detector import FaceDetector
    from embedding.embedder import FaceEmbedder
    from lineup.chips import chip_spec

    model = face_model_version.split("/")[0]
    backend = OnnxRuntimeBackend(threads=len(os.sched_getaffinity(0)))
    detector, aligner, spec = FaceDetector(backend), Aligner("joint"), chip_spec(model)
    embedder = FaceEmbedder(backend, model_name=model, flip=True, chip_size=spec.size)
    unit = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)

    embeddings: list[np.ndarray] = []

    def one(path: Path) -> np.ndarray | None:
        """The gallery rows of the 5 best candidates, best first; None when no face is found."""
        image = np.asarray(Image.open(path).convert("RGB"))
        faces = detector.detect(image)
        if not faces:
            return None
        face = max(faces, key=lambda d: d.width * d.height)
        aligned = aligner.align(image, face.box, face.keypoints)
        crop = aligned.chip if spec.is_dlib_chip else extract_chip(image, spec.transform(aligned.transform),
                                                                   spec.size)
        embedding = embedder.embed(np.stack([crop]))[0]
        embeddings.append(embedding)
        scores = unit @ embedding
        top = np.argpartition(-scores, min(5, len(scores) - 1))[:5]
        return top[np.argsort(-scores[top])]  # type: ignore[no-any-return]

    for photo in probes[:warmup]:  # first calls create the onnxruntime sessions
        one(photo.path)
    embeddings.clear()
    times: list[float] = []
    missed = 0
    for photo in probes:
        t = time.perf_counter()
        found = one(photo.path)
        times.append(time.perf_counter() - t)
        missed += found is None
    summary = {"latency": summarize_ms(times).as_dict(), "probes": len(probes), "no_face": missed,
               "gallery": len(gallery), "threads": len(os.sched_getaffinity(0)), "face_model": model}
    return summary, np.asarray(embeddings, dtype=np.float64)
