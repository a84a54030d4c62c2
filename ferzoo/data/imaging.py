"""The one preprocessing of ferzoo, in NumPy and OpenCV: crop (or align) the face, resize, RGB, [0, 1].

It runs, unchanged, in every place that feeds a model: the tf.data pipelines (through
`tf.numpy_function`, before their cache), the TensorFlow-free NumPy pipelines, `ferzoo predict`
and `ferzoo explain` (Keras or ONNX Runtime). A face therefore reaches the model as the same
pixels at training and at serving time, on every backend and with or without TensorFlow.

Example:

    import numpy as np
    from ferzoo.data.imaging import preprocess

    image = np.zeros((120, 160, 3), np.uint8)
    preprocess(image, 64, box=[0.1, 0.2, 0.9, 0.8]).shape    # (64, 64, 3), float32 in [0, 1]
    # aligned by five landmarks (a `ferzoo.face.Face`'s, or a dataset's `face_landmarks`)
    from ferzoo import face
    preprocess(image, 64, landmarks=face.TEMPLATE * 0.5 + 0.25).shape   # (64, 64, 3)

Reference:
    The crop takes the pixels the normalized box covers (floor of the top-left corner, ceiling
    of the bottom-right, at least one pixel). Resizing uses OpenCV's area interpolation when the
    crop shrinks on both axes (an antialiased average, as PIL and `tf.image.resize(antialias=
    True)` do) and bilinear interpolation otherwise; a non-square crop is stretched, as the
    papers' `Resize((224, 224))` does. The aligned crop (landmarks given) is one bilinear warp
    by the similarity of `ferzoo.face.align.warp_matrix`, of the region it samples, first
    shrunk with area interpolation when the face is scaled down (so both crops are antialiased
    alike); pixels beyond the image's edge repeat the edge (OpenCV's BORDER_REPLICATE), so a
    face near the border gets no black corners. Without landmarks (the cascade, the
    centre-crop fallback) the box crop is used whether or not alignment was asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ferzoo.face import align
from ferzoo.face.detectors import as_rgb_uint8

MIN_IMAGE_SIZE = 8


def check_image_size(image_size: int) -> int:
    """`image_size` as an int, or a ValueError naming it."""
    if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer):
        raise ValueError(f"image_size must be an int >= 8. Received: image_size={image_size!r}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be an int >= 8. Received: image_size={image_size!r}")
    return int(image_size)


def check_box(box: Sequence[float] | np.ndarray | None) -> np.ndarray | None:
    """A normalized `[ymin, xmin, ymax, xmax]` box as float32, or a ValueError naming it."""
    if box is None:
        return None
    arr = np.asarray(box, np.float32)
    if arr.shape != (4,) or not np.all(np.isfinite(arr)) or arr.min() < 0 or arr.max() > 1:
        shown = arr.tolist() if arr.size <= 8 else f"array of shape {arr.shape}"
        raise ValueError(f"box must be [ymin, xmin, ymax, xmax] in [0, 1]. Received: box={shown}")
    return arr


def to_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """`(H, W)`, `(H, W, 1)`, `(H, W, 3)` or `(H, W, 4)` as RGB uint8 `(H, W, 3)` (16 bits
    scaled by 255 / 65535): `ferzoo.face.as_rgb_uint8`, what the detectors see too."""
    return as_rgb_uint8(image)


def box_pixels(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int]:
    """The pixel rows and columns `(y0, x0, y1, x1)` a normalized box covers (end-exclusive)."""
    y0 = min(max(int(np.floor(box[0] * height)), 0), height - 1)
    x0 = min(max(int(np.floor(box[1] * width)), 0), width - 1)
    y1 = min(max(int(np.ceil(box[2] * height)), y0 + 1), height)
    x1 = min(max(int(np.ceil(box[3] * width)), x0 + 1), width)
    return y0, x0, y1, x1


def resize_uint8(image: np.ndarray, height: int, width: int | None = None) -> np.ndarray:
    """Resize a uint8 image to `(height, width)`: area when shrinking both axes, else bilinear."""
    width = height if width is None else width
    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image
    shrink = h >= height and w >= width
    method = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    out = cv2.resize(image, (width, height), interpolation=method)
    return out[..., None] if out.ndim == 2 else out


def _aligned(image: np.ndarray, size: int, landmarks: np.ndarray) -> np.ndarray:
    """The `size` x `size` aligned crop of an RGB uint8 image (see the Reference above)."""
    height, width = image.shape[:2]
    matrix = align.warp_matrix(landmarks, height, width, size)
    corners = np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5] * 2])
    inverse = cv2.invertAffineTransform(matrix)
    seen = corners @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = (max(int(np.floor(v)) - 1, 0) for v in seen.min(0))
    x1 = min(int(np.ceil(seen[:, 0].max())) + 2, width)
    y1 = min(int(np.ceil(seen[:, 1].max())) + 2, height)
    if x0 >= x1 or y0 >= y1:  # the crop lies wholly outside the image: warp it all
        x0, y0, x1, y1 = 0, 0, width, height
    region = image[y0:y1, x0:x1]
    matrix[:, 2] += matrix[:, :2] @ (x0, y0)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))  # crop pixels per image pixel
    if scale < 1.0:
        rh, rw = region.shape[:2]
        small = (max(1, round(rw * scale)), max(1, round(rh * scale)))
        region = cv2.resize(region, small, interpolation=cv2.INTER_AREA)
        sx, sy = small[0] / rw, small[1] / rh
        # a region pixel p is at (p + 0.5) * s - 0.5 in the shrunk one
        matrix[:, 2] += matrix[:, :2] @ (0.5 / sx - 0.5, 0.5 / sy - 0.5)
        matrix[:, :2] = matrix[:, :2] / (sx, sy)
    out = cv2.warpAffine(region, matrix, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)  # fmt: skip
    return out[..., None] if out.ndim == 2 else out


def crop_resize_uint8(
    image: np.ndarray,
    image_size: int,
    box: Sequence[float] | np.ndarray | None = None,
    landmarks: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """Crop to `box` (normalized; None: the whole image), or align by `landmarks`, resize, RGB:
    uint8 `(S, S, 3)`.

    This is the one crop of training and serving: the readers apply it to the datasets' stored
    `face_box` and `face_landmarks`, `ferzoo.Predictor` to each `ferzoo.face.Face`. With
    `landmarks` (five normalized `(y, x)` points, `ferzoo.face.align.has_landmarks`), the face
    is aligned to `ferzoo.face.TEMPLATE` and `box` is not used; pass None for an unaligned crop.
    `preprocess` scales the result to [0, 1].
    """
    image = to_rgb_uint8(image)
    box = check_box(box)
    if align.has_landmarks(landmarks):
        return _aligned(image, int(image_size), np.asarray(landmarks, np.float32))
    if box is not None:
        y0, x0, y1, x1 = box_pixels(box, image.shape[0], image.shape[1])
        image = image[y0:y1, x0:x1]
    return resize_uint8(image, int(image_size))


def to_float(image_uint8: np.ndarray) -> np.ndarray:
    """uint8 pixels as float32 in [0, 1]."""
    return np.asarray(image_uint8, np.float32) / np.float32(255.0)


def preprocess(
    image: np.ndarray,
    image_size: int,
    box: Sequence[float] | np.ndarray | None = None,
    landmarks: Sequence | np.ndarray | None = None,
) -> np.ndarray:
    """The one preprocessing of ferzoo: crop (or align), resize, grayscale to RGB, to [0, 1].

    Args:
        image: uint8 `(H, W)`, `(H, W, 1)`, `(H, W, 3)` (RGB) or `(H, W, 4)` (the alpha channel
            is dropped); other dtypes are rounded and clipped to [0, 255].
        image_size: the output side, at least 8.
        box: optional normalized `[ymin, xmin, ymax, xmax]` to crop to first (e.g. the
            datasets' stored `face_box`, or `ferzoo.face.face_box(image)`).
        landmarks: optional five normalized `(y, x)` landmarks: align the face by them instead
            of cropping to `box` (`crop_resize_uint8`).

    Returns:
        float32 `(image_size, image_size, 3)` in [0, 1].

    Example:
        >>> preprocess(np.zeros((48, 40), np.uint8), 32, box=[0.1, 0.1, 0.9, 0.9]).shape
        (32, 32, 3)
    """
    image_size = check_image_size(image_size)
    return to_float(crop_resize_uint8(image, image_size, box, landmarks))


__all__ = [
    "MIN_IMAGE_SIZE",
    "box_pixels",
    "check_box",
    "check_image_size",
    "crop_resize_uint8",
    "preprocess",
    "resize_uint8",
    "to_float",
    "to_rgb_uint8",
]
