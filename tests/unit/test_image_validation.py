"""Ingest's image checks: formats, size limits, decompression bombs, truncation, EXIF orientation."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ingest.images import ImageLimits, validate_image
from lineup.errors import InvalidArgument, ResourceExhausted


def _encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "mime"), [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_supported_formats_are_accepted(fmt: str, mime: str) -> None:
    v = validate_image(_encode(Image.new("RGB", (120, 90), (200, 150, 100)), fmt))
    assert (v.content_type, v.width, v.height, v.rgb.mode) == (mime, 120, 90, "RGB")


def test_exif_orientation_is_applied() -> None:
    img = Image.new("RGB", (200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    v = validate_image(_encode(img, "JPEG", exif=exif))
    assert (v.width, v.height) == (100, 200)


@pytest.mark.parametrize(("data", "message"), [
    (b"", "image is empty"),
    (b"GIF89a" + b"\x00" * 100, "format not recognised"),
    (b"hello, this is text, not a photo", "format not recognised"),
])
def test_garbage_is_invalid_argument(data: bytes, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        validate_image(data)


def test_unsupported_but_decodable_format() -> None:
    with pytest.raises(InvalidArgument, match="BMP is not supported"):
        validate_image(_encode(Image.new("RGB", (100, 100)), "BMP"))


def test_truncated_jpeg_is_reported_as_corrupt() -> None:
    data = _encode(Image.effect_noise((400, 400), 50).convert("RGB"), "JPEG")
    with pytest.raises(InvalidArgument, match="corrupt or truncated"):
        validate_image(data[: len(data) // 2])


def test_broken_header_is_reported_as_corrupt() -> None:
    with pytest.raises(InvalidArgument, match="corrupt or truncated"):
        validate_image(b"\xff\xd8\xff\xe0 not a jpeg")


def test_too_many_bytes() -> None:
    with pytest.raises(InvalidArgument, match="the limit is 1 MB"):
        validate_image(b"\xff\xd8" + b"\x00" * (2 * 1024 * 1024), ImageLimits(max_bytes=1024 * 1024))


@pytest.mark.parametrize(("side", "message"), [
    (9_000, "declares 9000x9000 = 81 MP; the limit is 64 MP"),  # over our cap
    (12_000, "the limit is 64 MP"),  # over Pillow's own guard (2x the cap) once it follows the cap
])
def test_decompression_bomb_is_refused_before_decoding(side: int, message: str) -> None:
    bomb = _encode(Image.new("L", (side, side)), "PNG")  # tens of MP of zeros compress to a few KB
    assert len(bomb) < 200_000
    with pytest.raises(ResourceExhausted, match=message):
        validate_image(bomb)


def test_too_small_side() -> None:
    with pytest.raises(InvalidArgument, match="at least 80 px"):
        validate_image(_encode(Image.new("RGB", (300, 60)), "PNG"))
