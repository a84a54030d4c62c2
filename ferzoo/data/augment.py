"""Training-time augmentation in NumPy and OpenCV, the same on every pipeline and backend.

`augment_image(image, seed, strength)` draws, from its own seed, a horizontal flip, a rotation
(up to 15 degrees), a zoom and a shift (up to 10 %), and brightness (+-0.2) and contrast (+-30 %)
changes, all scaled by `strength` in (0, 1]. The same `(image, seed, strength)` gives the same
output everywhere: the tf.data pipeline calls it through `tf.numpy_function`, the NumPy pipeline
directly.

Example:

    import numpy as np
    from ferzoo.data.augment import augment_image

    image = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    out = augment_image(image, seed=7, strength=0.5)    # float32 (32, 32, 3) in [0, 1]
"""

from __future__ import annotations

import cv2
import numpy as np


def check_strength(strength: float) -> float:
    """`strength` as a float in [0, 1], or a ValueError naming it."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"augment must be in [0, 1]. Received: augment={strength!r}")
    return value


def augment_image(image: np.ndarray, seed: int, strength: float) -> np.ndarray:
    """One random augmentation of a float32 `(H, W, 3)` image in [0, 1].

    Args:
        image: float32 pixels in [0, 1].
        seed: the example's seed (any int); the same seed gives the same augmentation.
        strength: in [0, 1]; 0 returns the image unchanged.

    Returns:
        float32 `(H, W, 3)` in [0, 1].
    """
    strength = check_strength(strength)
    image = np.asarray(image, np.float32)
    if strength == 0.0:
        return image
    u = np.random.default_rng(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)).uniform(-1, 1, 7)
    if u[0] < 0:
        image = image[:, ::-1]
    h, w = image.shape[:2]
    angle = float(u[1]) * strength * 15.0
    zoom = 1.0 + float(u[2]) * 0.1 * strength
    shift = (float(u[3]) * 0.1 * strength * w, float(u[4]) * 0.1 * strength * h)
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, zoom)
    matrix[:, 2] += shift
    image = cv2.warpAffine(
        np.ascontiguousarray(image),
        matrix,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    image = image + np.float32(u[5] * 0.2 * strength)
    mean = image.mean()
    image = (image - mean) * np.float32(1.0 + u[6] * 0.3 * strength) + mean
    return np.clip(image, 0.0, 1.0).astype(np.float32)


__all__ = ["augment_image", "check_strength"]
