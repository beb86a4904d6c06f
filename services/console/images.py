"""The images of a search review, fetched from Review.GetProbeImage / GetCandidateImage with the person's key
(each fetch is an audited access to biometric data, by that person, for that case) and never cached: not by
the console, not by the browser (`Cache-Control: no-store`).

The probe photo is drawn with the searched faces boxed and numbered (the number, not only the colour, tells
the faces apart); crops and candidate photos are passed through unchanged, after checking they are one of
the image types ingest stores.
"""

from __future__ import annotations

import io
import threading

from PIL import Image, ImageDraw, ImageFont
from werkzeug.wrappers import Response

from console.api import ApiError
from console.pages import FACE_ID, check_search_id
from console.web import PageError, Visit
from lineup.v1 import review_pb2

_TYPES = {"image/png", "image/jpeg", "image/webp"}
#: the probe as shown: at most this many pixels on its longer side (the enlarged view shows this size)
PROBE_MAX_SIDE = 1600
#: a probe can be as large as ingest accepts (64 MP: ~200 MB decoded); one is drawn at a time, so a few
#: examiners opening large probes at once cannot exhaust the pod's memory (the others wait their turn)
_DRAWING = threading.BoundedSemaphore(1)
#: EXIF orientation -> the transpose that makes the photo upright (as ImageOps.exif_transpose, which the
#: detector applies before it measures the boxes)
_UPRIGHT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
            5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
            8: Image.Transpose.ROTATE_90}


def _image(data: bytes, content_type: str) -> Response:
    if content_type not in _TYPES:
        raise PageError("the stored image is not of a type the console shows", 502)
    resp = Response(data, content_type=content_type)
    resp.headers["Cache-Control"] = "no-store, private"
    resp.headers["Content-Disposition"] = "inline"
    return resp


def _unavailable(exc: ApiError) -> Response:
    """A small picture that says why, in place of a face the person may not or can no longer see."""
    if exc.signed_out:
        raise exc
    words = {404: "gone (erased or purged)", 403: "not shown to you"}.get(exc.http_status, "not available")
    img = Image.new("RGB", (224, 224), (236, 236, 236))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, 223, 223), outline=(120, 120, 120), width=2)
    draw.multiline_text((112, 112), "image\n" + words.replace(" (", "\n("), fill=(40, 40, 40),
                        font=ImageFont.load_default(size=16), anchor="mm", align="center")
    out = io.BytesIO()
    img.save(out, "PNG")
    resp = _image(out.getvalue(), "image/png")
    resp.status_code = exc.http_status
    return resp


def probe_photo(v: Visit, search_id: str) -> Response:
    check_search_id(search_id)
    try:
        got = v.call("Review", "GetProbeImage", review_pb2.GetProbeImageRequest(search_id=search_id, whole_photo=True))
    except ApiError as exc:
        return _unavailable(exc)
    with _DRAWING:
        photo = _shrunk(got.image, v.max_image_pixels)
    draw = ImageDraw.Draw(photo)
    w, h = photo.size
    line = max(3, round(max(w, h) / 250))
    size = max(14, round(max(w, h) / 40))
    font = ImageFont.load_default(size=size)
    for face in got.faces:
        b = face.bounding_box
        box = (b.left * w, b.top * h, (b.left + b.width) * w, (b.top + b.height) * h)
        draw.rectangle(box, outline=(255, 214, 0), width=line)
        draw.rectangle(box, outline=(0, 0, 0), width=1)
        label = str(face.face_index + 1)
        x, y = box[0], max(0.0, box[1] - size - 2 * line)
        tb = draw.textbbox((x + line, y + line), label, font=font)
        draw.rectangle((tb[0] - line, tb[1] - line, tb[2] + line, tb[3] + line), fill=(0, 0, 0))
        draw.text((x + line, y + line), label, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    photo.save(out, "PNG")
    return _image(out.getvalue(), "image/png")


def _shrunk(data: bytes, max_pixels: int) -> Image.Image:
    """The stored probe, upright and at most PROBE_MAX_SIDE on its longer side, decoded as cheaply as its format
    allows (a JPEG at reduced scale); refused before decoding when larger than the deployment's image cap."""
    with Image.open(io.BytesIO(data), formats=["JPEG", "PNG", "WEBP"]) as opened:
        if opened.width * opened.height > max_pixels:
            raise PageError("the probe photo is larger than this deployment shows", 502)
        orientation = opened.getexif().get(0x0112, 1)
        opened.draft("RGB", (PROBE_MAX_SIDE, PROBE_MAX_SIDE))
        opened.thumbnail((PROBE_MAX_SIDE, PROBE_MAX_SIDE))
        small = opened.convert("RGB")
    method = _UPRIGHT.get(orientation)
    return small.transpose(method) if method is not None else small


def probe_face(v: Visit, search_id: str, index: int) -> Response:
    check_search_id(search_id)
    if not 0 <= index < 1000:
        raise PageError("no such probe face", 404)
    try:
        got = v.call("Review", "GetProbeImage", review_pb2.GetProbeImageRequest(search_id=search_id,
                                                                                probe_face_index=index))
    except ApiError as exc:
        return _unavailable(exc)
    return _image(got.image, got.content_type)


def candidate(v: Visit, search_id: str, face_id: str) -> Response:
    check_search_id(search_id)
    if not FACE_ID.fullmatch(face_id):
        raise PageError("That is not a face id.", 404)
    photo = v.request.args.get("photo") == "1"
    try:
        got = v.call("Review", "GetCandidateImage", review_pb2.GetCandidateImageRequest(
            search_id=search_id, face_id=face_id, original_photo=photo))
    except ApiError as exc:
        return _unavailable(exc)
    return _image(got.image, got.content_type)
