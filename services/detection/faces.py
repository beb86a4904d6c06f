"""What the detection service reports about faces, shared by the Kafka stage and the gRPC API.

- `FaceFinder`: decoded image -> analysed faces (detect through Triton, align, measure), largest first.
- `face_detail`: one analysed face -> the API's `FaceDetail` (ratios of the oriented image, degrees, 0..100).
- `select_faces`: the quality filter and `max_faces`, with the reasons for every face left out.

Selection order follows Rekognition's IndexFaces: the quality filter first, then `max_faces` among the faces
that passed, largest first. So `max_faces=1` on a photo whose largest face is blurred takes the largest
*usable* face instead of returning nothing; a face left out for quality is reported with its quality
reasons, a usable face beyond the limit with EXCEEDS_MAX_FACES.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field

import numpy as np
from opentelemetry import trace
from PIL import Image, ImageOps, UnidentifiedImageError

from detection.align import extract_chip
from detection.detector import AnalysedFace, FaceAnalyser
from detection.quality import Band, shortfalls
from detection.settings import API_MAX_FACES
from lineup.chips import ChipSpec
from lineup.errors import FailedPrecondition, InvalidArgument, ResourceExhausted
from lineup.scoring import MODEL_REPOSITORY, model_version
from lineup.untrusted import for_log
from lineup.v1 import common_pb2

tracer = trace.get_tracer("lineup.detection")

#: decoded pixels above this are refused (a decompression bomb must not exhaust the pod's memory); the
#: services pass the deployment's LINEUP_MAX_IMAGE_MEGAPIXELS, the ceiling ingest applies at the front door
MAX_PIXELS = 64_000_000
#: formats ingest accepts (ingest.images.ALLOWED_FORMATS); MPO is a phone's JPEG with extra frames
_FORMATS = {"JPEG", "PNG", "WEBP", "MPO"}

_Q = common_pb2
#: quality filter -> the lowest band that passes; None: every face passes
_BAR: dict[int, Band | None] = {
    _Q.QUALITY_FILTER_NONE: None,
    _Q.QUALITY_FILTER_UNSPECIFIED: Band.MEDIUM,  # AUTO
    _Q.QUALITY_FILTER_AUTO: Band.MEDIUM,
    _Q.QUALITY_FILTER_LOW: Band.LOW,
    _Q.QUALITY_FILTER_MEDIUM: Band.MEDIUM,
    _Q.QUALITY_FILTER_HIGH: Band.HIGH,
}
#: measurement names of `quality.shortfalls` -> the reason reported to the caller
_REASON = {
    "small": _Q.UNINDEXED_REASON_SMALL_BOUNDING_BOX,
    "blurred": _Q.UNINDEXED_REASON_LOW_SHARPNESS,
    "dark": _Q.UNINDEXED_REASON_LOW_BRIGHTNESS,
    "overexposed": _Q.UNINDEXED_REASON_LOW_BRIGHTNESS,
    "pose": _Q.UNINDEXED_REASON_EXTREME_POSE,
    "extreme_pose": _Q.UNINDEXED_REASON_EXTREME_POSE,
    "low_confidence": _Q.UNINDEXED_REASON_LOW_CONFIDENCE,
}
_BAND = {Band.LOW: _Q.QUALITY_BAND_LOW, Band.MEDIUM: _Q.QUALITY_BAND_MEDIUM, Band.HIGH: _Q.QUALITY_BAND_HIGH}
#: AnalysedFace.landmarks order: subject's left eye, right eye, nose tip, mouth left, mouth right
_LANDMARK_TYPES = (_Q.LANDMARK_TYPE_LEFT_EYE, _Q.LANDMARK_TYPE_RIGHT_EYE, _Q.LANDMARK_TYPE_NOSE,
                   _Q.LANDMARK_TYPE_MOUTH_LEFT, _Q.LANDMARK_TYPE_MOUTH_RIGHT)


def set_decoder_limit(max_pixels: int) -> None:
    """Make PIL's own decompression-bomb check agree with the deployment's pixel cap (it warns above
    `Image.MAX_IMAGE_PIXELS` and refuses above twice that); `decode_image` refuses above the cap itself."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Original bytes -> RGB image the way a person sees it (EXIF orientation applied).

    Ingest stores the bytes exactly as uploaded, so the orientation must be applied again here; boxes and
    landmarks are then ratios of the *oriented* image, as the caller sees it. A multi-picture JPEG (MPO,
    from phones) is read as its first frame, the photo itself. Anything undecodable is the caller's image,
    not a transient fault: InvalidArgument (dead-lettered, never retried); the messages never quote the
    decoder (its text names library internals, not the caller's problem).
    """
    if not data:
        raise InvalidArgument("image object is empty")
    with warnings.catch_warnings():
        # PIL warns above its MAX_IMAGE_PIXELS (set to the cap) and refuses above twice that; the size
        # check below gives the exact message for the range in between
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            if img.format not in _FORMATS:
                raise InvalidArgument("image format not supported: send JPEG, PNG or WebP bytes")
            if img.width * img.height > max_pixels:
                raise ResourceExhausted(f"image is {img.width}x{img.height}; the limit is "
                                        f"{max_pixels / 1e6:.0f} MP: downscale it")
            img.seek(0)  # the first frame of an MPO (or of an animated PNG/WebP)
            img.load()
            return ImageOps.exif_transpose(img).convert("RGB")
        except UnidentifiedImageError:
            raise InvalidArgument("image format not recognised: send JPEG, PNG or WebP bytes") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ResourceExhausted(f"image decodes to too many pixels; the limit is {max_pixels / 1e6:.0f} MP: "
                                    f"downscale it") from None
        except (OSError, SyntaxError, ValueError, EOFError):
            raise InvalidArgument("image is corrupt or truncated: re-export it and retry") from None


def effective_max_faces(requested: int, *, largest_face_only: bool = False, ceiling: int = API_MAX_FACES) -> int:
    """The API's max_faces (1..100, 0 = the service's ceiling); largest_face_only means 1."""
    if requested < 0 or requested > API_MAX_FACES:
        raise InvalidArgument(f"max_faces {requested} is out of range: use 1..{API_MAX_FACES} (0 means {ceiling})")
    limit = min(requested or ceiling, ceiling)
    return 1 if largest_face_only else limit


def check_scope(ref: common_pb2.ObjectRef, agency_ids: tuple[str, ...], buckets: tuple[str, ...]) -> None:
    """An object reference may only point into a Lineup bucket, under one of the caller's agencies."""
    if ref.bucket not in buckets:
        raise InvalidArgument(f"bucket {for_log(ref.bucket)!r} is not a Lineup bucket ({', '.join(buckets)})")
    parts = ref.key.split("/")
    if len(parts) < 2 or any(p in {"", ".", ".."} for p in parts):
        raise InvalidArgument(f"object key {for_log(ref.key)!r} is not a valid Lineup key")
    if parts[0] not in {a for a in agency_ids if a}:
        raise InvalidArgument(f"object {ref.bucket}/{for_log(ref.key)} is outside the agency's prefix")


def model_crop(image: np.ndarray, face: AnalysedFace, spec: ChipSpec) -> np.ndarray:
    """The crop `spec`'s face model takes, from the same landmark fit as dlib's chip.

    Sampled from the photo (not out of the 150-px chip, which is too tight for e.g. ArcFace's template)."""
    if spec.is_dlib_chip:
        return face.chip
    if face.transform is None:
        raise FailedPrecondition("the aligner gave no chip transform: cannot cut the model's crop")
    return extract_chip(image, spec.transform(face.transform), spec.size)


def chip_png(chip: np.ndarray) -> bytes:
    """Lossless PNG of a model crop: the embedder must see exactly the pixels the aligner produced."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(chip, np.uint8), "RGB").save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def face_detail(face: AnalysedFace, width: int, height: int) -> common_pb2.FaceDetail:
    """Box and landmarks as ratios of the oriented image (a landmark of a face cut by the image edge may
    lie slightly outside 0..1, as in Rekognition), pose in degrees, quality and confidence 0..100."""
    x0, y0, x1, y1 = face.detection.box
    q = face.quality
    return common_pb2.FaceDetail(
        bounding_box=common_pb2.BoundingBox(left=x0 / width, top=y0 / height, width=(x1 - x0) / width,
                                            height=(y1 - y0) / height),
        landmarks=[common_pb2.Landmark(type=t, x=float(x) / width, y=float(y) / height)
                   for t, (x, y) in zip(_LANDMARK_TYPES, face.landmarks, strict=True)],
        pose=common_pb2.Pose(yaw=face.pose.yaw, pitch=face.pose.pitch, roll=face.pose.roll),
        quality=common_pb2.FaceQuality(sharpness=q.sharpness, brightness=q.brightness,
                                       face_size_px=q.face_size_px, band=_BAND[q.band]),
        confidence=100.0 * face.detection.score,
    )


def quality_reasons(face: AnalysedFace, quality_filter: int) -> list[common_pb2.UnindexedReason]:
    """Why `face` fails the filter (empty: it passes). Unknown filter values are refused, not guessed."""
    if quality_filter not in _BAR:
        raise InvalidArgument(f"quality_filter {quality_filter} is unknown: use NONE, AUTO, LOW, MEDIUM or HIGH")
    bar = _BAR[quality_filter]
    if bar is None or face.quality.band >= bar:
        return []
    names = shortfalls(face.quality, face.pose, face.detection.score, bar)
    reasons = list(dict.fromkeys(_REASON[n] for n in names))
    return reasons or [_Q.UNINDEXED_REASON_LOW_FACE_QUALITY]


@dataclass
class Selection:
    kept: list[AnalysedFace] = field(default_factory=list)
    filtered: list[common_pb2.UnindexedFace] = field(default_factory=list)  # by face_index


def select_faces(faces: list[AnalysedFace], *, width: int, height: int, max_faces: int,
                 quality_filter: int) -> Selection:
    """Apply the quality filter, then `max_faces` among the usable faces (largest first)."""
    out = Selection()
    for face in faces:
        reasons: list[common_pb2.UnindexedReason] = quality_reasons(face, quality_filter)
        if not reasons and len(out.kept) >= max_faces:
            reasons = [_Q.UNINDEXED_REASON_EXCEEDS_MAX_FACES]
        if reasons:
            out.filtered.append(common_pb2.UnindexedFace(face_detail=face_detail(face, width, height),
                                                         reasons=reasons, face_index=face.index))
        else:
            out.kept.append(face)
    return out


def served_version(model_name: str) -> str:
    """`<name>/<version>` from the model's card (what Triton serves: config.pbtxt pins that version)."""
    path = MODEL_REPOSITORY / model_name / "model_card.json"
    if not path.exists():
        raise FailedPrecondition(f"model {model_name!r} has no model card at {path}")
    card = json.loads(path.read_text())
    return model_version(card["name"], card["version"])


class FaceFinder:
    """The detector chain behind both the Kafka stage and the Detect RPC.

    Calls may run in parallel (the stage works on several images at once, so that one large image does
    not hold up the others); only the alignment step, which uses dlib's landmarker and HOG detector (not
    documented as thread-safe), is serialised inside `FaceAnalyser`. Tile rendering and the Triton calls of
    different images overlap.
    """

    def __init__(self, analyser: FaceAnalyser, *, max_faces: int = API_MAX_FACES, model_version: str = "") -> None:
        self.analyser = analyser
        self.max_faces = max_faces
        self.model_version = model_version

    def find(self, image: Image.Image) -> list[AnalysedFace]:
        """At most `max_faces` faces, largest first (face_index = position)."""
        with tracer.start_as_current_span("detect faces", attributes={
                "lineup.image.width": image.width, "lineup.image.height": image.height}) as span:
            faces = self.analyser.analyse(image, max_faces=self.max_faces)
            span.set_attribute("lineup.faces", len(faces))
            return faces
