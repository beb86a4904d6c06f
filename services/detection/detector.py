"""Face detection with MediaPipe's full-range BlazeFace, served as the `face_detector` model.

The model sees one 192x192 tile and finds faces from about 1/10 of the tile upwards. A large photo shrunk
to 192 px would lose every face under ~50 px, so `FaceDetector` runs a small pyramid: the whole image, then
overlapping tiles of decreasing size until the smallest wanted face (`min_face_px`, default 40) is big
enough inside a tile. All tiles go to the model as one batch. Detections are mapped back to original
image coordinates; a face cut by an inner tile border is dropped there (a coarser level, or the
neighbouring overlapping tile, sees it whole), and weighted NMS (as MediaPipe does) merges the rest.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from detection.align import Aligner
from detection.quality import Pose, Quality, assess, estimate_pose
from lineup.modelkit.backends import InferenceBackend, infer_in_batches

MODEL_NAME = "face_detector"
INPUT_SIZE = 192
GRID = 48  # one anchor per cell of a 48x48 grid (stride 4): 2304 anchors
NUM_KEYPOINTS = 6  # right eye, left eye, nose tip, mouth centre, right ear, left ear (subject's sides)
MAX_BATCH = 16  # max_batch_size of infra/triton/models/face_detector/config.pbtxt
#: level -1 shrinks the whole image this much, so a face filling the photo is <= 90 px in the input
ZOOM_OUT = 2.5


def anchor_centres() -> np.ndarray:
    """Anchor centres (x, y) in input pixels, row-major over the 48x48 grid, as MediaPipe's SSD anchors."""
    idx = (np.arange(GRID, dtype=np.float32) + 0.5) * (INPUT_SIZE / GRID)
    ys, xs = np.meshgrid(idx, idx, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


_ANCHORS = anchor_centres()


@dataclass(frozen=True)
class Detection:
    """One face in original image pixels."""

    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    score: float  # 0..1
    keypoints: np.ndarray = field(repr=False)  # (6, 2) x, y

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


@dataclass(frozen=True)
class Tile:
    """A square window of the image (may extend past it; the outside is black) and its input scale."""

    x0: float
    y0: float
    size: float  # side in image pixels, mapped onto INPUT_SIZE

    @property
    def scale(self) -> float:
        return self.size / INPUT_SIZE


def plan_tiles(width: int, height: int, min_face_px: float, *, min_face_in_input: float = 20.0,
               max_face_in_input: float = 90.0, level_ratio: float = 3.4) -> list[tuple[int, Tile]]:
    """(level, tile) pairs covering faces from `min_face_px` up to the whole image.

    Measured on LFW faces pasted at known sizes: the model finds faces of about 16-90 px in its 192 px
    input reliably (>= 98 %). So: level -1 is the image zoomed out 2.5x (faces filling the photo),
    level 0 the letterboxed image, and each further level uses tiles `level_ratio` times smaller until
    `min_face_px` appears at least `min_face_in_input` px big. A level's tiles overlap by more than the
    largest face the previous level can miss, so each such face lies wholly inside some tile.
    """
    side = float(max(width, height))
    tiles: list[tuple[int, Tile]] = [
        (-1, Tile((width - ZOOM_OUT * side) / 2, (height - ZOOM_OUT * side) / 2, ZOOM_OUT * side)),
        (0, Tile((width - side) / 2, (height - side) / 2, side)),
    ]
    smallest = max(min_face_px * INPUT_SIZE / min_face_in_input, float(INPUT_SIZE))
    if side <= smallest * 1.05:
        return tiles
    # geometric levels between the image side and the smallest tile, no steeper than level_ratio
    levels = math.ceil(math.log(side / smallest) / math.log(level_ratio))
    ratio = (side / smallest) ** (1 / levels)
    prev = side
    for level in range(1, levels + 1):
        size = side / ratio**level
        # faces below min_face_in_input at the previous level must fit whole in one tile of this level
        overlap = min(1.3 * min_face_in_input * prev / INPUT_SIZE, 0.75 * size)
        if overlap > max_face_in_input * size / INPUT_SIZE:
            raise ValueError("level_ratio too large for the model's face size range")
        stride = size - overlap
        tiles.extend((level, Tile(x, y, size)) for y in _starts(height, size, stride)
                     for x in _starts(width, size, stride))
        prev = size
    return tiles


def _starts(length: int, size: float, stride: float) -> list[float]:
    """Evenly spread tile origins covering [0, length); one centred tile when the side fits."""
    if length <= size:
        return [(length - size) / 2]
    n = math.ceil((length - size) / stride) + 1
    return [float(v) for v in np.linspace(0.0, length - size, n)]


def render_tile(image: Image.Image, tile: Tile) -> np.ndarray:
    """Crop (black outside the image) and resize a tile to the model input, uint8 HWC RGB.

    Only the part of the tile that lies on the image is resized (to its place in the 192 px input) and
    pasted onto black: a tile larger than the image (the zoom-out level is 2.5x the image side) must never
    be materialised at image resolution, which for a 6000x6000 photo would be a 225 MP canvas (PIL refuses
    it as a decompression bomb, and it would take seconds and gigabytes anyway). Tiles inside the image,
    nearly all of them, are rendered exactly as a plain crop-and-resize.

    PIL's resize filters with a kernel as wide as the scale factor, so shrinking a large tile does not
    alias the way plain bilinear sampling would.
    """
    scale = INPUT_SIZE / tile.size  # input pixels per image pixel
    x0, y0 = max(tile.x0, 0.0), max(tile.y0, 0.0)
    x1, y1 = min(tile.x0 + tile.size, float(image.width)), min(tile.y0 + tile.size, float(image.height))
    out = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), np.uint8)
    if x1 <= x0 or y1 <= y0:
        return out
    # where that part lands in the input, snapped to whole pixels (at most half an input pixel off)
    px0, py0 = round((x0 - tile.x0) * scale), round((y0 - tile.y0) * scale)
    px1 = min(max(round((x1 - tile.x0) * scale), px0 + 1), INPUT_SIZE)
    py1 = min(max(round((y1 - tile.y0) * scale), py0 + 1), INPUT_SIZE)
    part = image.resize((px1 - px0, py1 - py0), Image.Resampling.BILINEAR, box=(x0, y0, x1, y1))
    out[py0:py1, px0:px1] = np.asarray(part.convert("RGB"), dtype=np.uint8)
    return out


def decode(regressors: np.ndarray, logits: np.ndarray, threshold: float) -> tuple[np.ndarray, ...]:
    """Raw outputs of one tile -> (boxes x0y0x1y1, keypoints (n,6,2), scores), in input pixels."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits[:, 0], -100.0, 100.0)))
    keep = np.nonzero(scores >= threshold)[0]
    reg = regressors[keep]
    centres = _ANCHORS[keep]
    cx = reg[:, 0] + centres[:, 0]
    cy = reg[:, 1] + centres[:, 1]
    w, h = reg[:, 2], reg[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    kps = reg[:, 4:4 + 2 * NUM_KEYPOINTS].reshape(-1, NUM_KEYPOINTS, 2) + centres[:, None, :]
    return boxes, kps, scores[keep]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes (x0, y0, x1, y1)."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9))


def weighted_nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray,
                 iou_threshold: float) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted NMS: each cluster of overlapping candidates becomes their score-weighted mean.

    Averaging (rather than keeping only the best candidate) steadies boxes and keypoints, which matters
    because the keypoints drive alignment.
    """
    order = np.argsort(-scores)
    boxes, kps, scores = boxes[order], kps[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    out: list[tuple[np.ndarray, np.ndarray, float]] = []
    ious = iou_matrix(boxes, boxes) if len(scores) else np.zeros((0, 0))
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        members = remaining & (ious[i] > iou_threshold)
        members[i] = True
        weights = scores[members][:, None]
        box = (boxes[members] * weights).sum(0) / weights.sum()
        kp = (kps[members] * weights[:, :, None]).sum(0) / weights.sum()
        out.append((box, kp, float(scores[i])))
        remaining &= ~members
    return out


def working_image(image: Image.Image, max_side: int) -> Image.Image:
    """The image the tile pyramid searches: `image` itself, or shrunk so its longer side is `max_side`.

    The pyramid's cost grows with the image's area (a 4000x4000 photo is ~350 tiles, a 64 MP one over a
    thousand), and a face of `min_face_px` in a 64 MP photo is a speck nobody can identify. Like
    Rekognition, whose smallest detectable face is 40 px in a 1920x1080 image and proportionally larger in
    larger ones, the smallest face searched for scales with images beyond `max_side`. Boxes and landmarks
    are mapped back to the original, and faces are aligned from the original pixels."""
    side = max(image.width, image.height)
    if max_side <= 0 or side <= max_side:
        return image
    scale = max_side / side
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def _rescale(dets: list[Detection], factor: float, width: int, height: int) -> list[Detection]:
    """Detections found in a working image, in the original image's pixels."""
    out = []
    for d in dets:
        x0, y0, x1, y1 = (v * factor for v in d.box)
        out.append(Detection((max(x0, 0.0), max(y0, 0.0), min(x1, float(width)), min(y1, float(height))),
                             d.score, (d.keypoints * factor).astype(np.float32)))
    return out


def _to_pil(image: Image.Image | np.ndarray) -> Image.Image:
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    return img.convert("RGB")


class FaceDetector:
    """Find faces in an RGB image through an `InferenceBackend` (Triton in production)."""

    def __init__(self, backend: InferenceBackend, *, model_name: str = MODEL_NAME,
                 score_threshold: float = 0.6, nms_iou: float = 0.3, min_face_px: float = 40.0,
                 min_face_in_input: float = 20.0, batch_size: int = MAX_BATCH, max_side: int = 0) -> None:
        self.backend = backend
        #: > 0: images whose longer side exceeds this are searched at this size (see `working_image`)
        self.max_side = max_side
        self.model_name = model_name
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.min_face_px = min_face_px
        self.min_face_in_input = min_face_in_input
        self.batch_size = batch_size

    def run_tiles(self, tiles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw model outputs for a stack of 192x192 uint8 tiles: (regressors, logits)."""
        out = infer_in_batches(self.backend, self.model_name, {"image": tiles}, self.batch_size)
        return out["regressors"], out["scores"]

    def detect(self, image: Image.Image | np.ndarray) -> list[Detection]:
        """All faces, highest score first, in original image coordinates."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[Image.Image | np.ndarray]) -> list[list[Detection]]:
        """`detect` for several images, with all their tiles sent to the model in shared batches."""
        originals = [_to_pil(im) for im in images]
        pil = [working_image(im, self.max_side) for im in originals]
        plans = [plan_tiles(im.width, im.height, self.min_face_px, min_face_in_input=self.min_face_in_input)
                 for im in pil]
        batch = np.stack([render_tile(im, tile) for im, plan in zip(pil, plans, strict=True)
                          for _, tile in plan])
        regressors, logits = self.run_tiles(batch)
        results, start = [], 0
        for original, im, plan in zip(originals, pil, plans, strict=True):
            end = start + len(plan)
            found = self._merge(plan, regressors[start:end], logits[start:end], im.width, im.height)
            results.append(_rescale(found, original.width / im.width, original.width, original.height)
                           if im is not original else found)
            start = end
        return results

    def _merge(self, plan: list[tuple[int, Tile]], regressors: np.ndarray, logits: np.ndarray,
               width: int, height: int) -> list[Detection]:
        """Decode every tile, map to image coordinates, drop border-cut faces, weighted NMS."""
        all_boxes, all_kps, all_scores = [], [], []
        for (level, tile), reg, logit in zip(plan, regressors, logits, strict=True):
            boxes, kps, scores = decode(reg, logit, self.score_threshold)
            if level > 0 and len(scores):  # levels -1 and 0 have no inner borders
                keep = self._inside_tile(boxes, tile, width, height)
                boxes, kps, scores = boxes[keep], kps[keep], scores[keep]
            all_boxes.append(boxes * tile.scale + [tile.x0, tile.y0, tile.x0, tile.y0])
            all_kps.append(kps * tile.scale + [tile.x0, tile.y0])
            all_scores.append(scores)
        merged = weighted_nms(np.concatenate(all_boxes), np.concatenate(all_kps), np.concatenate(all_scores),
                              self.nms_iou)
        dets = []
        for box, kp, score in merged:
            x0, y0 = max(float(box[0]), 0.0), max(float(box[1]), 0.0)
            x1, y1 = min(float(box[2]), float(width)), min(float(box[3]), float(height))
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            dets.append(Detection((x0, y0, x1, y1), score, kp.astype(np.float32)))
        return dets

    @staticmethod
    def _inside_tile(boxes: np.ndarray, tile: Tile, width: int, height: int) -> np.ndarray:
        """Drop faces cut by an inner tile border (borders on the image edge are fine)."""
        margin = 2.0
        left_edge = tile.x0 <= 0
        top_edge = tile.y0 <= 0
        right_edge = tile.x0 + tile.size >= width
        bottom_edge = tile.y0 + tile.size >= height
        ok = np.ones(len(boxes), dtype=bool)
        if not left_edge:
            ok &= boxes[:, 0] > margin
        if not top_edge:
            ok &= boxes[:, 1] > margin
        if not right_edge:
            ok &= boxes[:, 2] < INPUT_SIZE - margin
        if not bottom_edge:
            ok &= boxes[:, 3] < INPUT_SIZE - margin
        return ok


@dataclass(frozen=True)
class AnalysedFace:
    """Everything the detection service reports about one face, plus the embedder's input chip."""

    index: int  # 0 = largest face in the image
    detection: Detection
    landmarks: np.ndarray = field(repr=False)  # (5, 2): left eye, right eye, nose, mouth left, mouth right
    pose: Pose
    quality: Quality
    chip: np.ndarray = field(repr=False)  # (150, 150, 3) uint8 RGB: dlib's chip (quality is measured on it)
    #: 2x3 affine, dlib chip pixel -> image pixel: other models' crops are cut through it (lineup.chips)
    transform: np.ndarray | None = field(default=None, repr=False)


class FaceAnalyser:
    """detect -> align -> measure, for the detection service's Detect RPC."""

    def __init__(self, detector: FaceDetector, aligner: Aligner | None = None) -> None:
        self.detector = detector
        self.aligner = aligner or Aligner()
        self._align_lock = threading.Lock()

    def analyse(self, image: Image.Image | np.ndarray, max_faces: int = 100) -> list[AnalysedFace]:
        """Faces largest first (the API's order), at most `max_faces`."""
        pil = _to_pil(image)
        rgb = np.asarray(pil)
        dets = sorted(self.detector.detect(pil), key=lambda d: -d.width * d.height)[:max_faces]
        out = []
        for i, det in enumerate(dets):
            with self._align_lock:  # dlib's predictor and HOG detector are not documented as thread-safe
                aligned = self.aligner.align(rgb, det.box, det.keypoints)
            pose = estimate_pose(det.keypoints)
            quality = assess(aligned.chip, det.box, det.score, pose)
            out.append(AnalysedFace(i, det, aligned.landmarks, pose, quality, aligned.chip, aligned.transform))
        return out
