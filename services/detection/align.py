"""Aligned face chips exactly as dlib's `get_face_chip(img, shape, 150, 0.25)` cuts them.

The embedder (dlib's ResNet) was trained on chips made this way, and its accuracy drops when the crop
geometry differs, so this module reproduces dlib's chip arithmetic (similarity transform of 5 landmarks
onto dlib's template, `chip_details`, bilinear sampling, pyramid down-sampling for big faces) in numpy.
The parity test compares it with dlib itself.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CHIP_SIZE = 150
CHIP_PADDING = 0.25

#: dlib's 5-point template (get_face_chip_details), unit square, in the part order of dlib's
#: shape_predictor_5_face_landmarks model
_DLIB_TEMPLATE = np.array([
    [0.8595674595992, 0.2134981538014],  # part 0: subject's left eye, outer corner (image right)
    [0.6460604764104, 0.2289674387677],  # part 1: subject's left eye, inner corner
    [0.1205750620789, 0.2137274526848],  # part 2: subject's right eye, outer corner (image left)
    [0.3340850613712, 0.2290642403242],  # part 3: subject's right eye, inner corner
    [0.4901123135679, 0.6277975316475],  # part 4: bottom of the nose
])


def template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> np.ndarray:
    """dlib's template points in chip pixels for a chip of `size` with `padding`."""
    return (padding + _DLIB_TEMPLATE) / (2 * padding + 1) * size


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (Umeyama, as dlib's find_similarity_transform): 2x3 matrix src -> dst."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    var_s = (sc**2).sum() / len(src)
    cov = dc.T @ sc / len(src)
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(2)
    if np.linalg.det(cov) < 0:
        s[1, 1] = -1
    r = u @ s @ vt
    scale = (d * np.diag(s)).sum() / var_s if var_s > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]])


def chip_transform(landmarks: np.ndarray, size: int = CHIP_SIZE,
                   padding: float = CHIP_PADDING, reference: np.ndarray | None = None) -> np.ndarray:
    """2x3 affine mapping chip pixel (x, y) -> image point, following dlib's chip_details.

    dlib turns the fitted similarity into an angle and an extraction rectangle `centered_drect(centre,
    size*scale, size*scale)` (which shrinks width and height by one pixel) and maps the chip corners onto
    that rectangle; we do the same so the sampling grid matches dlib to a fraction of a pixel.
    `reference` overrides the template (points in chip pixels, same order as `landmarks`).
    """
    ref = template(size, padding) if reference is None else reference
    m = similarity_transform(ref, landmarks)
    px, py = m[0, 0], m[1, 0]  # image of the unit x vector
    angle = math.atan2(py, px)
    scale = math.hypot(px, py)
    centre = m[:, :2] @ np.array([size / 2, size / 2]) + m[:, 2]
    half = (size * scale - 1) / 2
    cos, sin = math.cos(angle), math.sin(angle)

    def corner(dx: float, dy: float) -> np.ndarray:
        return centre + np.array([cos * dx - sin * dy, sin * dx + cos * dy])

    tl, tr, bl = corner(-half, -half), corner(half, -half), corner(-half, half)
    a = np.empty((2, 3))
    a[:, 0] = (tr - tl) / (size - 1)
    a[:, 1] = (bl - tl) / (size - 1)
    a[:, 2] = tl
    return a


def _pyramid_down(img: np.ndarray) -> np.ndarray:
    """Halve an image with a 5-tap binomial filter, like dlib's pyramid_down<2>, approximately."""
    k = np.array([1, 4, 6, 4, 1], np.float32) / 16
    f = img.astype(np.float32)
    pad = np.pad(f, ((2, 2), (0, 0), (0, 0)), mode="edge")
    f = sum(k[i] * pad[i:i + f.shape[0]] for i in range(5))
    pad = np.pad(f, ((0, 0), (2, 2), (0, 0)), mode="edge")
    f = sum(k[i] * pad[:, i:i + f.shape[1]] for i in range(5))
    return np.asarray(f[::2, ::2])


def warp_bilinear(img: np.ndarray, affine: np.ndarray, size: int) -> np.ndarray:
    """Sample a size x size chip: chip pixel (x, y) takes img at affine @ (x, y, 1); black outside."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    sx = affine[0, 0] * xs + affine[0, 1] * ys + affine[0, 2]
    sy = affine[1, 0] * xs + affine[1, 1] * ys + affine[1, 2]
    x0 = np.floor(sx).astype(np.int64)
    y0 = np.floor(sy).astype(np.int64)
    h, w = img.shape[:2]
    valid = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < w) & (y0 + 1 < h)
    x0c = np.clip(x0, 0, w - 2)
    y0c = np.clip(y0, 0, h - 2)
    fx = (sx - x0)[..., None]
    fy = (sy - y0)[..., None]
    # gather the four neighbours first and convert only them: converting the whole image per face cost
    # ~44 ms per face on a 100-face crowd photo (issue *speed*); the arithmetic is the same
    def at(y: np.ndarray, x: np.ndarray) -> np.ndarray:
        return np.asarray(img[y, x], np.float64)

    top = (1 - fx) * at(y0c, x0c) + fx * at(y0c, x0c + 1)
    bottom = (1 - fx) * at(y0c + 1, x0c) + fx * at(y0c + 1, x0c + 1)
    out = (1 - fy) * top + fy * bottom
    out[~valid] = 0
    return np.clip(out, 0, 255).astype(np.uint8)  # dlib truncates when assigning to uint8


def face_chip(image: np.ndarray, landmarks: np.ndarray, size: int = CHIP_SIZE,
              padding: float = CHIP_PADDING, reference: np.ndarray | None = None) -> np.ndarray:
    """The aligned uint8 RGB chip for one face, given dlib-order 5-point landmarks (x, y) in pixels
    (or other points with their `reference` positions in the chip)."""
    return extract_chip(image, chip_transform(np.asarray(landmarks, np.float64), size, padding, reference),
                        size)


def extract_chip(image: np.ndarray, affine: np.ndarray, size: int = CHIP_SIZE) -> np.ndarray:
    """Sample the chip for a chip -> image transform.

    Like dlib, a face much larger than the chip is first taken from a 2x-downsampled pyramid level so
    the bilinear sampling does not alias.
    """
    scale = math.hypot(affine[0, 0], affine[1, 0])
    img = np.asarray(image)
    # dlib: go down one level while the chip rectangle, halved, still covers more than the chip area
    while scale / 2 * size > size and min(img.shape[:2]) > 8:
        img = _pyramid_down(img)
        affine = affine / 2  # level pixel i sits at source pixel 2i (measured best against dlib)
        scale /= 2
    return warp_bilinear(img, affine, size)


# --- where the alignment landmarks come from --------------------------------------------------------

#: Where BlazeFace's right eye, left eye, nose tip and mouth centre keypoints fall in a dlib chip
#: (150 px, padding 0.25): medians over 79 faces of the crowd and tv-identities sets (not LFW), mapping
#: BlazeFace keypoints through the chip transform given by dlib's HOG detector + 5-point predictor.
BLAZEFACE_REFERENCE = np.array([[46.67, 45.92], [100.84, 45.21], [72.86, 80.44], [73.82, 105.24]])

#: dlib's 5-point predictor was trained on boxes from dlib's HOG detector. Measured on the same 79 faces:
#: the HOG box is square, (0.893 x BlazeFace box width) wide, and its centre sits (-0.003, +0.020) box
#: widths from the BlazeFace box centre.
DLIB_BOX_FROM_BLAZEFACE = (-0.003, 0.020, 0.893)

#: Mouth corners: neither landmark model gives them, so they are reported at the mouth centre plus/minus
#: 0.4 x the eye-to-eye vector (typical mouth width is ~0.8 of the interpupillary distance).
MOUTH_HALF_WIDTH = 0.4

#: face width the HOG refinement rescales to (HOG's window is 80 px; dlib finds 80-140 px faces best)
_HOG_FACE_PX = 120.0


def dlib_box(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """The square box dlib's HOG detector would most likely have drawn for this BlazeFace box."""
    x0, y0, x1, y1 = box
    w = x1 - x0
    dx, dy, size = DLIB_BOX_FROM_BLAZEFACE
    cx = (x0 + x1) / 2 + dx * w
    cy = (y0 + y1) / 2 + dy * w
    half = size * w / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


class DlibLandmarker:
    """dlib's 5-point shape predictor (public domain), started from a dlib-style face box.

    The predictor was trained on boxes from dlib's HOG detector and is sensitive to where the box sits
    (LFW accuracy 98.57 % from a box mapped from BlazeFace's vs 99.07 % from a HOG box). So we run dlib's
    HOG detector on a small crop around the BlazeFace box, with the face rescaled to ~120 px (3-4 ms),
    and fall back to the mapped box when HOG finds nothing (profile faces). Neither model is ONNX: they
    run in the detection service process.
    """

    def __init__(self, model_path: str | None = None, *, refine_with_hog: bool = True) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(model_path or str(shape_predictor_path()))
        self._hog = dlib.get_frontal_face_detector() if refine_with_hog else None

    def start_box(self, image: np.ndarray, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """The HOG box of this face if HOG finds it near the BlazeFace box, else the mapped box."""
        if self._hog is None:
            return dlib_box(box)
        x0, y0, x1, y1 = box
        w = max(x1 - x0, 1.0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        side = 2.0 * w
        left, top = math.floor(cx - side / 2), math.floor(cy - side / 2)
        scale = _HOG_FACE_PX / w
        crop = Image.fromarray(_window(image, left, top, math.ceil(side)))
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))),
                           Image.Resampling.BILINEAR)
        rects = self._hog(np.asarray(crop), 0)
        if len(rects) == 0:
            return dlib_box(box)
        c = crop.width / 2, crop.height / 2
        r = min(rects, key=lambda r: math.hypot((r.left() + r.right()) / 2 - c[0], (r.top() + r.bottom()) / 2 - c[1]))
        return (round(r.left() / scale + left), round(r.top() / scale + top),
                round(r.right() / scale + left), round(r.bottom() / scale + top))

    def __call__(self, image: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
        """(5, 2) points in dlib's part order, image pixels."""
        image = np.ascontiguousarray(image)
        x0, y0, x1, y1 = self.start_box(image, box)
        shape = self._predictor(image, self._dlib.rectangle(x0, y0, x1, y1))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)


def _window(image: np.ndarray, left: int, top: int, side: int) -> np.ndarray:
    """The `side` x `side` pixels from (left, top), black where that lies off the image: exactly what
    `Image.crop` gives, but copying only the window (a crowd photo's faces each copied the whole photo)."""
    out = np.zeros((side, side, *image.shape[2:]), image.dtype)
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + side, image.shape[1]), min(top + side, image.shape[0])
    if x1 > x0 and y1 > y0:
        out[y0 - top:y1 - top, x0 - left:x1 - left] = image[y0:y1, x0:x1]
    return out


def shape_predictor_path() -> Path:
    """shape_predictor_5_face_landmarks.dat from the `face-recognition-models` package.

    Located without importing the package: its __init__ imports pkg_resources, which recent setuptools
    no longer ships.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("face-recognition-models is not installed: pip install -e '.[models]'")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "shape_predictor_5_face_landmarks.dat"
    if not path.exists():
        raise RuntimeError(f"{path} is missing")
    return path


@dataclass(frozen=True)
class AlignedFace:
    chip: np.ndarray  # (150, 150, 3) uint8 RGB, the embedder's input
    #: (5, 2) image pixels in the API's order: subject's left eye, right eye, nose tip, mouth left, right
    landmarks: np.ndarray
    transform: np.ndarray  # 2x3 affine, chip pixel -> image pixel


class Aligner:
    """Cuts dlib-style chips from detections; landmarks from `joint` (default), `dlib` or `blazeface`.

    `joint` fits one similarity transform to all 9 points: dlib's 5 (eye corners, nose base) and
    BlazeFace's eyes, nose tip and mouth centre, against dlib's template plus `BLAZEFACE_REFERENCE`.
    Two independent landmark sets average out part of each other's noise; on lfw-dev (flip-averaged
    embeddings) it measured 99.13 % vs 99.07 % (dlib) and 98.83 % (BlazeFace): docs/models.md.
    """

    MODES = ("joint", "dlib", "blazeface")

    def __init__(self, landmarks: str = "joint", *, size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> None:
        if landmarks not in self.MODES:
            raise ValueError(f"landmarks must be one of {', '.join(self.MODES)}, not {landmarks!r}")
        self.mode = landmarks
        self.size = size
        self.padding = padding
        self._dlib = DlibLandmarker() if landmarks in ("dlib", "joint") else None
        bf_reference = BLAZEFACE_REFERENCE * size / CHIP_SIZE
        self._reference = {"dlib": template(size, padding), "blazeface": bf_reference,
                           "joint": np.vstack([template(size, padding), bf_reference])}[landmarks]

    def align(self, image: np.ndarray, box: tuple[float, float, float, float],
              keypoints: np.ndarray) -> AlignedFace:
        """Chip and reported landmarks for one detection (box and BlazeFace keypoints, image pixels)."""
        image = np.asarray(image)
        kp = np.asarray(keypoints, np.float64)
        right_eye, left_eye, nose, mouth = kp[0], kp[1], kp[2], kp[3]
        if self._dlib is not None:
            dlib_pts = self._dlib(image, box)
            left_eye, right_eye = dlib_pts[0:2].mean(0), dlib_pts[2:4].mean(0)
            pts = dlib_pts if self.mode == "dlib" else np.vstack([dlib_pts, kp[:4]])
        else:
            pts = kp[:4]
        transform = chip_transform(pts, self.size, self.padding, self._reference)
        chip = extract_chip(image, transform, self.size)
        eye_vec = left_eye - right_eye  # image left -> image right for an upright frontal face
        mouth_left = mouth + MOUTH_HALF_WIDTH * eye_vec
        mouth_right = mouth - MOUTH_HALF_WIDTH * eye_vec
        landmarks = np.stack([left_eye, right_eye, nose, mouth_left, mouth_right]).astype(np.float32)
        return AlignedFace(chip=chip, landmarks=landmarks, transform=transform)
