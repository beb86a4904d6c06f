"""Per-face geometry and image quality: head pose, sharpness, brightness, and a LOW/MEDIUM/HIGH band.

These numbers decide whether a face is worth indexing or searching: a blurred, dark, tiny or strongly
turned face yields an embedding that matches the wrong people more often. Bands are coarse on purpose;
the thresholds are documented in docs/models.md with the measurements behind them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Band(IntEnum):
    """Same numbers as lineup.v1.QualityBand."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3


@dataclass(frozen=True)
class Pose:
    yaw: float  # degrees; positive: the face turns towards the image's right
    pitch: float  # degrees; positive: the face tilts up
    roll: float  # degrees; positive: the eye line rotates clockwise in the image


@dataclass(frozen=True)
class Quality:
    sharpness: float  # 0..100
    brightness: float  # 0..100
    face_size_px: int  # shorter side of the face box in source pixels
    band: Band
    reasons: tuple[str, ...]  # why the band is not HIGH (e.g. "small", "blurred"); empty for HIGH


# --- thresholds (docs/models.md, "Quality") --------------------------------------------------------------
#: a face box side below this is LOW: the chip is upsampled from too few pixels
MIN_FACE_PX = 40
#: ... and HIGH needs at least this (the chip's face region is then ~native resolution)
HIGH_FACE_PX = 80
#: sharpness (0..100) below LOW_SHARPNESS is LOW, HIGH needs HIGH_SHARPNESS. Measured on lfw-dev chips:
#: median 55, 5th percentile 29; a Gaussian blur of sigma 2 px on the chip brings the median to 10 and
#: moves embeddings by ~0.01 cosine (the genuine/impostor margin is ~0.03), sigma 1 to 30 (0.001)
LOW_SHARPNESS = 10.0
HIGH_SHARPNESS = 25.0
#: brightness window (0..100): outside LOW_* it is LOW, HIGH needs the HIGH_* window
LOW_BRIGHTNESS = (12.0, 92.0)  # lfw-dev chips: 1st-99th percentile 29-70
HIGH_BRIGHTNESS = (25.0, 85.0)
#: pose: beyond LOW_* degrees it is LOW (the embedding model saw few such faces), HIGH needs HIGH_*
LOW_YAW, LOW_PITCH = 50.0, 35.0
HIGH_YAW, HIGH_PITCH = 25.0, 20.0
#: detector confidence (0..1) below this is LOW
LOW_CONFIDENCE = 0.7

#: sharpness scale: 100 * (1 - exp(-var / SHARPNESS_SCALE)), var = variance of the Laplacian of the chip
SHARPNESS_SCALE = 50.0
#: frontal ratio (nose tip - eye line) / (mouth - eye line) and nose protrusion / eye-mouth distance,
#: from BLAZEFACE_REFERENCE (align.py) and typical head proportions
_FRONTAL_NOSE_RATIO = 0.584
_NOSE_DEPTH_RATIO = 0.6
#: nose tip distance in front of the ear axis, relative to half the ear-to-ear width
_NOSE_EAR_RATIO = 1.3


def estimate_pose(keypoints: np.ndarray) -> Pose:
    """Approximate head pose from BlazeFace's 6 keypoints (right eye, left eye, nose tip, mouth centre,
    right ear, left ear; subject's sides), with a rigid-head model. Accurate to roughly 10 degrees:
    enough for "frontal / turned / profile" decisions, not for measurement."""
    kp = np.asarray(keypoints, np.float64)
    r_eye, l_eye, nose, mouth, r_ear, l_ear = kp[:6]
    eye_vec = l_eye - r_eye  # image left -> right for an upright frontal face
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    # rotate into the roll-free frame
    c, s = math.cos(math.radians(-roll)), math.sin(math.radians(-roll))
    rot = np.array([[c, -s], [s, c]])
    eye_mid = (r_eye + l_eye) / 2
    p = {k: rot @ (v - eye_mid) for k, v in {"nose": nose, "mouth": mouth, "r_ear": r_ear,
                                              "l_ear": l_ear}.items()}
    ear_mid_x = (p["r_ear"][0] + p["l_ear"][0]) / 2
    half_span = max(abs(p["l_ear"][0] - p["r_ear"][0]) / 2, 1e-6)
    yaw = math.degrees(math.atan2(p["nose"][0] - ear_mid_x, _NOSE_EAR_RATIO * half_span))
    eye_mouth = p["mouth"][1]
    if eye_mouth <= 1e-6:
        pitch = 0.0
    else:
        ratio = p["nose"][1] / eye_mouth
        pitch = math.degrees(math.atan((_FRONTAL_NOSE_RATIO - ratio) / _NOSE_DEPTH_RATIO))
    return Pose(yaw=yaw, pitch=pitch, roll=roll)


def _gray(chip: np.ndarray) -> np.ndarray:
    c = np.asarray(chip, np.float32)
    return np.asarray(0.299 * c[..., 0] + 0.587 * c[..., 1] + 0.114 * c[..., 2])


def _centre(img: np.ndarray) -> np.ndarray:
    """The inner face region of a chip (eyes to chin), excluding background and hair."""
    h, w = img.shape[:2]
    return img[int(0.2 * h):int(0.85 * h), int(0.2 * w):int(0.8 * w)]


def sharpness(chip: np.ndarray) -> float:
    """0..100 from the variance of the 4-neighbour Laplacian over the chip's face region."""
    g = _centre(_gray(chip))
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(100.0 * (1.0 - math.exp(-float(lap.var()) / SHARPNESS_SCALE)))


def brightness(chip: np.ndarray) -> float:
    """0..100: mean luminance of the chip's face region."""
    return float(_centre(_gray(chip)).mean() / 255.0 * 100.0)


def assess(chip: np.ndarray, box: tuple[float, float, float, float], confidence: float,
           pose: Pose) -> Quality:
    """Measure a face and put it in a band: LOW if any measurement is poor, HIGH if all are good."""
    sharp, bright = sharpness(chip), brightness(chip)
    size = round(min(box[2] - box[0], box[3] - box[1]))
    low: list[str] = []
    not_high: list[str] = []
    if size < MIN_FACE_PX:
        low.append("small")
    elif size < HIGH_FACE_PX:
        not_high.append("small")
    if sharp < LOW_SHARPNESS:
        low.append("blurred")
    elif sharp < HIGH_SHARPNESS:
        not_high.append("blurred")
    if not LOW_BRIGHTNESS[0] <= bright <= LOW_BRIGHTNESS[1]:
        low.append("dark" if bright < LOW_BRIGHTNESS[0] else "overexposed")
    elif not HIGH_BRIGHTNESS[0] <= bright <= HIGH_BRIGHTNESS[1]:
        not_high.append("dark" if bright < HIGH_BRIGHTNESS[0] else "overexposed")
    if abs(pose.yaw) > LOW_YAW or abs(pose.pitch) > LOW_PITCH:
        low.append("extreme_pose")
    elif abs(pose.yaw) > HIGH_YAW or abs(pose.pitch) > HIGH_PITCH:
        not_high.append("pose")
    if confidence < LOW_CONFIDENCE:
        low.append("low_confidence")
    band = Band.LOW if low else (Band.MEDIUM if not_high else Band.HIGH)
    return Quality(sharpness=sharp, brightness=bright, face_size_px=size, band=band,
                   reasons=tuple(low + not_high))


def shortfalls(quality: Quality, pose: Pose, confidence: float, bar: Band) -> tuple[str, ...]:
    """The measurements that keep a face below `bar`, by the same thresholds as `assess`.

    `Quality.reasons` mixes what made a face LOW with what only kept it from HIGH; a quality filter
    needs exactly the measurements that fail *its* bar (docs/pipeline.md, "Quality filter"). Names:
    small, blurred, dark, overexposed, pose (beyond the HIGH limits), extreme_pose, low_confidence.
    Empty exactly when `quality.band >= bar`.
    """
    if bar <= Band.LOW:
        return ()
    high = bar >= Band.HIGH
    out: list[str] = []
    if quality.face_size_px < (HIGH_FACE_PX if high else MIN_FACE_PX):
        out.append("small")
    if quality.sharpness < (HIGH_SHARPNESS if high else LOW_SHARPNESS):
        out.append("blurred")
    lo, hi = HIGH_BRIGHTNESS if high else LOW_BRIGHTNESS
    if quality.brightness < lo:
        out.append("dark")
    elif quality.brightness > hi:
        out.append("overexposed")
    if abs(pose.yaw) > LOW_YAW or abs(pose.pitch) > LOW_PITCH:
        out.append("extreme_pose")
    elif high and (abs(pose.yaw) > HIGH_YAW or abs(pose.pitch) > HIGH_PITCH):
        out.append("pose")
    if confidence < LOW_CONFIDENCE:
        out.append("low_confidence")
    return tuple(out)
