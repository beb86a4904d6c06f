"""Aligned face crops as the embedder takes them: square RGB of the model's size (150 px for dlib's
ResNet, 112 for SFace), decoded from the PNGs detection stores.

Only chips cut by the detection service's aligner give meaningful embeddings, so anything of another
shape is refused rather than resized: a resized whole photo would embed without error and match nobody.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

from embedding.embedder import CHIP_SIZE
from lineup.errors import InvalidArgument
from lineup.objectstore import agency_key
from lineup.topology import BUCKETS
from lineup.v1 import common_pb2

#: a 150x150 RGB PNG is < 70 kB; anything far larger is not a chip
MAX_CHIP_BYTES = 1024 * 1024


def decode_chip(data: bytes, size: int = CHIP_SIZE) -> np.ndarray:
    """PNG (or any lossless image) bytes -> (size, size, 3) uint8 RGB; `size` is the pinned model's crop."""
    if not data:
        raise InvalidArgument("face crop is empty")
    if len(data) > MAX_CHIP_BYTES:
        raise InvalidArgument(f"face crop is {len(data)} bytes: not an aligned {size}x{size} chip")
    try:
        img = Image.open(io.BytesIO(data))
        if img.size != (size, size):
            raise InvalidArgument(f"face crop is {img.width}x{img.height}; the model takes the aligned "
                                  f"{size}x{size} crops that DetectionService cuts for it (a crop cut for "
                                  f"another model?)")
        img.load()
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except UnidentifiedImageError:
        raise InvalidArgument("face crop is not an image: send the PNG chips of DetectionService") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidArgument(f"face crop is corrupt ({exc})") from None


def check_crop_ref(ref: common_pb2.ObjectRef, agency_id: str) -> None:
    """A crop reference may only point into a Lineup bucket, under the caller's agency."""
    if ref.bucket not in BUCKETS:
        raise InvalidArgument(f"bucket {ref.bucket!r} is not a Lineup bucket ({', '.join(BUCKETS)})")
    parts = ref.key.split("/")
    if len(parts) < 2 or any(p in {"", ".", ".."} for p in parts) or parts[0] != agency_key(agency_id):
        raise InvalidArgument(f"face crop {ref.bucket}/{ref.key} is outside the agency's prefix")
