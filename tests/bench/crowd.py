"""A synthetic crowd photo: a grid of real held-out photos pasted into one large image.

The shared crowd stills hold 3-6 faces each; the brief asks for ~100 faces in one search call, so we tile
LFW photos (250x250, one centred face each) into a `cols x rows` grid. Every tile is a held-out probe of an
enrolled person, so the crowd search is also scored for rank-1 identity. Tiles are cropped to their centre
(`crop` px) so that faces are dense, as in a crowd, but not cut.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class Crowd:
    jpeg: bytes
    width: int
    height: int
    #: identity shown in each tile, row-major, with the tile's box (left, top, right, bottom) in pixels
    tiles: list[tuple[str, tuple[int, int, int, int]]]


def grid_shape(n: int) -> tuple[int, int]:
    """(columns, rows) of the most square grid holding n tiles."""
    if n < 1:
        raise ValueError("a crowd needs at least one face")
    cols = math.ceil(math.sqrt(n))
    return cols, math.ceil(n / cols)


def build_crowd(photos: Sequence[tuple[Path, str]], *, crop: int = 180, quality: int = 92) -> Crowd:
    cols, rows = grid_shape(len(photos))
    canvas = Image.new("RGB", (cols * crop, rows * crop), (128, 128, 128))
    tiles: list[tuple[str, tuple[int, int, int, int]]] = []
    for i, (path, identity) in enumerate(photos):
        with Image.open(path) as im:
            rgb = im.convert("RGB")
        left = (rgb.width - crop) // 2
        top = (rgb.height - crop) // 2
        tile = rgb.crop((left, top, left + crop, top + crop))
        x, y = (i % cols) * crop, (i // cols) * crop
        canvas.paste(tile, (x, y))
        tiles.append((identity, (x, y, x + crop, y + crop)))
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=quality)
    return Crowd(jpeg=buf.getvalue(), width=canvas.width, height=canvas.height, tiles=tiles)


def tile_of(crowd: Crowd, cx: float, cy: float) -> str | None:
    """The identity of the tile containing pixel (cx, cy), or None outside every tile."""
    for identity, (left, top, right, bottom) in crowd.tiles:
        if left <= cx < right and top <= cy < bottom:
            return identity
    return None
