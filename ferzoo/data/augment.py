"""Training-time augmentation for FER: the recipe, its constants, and its NumPy/OpenCV reference.

Training augments on the device: `ferzoo.layers.FaceAugment`, a keras.ops layer inside the
compiled training step (`ferzoo.training.device_input`), draws per example the 8 uniforms
that `draw_from` reads and applies the same recipe to a batch. This module is the recipe's
single source of constants (the layer imports them) and its NumPy/OpenCV reference
implementation, which the tests compare the layer with; no pipeline calls it any more.

`augment_image(image, seed, strength)` draws, from its own seed, the usual FER training
augmentation of a face crop, every magnitude scaled by `strength` in (0, 1]:

- a random resized crop: a sub-window of `[1 - 0.25 * strength, 1]` of the face crop's area and
  aspect ratio (width / height) in `[1 - 0.1 * strength, 1 + 0.1 * strength]`, placed anywhere
  inside it, resized back to the input size (at strength 1: the common [0.75, 1] x [0.9, 1.1]);
- a horizontal flip, with probability 1/2 at any strength > 0 (faces are near-symmetric and an
  expression's label does not change in a mirror);
- a rotation about the centre of up to `15 * strength` degrees;
- a brightness shift of up to `0.2 * strength` and a contrast change of up to `30 * strength` %.

Crop, flip and rotation are one affine warp (one interpolation). `draw(seed, ...)` turns a
seed into 8 uniforms and `draw_from(u, ...)` turns those into the choices (`Draw`); `apply`
applies them. `DEFAULT_STRENGTH` is what `ferzoo.data.load`, `ferzoo.train` and the command
line use for the training part; validation and test parts are never augmented.

Example:

    import numpy as np
    from ferzoo.data.augment import augment_image, draw

    image = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    out = augment_image(image, seed=7, strength=0.5)    # float32 (32, 32, 3) in [0, 1]
    draw(7, 0.5, image.shape)                           # the Draw behind it (crop, flip, ...)

Reference:
    The papers do not describe their augmentation. This is the random-resized-crop, flip,
    small-rotation and photometric recipe that FER training from few images commonly uses.
    The random resized crop works on ferzoo's cached images, which are already cropped to the
    stored face box and resized (`ferzoo.data.readers`): pixels outside the face box are not
    in the cache, so the crop can only zoom into the face box, never widen it, and the
    rotation's corners are filled by reflecting the border (`cv2.BORDER_REFLECT_101` here;
    Keras' `"reflect"` in the layer, which repeats the edge pixel: see `FaceAugment`). The crop
    keeps at least 75 % of the face's area even at full strength, so that the brows and the
    mouth corners, which carry the expression, stay in view.

    Default strength 0.5 (crop >= 87.5 % of the area, aspect within 5 %, rotation <= 7.5
    degrees, brightness +-0.1, contrast +-15 %): mild enough that the smallest datasets (JAFFE's
    ~170 training images of 8 people) still fit in a few dozen epochs, strong enough to stop
    the model memorising exact pixels of so few faces. Full strength is for larger sets and
    longer runs; the sweeps search strengths of 0 to 0.5.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ferzoo import defaults

DEFAULT_STRENGTH = defaults.AUGMENT_STRENGTH
MAX_ROTATION = 15.0  # degrees, at strength 1
MIN_SCALE = 0.75  # of the face crop's area, at strength 1
ASPECT = 0.1  # aspect ratio within 1 +- ASPECT, at strength 1
BRIGHTNESS = 0.2  # added to [0, 1] pixels, at most, at strength 1
CONTRAST = 0.3  # relative change, at most, at strength 1


def check_strength(strength: float) -> float:
    """`strength` as a float in [0, 1], or a ValueError naming it."""
    try:
        value = float(strength)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"augment must be in [0, 1]. Received: augment={strength!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Draw:
    """One augmentation's random choices.

    Attributes:
        crop: the sub-window `(top, left, height, width)` in pixels, inside the image.
        flip: mirror left-right.
        angle: rotation in degrees (counter-clockwise).
        brightness: added to every pixel.
        contrast: factor on the distance to the image's mean.
    """

    crop: tuple[float, float, float, float]
    flip: bool
    angle: float
    brightness: float
    contrast: float


def draw(seed: int, strength: float, shape: tuple[int, ...]) -> Draw:
    """The random choices of `augment_image(image, seed, strength)` for an image of `shape`.

    The same seed gives the same uniform variates at any strength, so a stronger strength
    scales the same crop, rotation and colour change up.
    """
    strength = check_strength(strength)
    u = np.random.default_rng(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)).uniform(0.0, 1.0, 8)
    return draw_from(u, strength, shape)


def draw_from(u, strength: float, shape: tuple[int, ...]) -> Draw:
    """The choices that the 8 uniform variates `u` (in [0, 1)) make at `strength`, for an image
    of `shape`: `u[0]` the crop's area, `u[1]` its aspect ratio, `u[2]`, `u[3]` its place
    (top, left), `u[4] < 0.5` the flip, `u[5]` the angle, `u[6]` the brightness, `u[7]` the
    contrast (`ferzoo.layers.face_augment.choices` is the same on the device)."""
    strength = check_strength(strength)
    u = np.asarray(u, np.float64)
    h, w = int(shape[0]), int(shape[1])
    area = 1.0 - (1.0 - MIN_SCALE) * strength * u[0]
    aspect = 1.0 + ASPECT * strength * (2.0 * u[1] - 1.0)
    ch = min(float(h), h * np.sqrt(area / aspect))
    cw = min(float(w), w * np.sqrt(area * aspect))
    top, left = (h - ch) * u[2], (w - cw) * u[3]
    return Draw(
        crop=(float(top), float(left), float(ch), float(cw)),
        flip=bool(u[4] < 0.5),
        angle=float(MAX_ROTATION * strength * (2.0 * u[5] - 1.0)),
        brightness=float(BRIGHTNESS * strength * (2.0 * u[6] - 1.0)),
        contrast=float(1.0 + CONTRAST * strength * (2.0 * u[7] - 1.0)),
    )


def warp_matrix(d: Draw, shape: tuple[int, ...]) -> np.ndarray:
    """The 2x3 affine map (source pixel -> output pixel) of `d`'s crop, flip and rotation.

    Pixel centres are at integer coordinates: the crop window's edges map to the output's.
    """
    import cv2

    h, w = int(shape[0]), int(shape[1])
    top, left, ch, cw = d.crop
    sx, sy = w / cw, h / ch
    crop = np.array([[sx, 0, (0.5 - left) * sx - 0.5], [0, sy, (0.5 - top) * sy - 0.5], [0, 0, 1]])
    flip = np.array([[-1, 0, w - 1], [0, 1, 0], [0, 0, 1]]) if d.flip else np.eye(3)
    rotate = np.eye(3)
    rotate[:2] = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), d.angle, 1.0)
    return (rotate @ flip @ crop)[:2]


def apply(image: np.ndarray, d: Draw) -> np.ndarray:
    """`image` (float32 `(H, W, 3)` in [0, 1]) augmented by the choices `d`."""
    import cv2

    image = np.ascontiguousarray(image, np.float32)
    h, w = image.shape[:2]
    out = cv2.warpAffine(
        image,
        warp_matrix(d, image.shape),
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    out = out.reshape(image.shape) + np.float32(d.brightness)
    mean = out.mean()
    out = (out - mean) * np.float32(d.contrast) + mean
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def augment_image(image: np.ndarray, seed: int, strength: float) -> np.ndarray:
    """One random augmentation of a float32 `(H, W, 3)` face crop in [0, 1].

    Args:
        image: float32 pixels in [0, 1] (other dtypes are converted).
        seed: the example's seed (any int); the same seed gives the same augmentation.
        strength: in [0, 1]; 0 returns the image unchanged.

    Returns:
        float32 `(H, W, 3)` in [0, 1].

    Example:
        >>> out = augment_image(np.full((8, 8, 3), 0.5, np.float32), 3, 0.0)
        >>> float(out.max())
        0.5
    """
    strength = check_strength(strength)
    image = np.asarray(image, np.float32)
    if strength == 0.0:
        return image
    return apply(image, draw(seed, strength, image.shape))


__all__ = ["DEFAULT_STRENGTH", "Draw", "apply", "augment_image", "check_strength", "draw",
           "draw_from", "warp_matrix"]  # fmt: skip
