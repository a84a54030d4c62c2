"""Faces found, boxed and (optionally) aligned: the crops of ferzoo's datasets and serving.

Boxes are normalized `(ymin, xmin, ymax, xmax)` in [0, 1], the TFDS `BBoxFeature` order, so a box
stays valid whatever size the image is resized to later; landmarks are normalized `(y, x)`.
Two detectors (`DETECTORS`): `"yunet"` (the default; boxes and five landmarks) and `"haar"` (the
Viola-Jones cascade; boxes only). `find_faces` gives every face, widened by `CROP_MARGIN`;
`largest_face` the one a dataset stores, or the centre-crop fallback when none is found.

Example:

    import numpy as np
    from ferzoo import face

    image = np.zeros((120, 160), np.uint8)
    face.find_faces(image)                  # [] (nothing to find)
    face.largest_face(image).box            # the centre-crop fallback: [0.1, 0.2, 0.9, 0.8]
    face.face_box(image, detector="haar")   # the same box, with the cascade

What each kind of image gives, with every detector:

- no face: `find_faces` gives []; `largest_face` the central square of side 0.8 * min(H, W)
  with no landmarks (`NO_LANDMARKS`); `ferzoo predict` records "no face found".
- several faces: all of them, largest first; a dataset stores the largest.
- a tiny face (shorter side under `MIN_FACE_PIXELS` = 16 px): not reported (too small to
  classify); a small image is upscaled to 160 px before detection, so a 48 px face crop is found.
- a grayscale, RGBA or 16-bit image: converted to 8-bit RGB first (`as_rgb_uint8`: 16 bits
  scaled by 255 / 65535), so the boxes match the 8-bit colour image's.
- a huge image: detected on a copy whose longer side is 1280 px; the boxes are normalized, so
  they apply to the full image, which is cropped at full resolution.

Reference:
    The detectors and the choice of YuNet are in `ferzoo.face.detectors`, the alignment in
    `ferzoo.face.align`. The WAMF paper center-crops the face; the centre-crop fallback stands
    in for it when the detector finds nothing. Detected boxes are widened by 10 % of their size
    on each side: the cascade's boxes are tight around eyes and mouth and cut the chin, and
    YuNet's stop at the brows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from ferzoo.face.align import TEMPLATE, has_landmarks
from ferzoo.face.detectors import (
    DEFAULT_DETECTOR,
    DETECTORS,
    MIN_FACE_PIXELS,
    NO_LANDMARKS,
    Detection,
    Detector,
    as_rgb_uint8,
    check_detector,
    get_detector,
    has_cascade,
)

# Every detected box is widened by this fraction of its size on each side (`widen`): the datasets'
# stored `face_box` and every serving path crop the same way.
CROP_MARGIN = 0.1

# The fallback box is the central square of side FALLBACK_FRACTION * min(H, W).
FALLBACK_FRACTION = 0.8

_in_use = [DEFAULT_DETECTOR]


@dataclass(frozen=True)
class Face:
    """A face as ferzoo crops it: `box` float32 `[ymin, xmin, ymax, xmax]` (widened), `landmarks`
    float32 `(5, 2)` normalized `(y, x)` (`NO_LANDMARKS` where there are none), `score`
    (0 for the fallback)."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def has_landmarks(self) -> bool:
        return has_landmarks(self.landmarks)


def detector_in_use() -> str:
    """The detector `largest_face` and `face_box` use when none is named (`using` sets it)."""
    return _in_use[0]


@contextlib.contextmanager
def using(name: str) -> Iterator[str]:
    """Within the block, `largest_face` / `face_box` without a `detector` use `name` (what
    dataset preparation runs under: `ferzoo data build --detector NAME`)."""
    previous = _in_use[0]
    _in_use[0] = check_detector(name)
    try:
        yield name
    finally:
        _in_use[0] = previous


def describe(name: str | None = None) -> dict[str, str]:
    """`{"detector", "detector_version"}` of `name` (default: `detector_in_use()`), without
    loading its model: what datasets, config.json and predictions record."""
    return DETECTORS[check_detector(name or detector_in_use())].describe()


def _detector(detector: str | Detector | None) -> Detector:
    if isinstance(detector, Detector):
        return detector
    return get_detector(detector_in_use() if detector is None else detector)


def detect_faces(image: np.ndarray, detector: str | Detector | None = None) -> list[tuple]:
    """The detector's raw boxes `(ymin, xmin, ymax, xmax)`, largest first; [] when none."""
    return [d.box for d in _detector(detector).detect(image)]


def has_detector(name: str = "haar") -> bool:
    """Whether `name` can detect here (the cascade is gone from OpenCV >= 5)."""
    return has_cascade() if check_detector(name) == "haar" else True


def center_box(height: int, width: int, fraction: float = FALLBACK_FRACTION) -> np.ndarray:
    """The fallback box: the central square of side `fraction * min(height, width)`.

    Returns:
        float32 `[ymin, xmin, ymax, xmax]` in [0, 1].
    """
    side = fraction * min(height, width)
    dy = side / height / 2.0
    dx = side / width / 2.0
    return np.array([0.5 - dy, 0.5 - dx, 0.5 + dy, 0.5 + dx], np.float32)


def widen(box: Sequence[float] | np.ndarray, margin: float = CROP_MARGIN) -> np.ndarray:
    """Widen a detected box by `margin` of its height and width on each side, clipped to [0, 1].

    This is the crop the datasets store (`face_box`) and the one `ferzoo predict`, `ferzoo
    explain` and `ferzoo.Predictor` apply to every detected face, so that a face reaches a model
    at serving time as it did in training.

    Example:
        >>> widen((0.2, 0.2, 0.6, 0.6), 0.1).round(2).tolist()
        [0.16, 0.16, 0.64, 0.64]
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0. Received: margin={margin}")
    ymin, xmin, ymax, xmax = (float(v) for v in box)
    dy = (ymax - ymin) * margin
    dx = (xmax - xmin) * margin
    widened = np.array([ymin - dy, xmin - dx, ymax + dy, xmax + dx], np.float32)
    return np.clip(widened, 0.0, 1.0)


def _face(found: Detection, margin: float) -> Face:
    marks = NO_LANDMARKS if found.landmarks is None else found.landmarks.astype(np.float32)
    return Face(widen(found.box, margin), marks, found.score)


def find_faces(
    image: np.ndarray, detector: str | Detector | None = None, margin: float = CROP_MARGIN
) -> list[Face]:
    """Every face of an image, its box widened by `margin` (`widen`), largest first; [] if none.

    Args:
        image: grayscale or RGB(A), uint8 or uint16 (`as_rgb_uint8`).
        detector: a name of `DETECTORS`, a `Detector`, or None (`detector_in_use()`).
        margin: the fraction of the box's size added on each side; 0 keeps the box.
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0. Received: margin={margin}")
    return [_face(found, margin) for found in _detector(detector).detect(image)]


def fallback(height: int, width: int) -> Face:
    """The face a dataset stores when none is found: `center_box`, no landmarks, score 0."""
    return Face(center_box(height, width), NO_LANDMARKS, 0.0)


def largest_face(
    image: np.ndarray, detector: str | Detector | None = None, margin: float = CROP_MARGIN
) -> Face:
    """The face a dataset stores: the largest found (`find_faces`), or the `fallback`."""
    found = find_faces(image, detector, margin)
    if found:
        return found[0]
    height, width = np.shape(image)[:2]
    return fallback(height, width)


def face_boxes(image: np.ndarray, margin: float = CROP_MARGIN, detector=None) -> list[np.ndarray]:
    """The widened boxes of `find_faces`."""
    return [f.box for f in find_faces(image, detector, margin)]


def face_box(image: np.ndarray, margin: float = CROP_MARGIN, detector=None) -> np.ndarray:
    """`largest_face(image).box`: float32 `[ymin, xmin, ymax, xmax]`; the central square of
    side `0.8 * min(H, W)` when no face is found.

    Example:
        >>> face_box(np.zeros((100, 200), np.uint8)).round(2).tolist()
        [0.1, 0.3, 0.9, 0.7]
    """
    return largest_face(image, detector, margin).box


__all__ = ["CROP_MARGIN", "DEFAULT_DETECTOR", "DETECTORS", "FALLBACK_FRACTION",
           "MIN_FACE_PIXELS", "NO_LANDMARKS", "TEMPLATE", "Detection", "Detector", "Face",
           "as_rgb_uint8", "center_box", "check_detector", "describe", "detect_faces",
           "detector_in_use",
           "face_box", "face_boxes", "fallback", "find_faces", "get_detector", "has_detector",
           "has_landmarks", "largest_face", "using", "widen"]  # fmt: skip
