"""One pixel cap from the front door to the detector: what ingest accepts, detection decodes and processes;
bombs are refused from their declared size; phone MPO photos are read as their first frame."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from detection.detector import INPUT_SIZE, plan_tiles, render_tile, working_image
from detection.faces import decode_image
from ingest.images import ImageLimits, set_decoder_limit, validate_image
from lineup.errors import InvalidArgument, ResourceExhausted
from lineup.settings import CommonSettings


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height and carries (almost) no pixel data: a decompression bomb's shape."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def _mpo(first: Image.Image, second: Image.Image) -> bytes:
    buf = io.BytesIO()
    first.save(buf, "MPO", save_all=True, append_images=[second])
    return buf.getvalue()


@pytest.fixture(autouse=True)
def _default_decoder_limit() -> None:
    set_decoder_limit(CommonSettings().max_image_pixels)


def test_mpo_is_accepted_as_its_first_frame() -> None:
    data = _mpo(Image.new("RGB", (320, 240), (200, 10, 10)), Image.new("RGB", (320, 240), (10, 10, 200)))
    assert Image.open(io.BytesIO(data)).format == "MPO"
    v = validate_image(data)
    assert (v.content_type, v.width, v.height) == ("image/jpeg", 320, 240)
    assert v.rgb.getpixel((160, 120))[0] > 150  # red: the first frame, not the second
    img = decode_image(data)  # and the detector reads the stored bytes the same way
    assert img.size == (320, 240) and img.getpixel((160, 120))[0] > 150


def test_a_declared_size_bomb_is_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: Image.Image) -> None:
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    from PIL import ImageFile
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    for side in (9000, 20_000, 60_000):  # just over the cap, over PIL's own limit, far beyond
        with pytest.raises(ResourceExhausted, match="the limit is 64 MP"):
            validate_image(_png_header(side, side))
        with pytest.raises(ResourceExhausted):
            decode_image(_png_header(side, side))


def test_the_documented_maximum_is_accepted_and_one_more_row_is_not() -> None:
    limits = ImageLimits()
    assert limits.max_pixels == CommonSettings().max_image_pixels == 64_000_000
    buf = io.BytesIO()
    Image.new("L", (8000, 8000), 128).save(buf, "PNG")
    v = validate_image(buf.getvalue(), limits)
    assert (v.width, v.height) == (8000, 8000)
    assert decode_image(buf.getvalue(), limits.max_pixels).size == (8000, 8000)
    with pytest.raises(ResourceExhausted, match="the limit is 64 MP"):
        validate_image(_png_header(8000, 8001), limits)


def test_a_higher_cap_is_the_decoders_cap_too() -> None:
    """PIL refuses > 2x its MAX_IMAGE_PIXELS on its own; the setting moves that line with the cap."""
    settings = CommonSettings(max_image_megapixels=200)
    set_decoder_limit(settings.max_image_pixels)
    with pytest.raises(InvalidArgument, match="corrupt or truncated"):  # declared size passes, data is missing
        validate_image(_png_header(14_000, 14_000), ImageLimits(max_pixels=settings.max_image_pixels))


def test_decoder_errors_never_quote_the_library() -> None:
    good = io.BytesIO()
    Image.new("RGB", (200, 200), (1, 2, 3)).save(good, "JPEG")
    truncated = good.getvalue()[:300]
    for fn in (validate_image, decode_image):
        with pytest.raises(InvalidArgument) as err:
            fn(truncated)  # type: ignore[operator]
        assert err.value.message == "image is corrupt or truncated: re-export it and retry"


def test_tiles_of_an_image_at_the_cap_are_rendered_without_a_giant_canvas() -> None:
    """The 6000x6000 failure: the zoom-out tile (2.5x the side) became a 225 MP canvas."""
    set_decoder_limit(64_000_000)
    img = Image.new("RGB", (6000, 6000), (90, 90, 90))
    level, zoom = plan_tiles(6000, 6000, 40)[0]
    assert level == -1 and zoom.size * zoom.size > 200e6
    tile = render_tile(img, zoom)
    assert tile.shape == (INPUT_SIZE, INPUT_SIZE, 3)
    inner = tile[INPUT_SIZE // 2 - 10:INPUT_SIZE // 2 + 10, INPUT_SIZE // 2 - 10:INPUT_SIZE // 2 + 10]
    assert (inner == 90).all() and (tile[:20, :20] == 0).all()  # the image in the middle, black around it


def test_tiles_inside_the_image_render_as_a_plain_crop_and_resize() -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (900, 1200, 3), dtype=np.uint8))
    for _, t in plan_tiles(1200, 900, 40)[2:]:
        if t.x0 >= 0 and t.y0 >= 0 and t.x0 + t.size <= 1200 and t.y0 + t.size <= 900:
            expected = np.asarray(img.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR,
                                             box=(t.x0, t.y0, t.x0 + t.size, t.y0 + t.size)))
            assert np.array_equal(render_tile(img, t), expected)


def test_working_image_bounds_the_pyramid() -> None:
    big = Image.new("RGB", (8000, 6000))
    small = working_image(big, 2048)
    assert small.size == (2048, 1536)
    assert working_image(big, 0) is big and working_image(small, 2048) is small
    assert len(plan_tiles(*small.size, 40)) * 5 < len(plan_tiles(*big.size, 40))
