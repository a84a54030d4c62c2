"""Face alignment: the similarity transform that puts five landmarks on a canonical face.

`warp_matrix(landmarks, height, width, size)` is the 2x3 matrix that maps an image's pixels to
a `size` x `size` crop in which the face's eyes, nose tip and mouth corners lie as close as a
rotation, a uniform scale and a shift can put them (least squares) to `TEMPLATE`.
`ferzoo.data.imaging.crop_resize_uint8` applies it (the one crop of training and serving).

Example:

    import numpy as np
    from ferzoo.face import align

    marks = align.TEMPLATE * 0.5 + 0.25           # a face half the image's size, centred
    align.warp_matrix(marks, 100, 100, 50).round(3)   # a plain 0.25 scale... and no rotation

Reference:
    Five-point similarity alignment as insightface's `norm_crop` (ArcFace, Deng et al., CVPR
    2019) and LibreFace do: Umeyama's closed-form least-squares similarity ("Least-squares
    estimation of transformation parameters between two point patterns", TPAMI 1991), no
    reflection. The template is ArcFace's 112 x 112 one, shrunk by 0.85 about the centre and
    raised by 0.05 of the side: ArcFace crops tight for recognition, and expression needs the
    brows and the chin; so scaled, the eyes sit at 0.42 of the height and the mouth at 0.72,
    close to where they sit in ferzoo's widened detector box (measured on skimage's astronaut
    and on the drawn faces: eyes at 0.37-0.43, mouth near 0.69), so aligned and unaligned crops
    frame the face alike.
"""

from __future__ import annotations

import numpy as np

# ArcFace's template, (x, y) in a 112 x 112 crop: eyes, nose tip, mouth corners, the subject's
# right first (the image's left), as YuNet orders its landmarks.
_ARCFACE_XY = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
     [41.5493, 92.3655], [70.7299, 92.2041]], np.float64,
) / 112.0  # fmt: skip
_SHRINK = 0.85
_RAISE = 0.05

#: The canonical landmarks, normalized `(y, x)` in the aligned crop.
TEMPLATE = np.stack(
    [0.5 + (_ARCFACE_XY[:, 1] - 0.5) * _SHRINK - _RAISE, 0.5 + (_ARCFACE_XY[:, 0] - 0.5) * _SHRINK],
    axis=1,
).astype(np.float32)


def has_landmarks(landmarks) -> bool:
    """True for five finite `(y, x)` points that are not the "none" marker (all -1)."""
    if landmarks is None:
        return False
    marks = np.asarray(landmarks, np.float32)
    return marks.shape == (5, 2) and bool(np.all(np.isfinite(marks))) and not np.all(marks == -1)


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity matrix (rotation, uniform scale, shift) taking `source` points nearest
    to `target` points in least squares (Umeyama, no reflection); points are `(N, 2)` x, y."""
    src = np.asarray(source, np.float64)
    dst = np.asarray(target, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s**2).sum() / len(src)
    if var <= 0:
        raise ValueError(f"landmarks must not all coincide. Received: landmarks={source.tolist()}")
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(sig) @ sign) / var
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


def warp_matrix(landmarks, height: int, width: int, size: int) -> np.ndarray:
    """The 2x3 matrix from an image's pixel coordinates to the aligned `size` x `size` crop's.

    Args:
        landmarks: normalized `(y, x)` `(5, 2)` of the face (`Detection.landmarks`).
        height, width: the image's size in pixels.
        size: the crop's side in pixels.

    Pixel centres are at integer coordinates (OpenCV's `warpAffine` convention): a normalized
    point `p` of an image `n` pixels long is at `p * n - 0.5`.
    """
    marks = np.asarray(landmarks, np.float64)
    source = marks[:, ::-1] * (width, height) - 0.5
    target = TEMPLATE[:, ::-1].astype(np.float64) * size - 0.5
    return similarity(source, target)


__all__ = ["TEMPLATE", "has_landmarks", "similarity", "warp_matrix"]
