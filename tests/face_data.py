"""Where the shared face data sets and the built face models are, for the model tests.

The data sets live beside the clone (`../shared/datasets`, also in CI) and are never copied into the
repository; tests that need them skip with a reason when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: LINEUP_DATASETS overrides the location (e.g. a git worktree that does not sit beside ../shared)
DATASETS = Path(os.environ.get("LINEUP_DATASETS") or Path(__file__).resolve().parents[1].parent / "shared" / "datasets")
LFW_DEV = DATASETS / "lfw-dev"
CROWD = DATASETS / "crowd"

#: visible faces per crowd photo, counted by eye (../shared/datasets/README.md)
CROWD_FACES = {"bbt1": 4, "bbt2": 3, "bbt3": 5, "bbt4": 6, "bbt5": 6,
               "sample1": 3, "sample2": 3, "sample3": 3, "sample4": 4, "sample5": 5, "sample6": 4}


def require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data set {path} is absent (expected at ../shared/datasets beside the clone)")
    return path


def lfw_images(limit: int, step: int = 1) -> list[Path]:
    """Up to `limit` LFW images, one per `step` in sorted order (spread over many identities)."""
    files = sorted(require(LFW_DEV / "images").glob("*/*.jpg"))
    return files[::step][:limit]


def models_root() -> Path:
    """<cache>/models with both face models built (builds them if needed, seconds when cached)."""
    for module in ("onnx", "tflite", "onnxruntime", "dlib"):
        pytest.importorskip(module, reason=f"{module} is missing: the face model tests need "
                                           f"pip install -e '.[models]'")
    from lineup_tools.modelkit.build import ensure_models

    return ensure_models()
