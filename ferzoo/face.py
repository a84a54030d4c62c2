"""Face detection with the Haar cascade that ships inside the OpenCV package (no download).

Boxes are normalized `(ymin, xmin, ymax, xmax)` in [0, 1], the TFDS `BBoxFeature` order, so a box
stays valid whatever size the image is resized to later.

Example:

    import numpy as np
    from ferzoo import face

    image = np.zeros((120, 160), np.uint8)
    face.detect_faces(image)   # [] (nothing to find)
    face.face_box(image)       # the center-crop fallback: [0.1, 0.2, 0.9, 0.8]

Reference:
    Viola and Jones, "Rapid object detection using a boosted cascade of simple features", CVPR
    2001; the cascade file is OpenCV's `haarcascade_frontalface_default.xml`. The WAMF paper
    center-crops the face; the center-crop fallback below stands in for it when the
    detector finds nothing.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence

import cv2
import numpy as np

CASCADE_FILE = "haarcascade_frontalface_default.xml"

# Every detected box is widened by this fraction of its size on each side (`widen`): the datasets'
# stored `face_box` and every serving path crop the same way.
CROP_MARGIN = 0.1

# The fallback box is the central square of side FALLBACK_FRACTION * min(H, W).
FALLBACK_FRACTION = 0.8

# The cascade's own window is 24x24; faces in smaller images are upscaled to this side first.
_MIN_DETECT_SIDE = 160


@functools.cache
def _cascade():
    """Load the cascade once per process; None (with one warning) where OpenCV lacks it.

    OpenCV 5 moved `CascadeClassifier` and the cascade files out of the main wheel, so with
    opencv-python-headless >= 5 every box is the center-crop fallback.
    """
    path = os.path.join(getattr(getattr(cv2, "data", None), "haarcascades", ""), CASCADE_FILE)
    if not hasattr(cv2, "CascadeClassifier") or not os.path.exists(path):
        warnings.warn(
            f"OpenCV {cv2.__version__} ships no Haar cascade ({CASCADE_FILE}): face detection "
            "is off and every face box is the center-crop fallback. Install "
            "opencv-python-headless<5 to detect faces.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"Could not load the OpenCV Haar cascade from {path}.")
    return cascade


def has_detector() -> bool:
    """Whether this OpenCV ships the Haar cascade (opencv-python-headless < 5 does)."""
    return _cascade() is not None


def _to_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2GRAY)
    if image.ndim != 2:
        raise ValueError(
            "image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4). "
            f"Received: image.shape={np.shape(image)}"
        )
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def detect_faces(
    image: np.ndarray,
    *,
    scale_factor: float = 1.1,
    min_neighbors: int = 5,
    min_size: float = 0.1,
) -> list[tuple[float, float, float, float]]:
    """Detect frontal faces with OpenCV's Haar cascade.

    Args:
        image: uint8 image, grayscale `(H, W)` / `(H, W, 1)` or RGB(A) `(H, W, 3|4)`.
        scale_factor: the cascade's image-pyramid step.
        min_neighbors: how many overlapping detections a face needs (higher: fewer false hits).
        min_size: the smallest face side to report, as a fraction of `min(H, W)`.

    Returns:
        A list of normalized boxes `(ymin, xmin, ymax, xmax)` in [0, 1], largest first; empty
        when no face is found, or when this OpenCV has no Haar cascade (`has_detector()`).

    Example:
        >>> detect_faces(np.zeros((64, 64), np.uint8))
        []
    """
    gray = _to_gray(image)
    cascade = _cascade()
    if cascade is None:
        return []
    height, width = gray.shape
    scale = max(1.0, _MIN_DETECT_SIDE / min(height, width))
    if scale > 1.0:
        gray = cv2.resize(
            gray, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR
        )
    side = max(24, int(min_size * min(gray.shape)))
    found = cascade.detectMultiScale(
        gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(side, side)
    )
    gh, gw = gray.shape
    boxes = [
        (
            float(y) / gh,
            float(x) / gw,
            float(min(y + h, gh)) / gh,
            float(min(x + w, gw)) / gw,
        )
        for (x, y, w, h) in np.reshape(found, (-1, 4)).tolist()
    ]
    boxes.sort(key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)
    return boxes


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

    Args:
        box: normalized `(ymin, xmin, ymax, xmax)`, e.g. one of `detect_faces`'s boxes.
        margin: the fraction of the box's size added on each side; 0 keeps the box.

    Returns:
        float32 `[ymin, xmin, ymax, xmax]` in [0, 1].

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


def face_boxes(image: np.ndarray, margin: float = CROP_MARGIN) -> list[np.ndarray]:
    """Every detected face, widened by `margin` (`widen`), largest first; empty when none.

    Example:
        >>> face_boxes(np.zeros((64, 64), np.uint8))
        []
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0. Received: margin={margin}")
    return [widen(box, margin) for box in detect_faces(image)]


def face_box(image: np.ndarray, margin: float = CROP_MARGIN) -> np.ndarray:
    """The box to crop the face with: the largest detected face, or the center-crop fallback.

    Args:
        image: uint8 image, grayscale or RGB (see `detect_faces`).
        margin: how far to widen the detected box on each side, as a fraction of its size
            (Haar boxes are tight around eyes and mouth and cut the chin); see `widen`.

    Returns:
        float32 `[ymin, xmin, ymax, xmax]` in [0, 1]. When no face is found: the central square
        of side `0.8 * min(H, W)` (`center_box`).

    Example:
        >>> face_box(np.zeros((100, 200), np.uint8)).tolist()
        [0.10000000149011612, 0.30000001192092896, 0.8999999761581421, 0.699999988079071]
    """
    if margin < 0:
        raise ValueError(f"margin must be >= 0. Received: margin={margin}")
    gray = _to_gray(image)
    boxes = detect_faces(gray)
    if not boxes:
        return center_box(*gray.shape)
    return widen(boxes[0], margin)
