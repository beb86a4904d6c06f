"""Validation of uploaded images before anything is stored or published.

The checks run in order of cost: size of the bytes, the format sniffed from the header (not the
file name), the declared dimensions (read without decoding, so a decompression bomb is refused
before it allocates), then a full decode with EXIF orientation applied, because the detector must
see the photo the way a person does.

The pixel cap is the deployment's one setting (LINEUP_MAX_IMAGE_MEGAPIXELS): the detection service's
decoder enforces the same number, so whatever passes here is processed there. Phone photos in the
multi-picture JPEG format (MPO: the photo plus e.g. a depth map) are read as their first frame, the photo.
Messages never quote the decoder: its text names library internals, not what the caller should fix.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from lineup.errors import InvalidArgument, ResourceExhausted

ALLOWED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "MPO": "image/jpeg"}


def set_decoder_limit(max_pixels: int) -> None:
    """Make PIL's own decompression-bomb check agree with the cap (PIL warns above `MAX_IMAGE_PIXELS`,
    which `validate_image` treats as a refusal, and raises above twice that): with PIL's default (89 MP)
    a cap set higher would be refused by PIL with a message that does not name the setting."""
    Image.MAX_IMAGE_PIXELS = max_pixels


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 15 * 1024 * 1024
    min_side_px: int = 80
    max_pixels: int = 64_000_000  # a 8000x8000 photo; larger declared sizes are refused undecoded


@dataclass(frozen=True)
class ValidatedImage:
    data: bytes  # the original bytes, stored as uploaded (content-addressed)
    content_type: str
    width: int  # after EXIF orientation
    height: int
    rgb: Image.Image  # decoded, oriented, RGB


def validate_image(data: bytes, limits: ImageLimits = ImageLimits()) -> ValidatedImage:
    if not data:
        raise InvalidArgument("image is empty: send the bytes of a JPEG, PNG or WebP photo")
    if len(data) > limits.max_bytes:
        raise InvalidArgument(f"image is {len(data) / 1024 / 1024:.1f} MB; the limit is "
                              f"{limits.max_bytes / 1024 / 1024:.0f} MB: downscale or recompress it")
    with warnings.catch_warnings():
        # PIL warns above its MAX_IMAGE_PIXELS (set to the cap) and refuses above twice that; the size
        # check below gives the exact message for the range in between
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            probe = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise InvalidArgument("image format not recognised: send JPEG, PNG or WebP bytes") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ResourceExhausted(f"image declares too many pixels; the limit is {limits.max_pixels / 1e6:.0f} MP: "
                                    f"downscale it") from None
        except (OSError, SyntaxError, ValueError, EOFError):  # a recognised header followed by garbage
            raise InvalidArgument("image is corrupt or truncated: re-export it and retry") from None
        fmt = probe.format or ""
        if fmt not in ALLOWED_FORMATS:
            raise InvalidArgument(f"image format {fmt or 'unknown'} is not supported: send JPEG (also MPO), PNG "
                                  f"or WebP")
        w, h = probe.size
        if w * h > limits.max_pixels:
            raise ResourceExhausted(f"image declares {w}x{h} = {w * h / 1e6:.0f} MP; the limit is "
                                    f"{limits.max_pixels / 1e6:.0f} MP: downscale it")
        try:
            probe.seek(0)  # an MPO's first frame is the photo
            probe.load()
            oriented = ImageOps.exif_transpose(probe)
            rgb = oriented.convert("RGB")
        except (OSError, SyntaxError, ValueError, EOFError):
            raise InvalidArgument("image is corrupt or truncated: re-export it and retry") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ResourceExhausted(f"image decodes to too many pixels; the limit is {limits.max_pixels / 1e6:.0f} "
                                    f"MP: downscale it") from None
    if min(rgb.size) < limits.min_side_px:
        raise InvalidArgument(f"image is {rgb.width}x{rgb.height} px; each side must be at least "
                              f"{limits.min_side_px} px")
    return ValidatedImage(data=data, content_type=ALLOWED_FORMATS[fmt], width=rgb.width, height=rgb.height,
                          rgb=rgb)
