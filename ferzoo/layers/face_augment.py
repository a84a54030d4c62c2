"""FER training augmentation of a batch of face crops, in keras.ops: on the device, in the step."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from ferzoo.data.augment import ASPECT, BRIGHTNESS, CONTRAST, MAX_ROTATION, MIN_SCALE
from ferzoo.layers import _checks

#: How many uniform variates one example's augmentation draws (as `ferzoo.data.augment.draw`).
NUM_UNIFORMS = 8


def check_strength(strength) -> float:
    """`strength` as a float in [0, 1], or a ValueError naming it."""
    ok = isinstance(strength, int | float) and not isinstance(strength, bool)
    if not ok or not 0.0 <= float(strength) <= 1.0:
        raise ValueError(f"strength must be a number in [0, 1]. Received: strength={strength!r}")
    return float(strength)


def to_unit(images):
    """float32 pixels in [0, 1]: uint8 as `x / 255` exactly (a 256-entry table: XLA would turn
    a division by 255 into a multiplication, off by an ulp), floats as they are."""
    dtype = keras.backend.standardize_dtype(images.dtype)
    if dtype == "uint8":
        table = ops.convert_to_tensor(np.arange(256, dtype=np.float32) / np.float32(255))
        return ops.take(table, ops.cast(images, "int32"))
    if "int" in dtype:
        return ops.cast(images, "float32") / 255.0
    return ops.cast(images, "float32")


def magnitudes(strength: float) -> list[float]:
    """`strength` times each range of the recipe, as the step multiplies the uniforms by them:
    crop area, aspect ratio, rotation (degrees), brightness, contrast."""
    s = float(strength)
    return [(1.0 - MIN_SCALE) * s, ASPECT * s, MAX_ROTATION * s, BRIGHTNESS * s, CONTRAST * s]


def choices(uniforms, strength, height: int, width: int) -> dict:
    """The per-example choices of `ferzoo.data.augment.draw_from`, batched.

    Args:
        uniforms: float `(B, 8)` in [0, 1).
        strength: in [0, 1]; or the float32 `(5,)` tensor (or variable) of its `magnitudes`,
            which gives the same numbers as the strength they were computed from.
        height, width: the images' size.

    Returns:
        `{name: (B,) float32}`: `top`, `left`, `crop_height`, `crop_width` (pixels), `flip`
        (1.0 or 0.0), `angle` (degrees, counter-clockwise), `brightness`, `contrast`.
    """
    u = [uniforms[:, i] for i in range(NUM_UNIFORMS)]
    if isinstance(strength, int | float):
        m = magnitudes(strength)
    else:
        m = [strength[i] for i in range(5)]
    h, w = float(height), float(width)
    area = 1.0 - m[0] * u[0]
    aspect = 1.0 + m[1] * (2.0 * u[1] - 1.0)
    ch = ops.minimum(h, h * ops.sqrt(area / aspect))
    cw = ops.minimum(w, w * ops.sqrt(area * aspect))
    return {
        "top": (h - ch) * u[2],
        "left": (w - cw) * u[3],
        "crop_height": ch,
        "crop_width": cw,
        "flip": ops.cast(u[4] < 0.5, "float32"),
        "angle": m[2] * (2.0 * u[5] - 1.0),
        "brightness": m[3] * (2.0 * u[6] - 1.0),
        "contrast": 1.0 + m[4] * (2.0 * u[7] - 1.0),
    }


def transforms(c: dict, height: int, width: int):
    """`(B, 8)` transforms of the choices `c` (output pixel -> input pixel, as `warp` and
    `keras.ops.image.affine_transform` read them): the inverse of
    `ferzoo.data.augment.warp_matrix` (rotation after flip after crop, OpenCV's rotation about
    the centre), pixel centres at integer coordinates."""
    h, w = float(height), float(width)
    theta = c["angle"] * (math.pi / 180.0)
    cos, sin = ops.cos(theta), ops.sin(theta)
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    tx = (1.0 - cos) * cx + sin * cy  # the inverse rotation: by -angle about the centre
    ty = -sin * cx + (1.0 - cos) * cy
    sign = 1.0 - 2.0 * c["flip"]  # -1: mirrored, x -> (w - 1) - x
    shift = (w - 1.0) * c["flip"]
    sx, sy = w / c["crop_width"], h / c["crop_height"]
    ox = 0.5 / sx - 0.5 + c["left"]  # the crop's inverse: x -> x / sx + ox
    oy = 0.5 / sy - 0.5 + c["top"]
    zero = ops.zeros_like(cos)
    rows = [
        sign * cos / sx,
        -sign * sin / sx,
        (sign * tx + shift) / sx + ox,
        sin / sy,
        cos / sy,
        ty / sy + oy,
        zero,
        zero,
    ]
    return ops.stack(rows, axis=1)


def _reflect(index, size: int):
    """Indices reflected into [0, size) about the edges, repeating the edge pixel
    (`d c b a | a b c d | d c b a`, Keras' and SciPy's "reflect")."""
    period = 2 * size
    m = index - period * ops.floor_divide(index, period)  # in [0, 2 size)
    return ops.where(m < size, m, period - 1 - m)


def warp(images, t, scale: float = 1.0):
    """Bilinear warp of channels-last `images` by `transforms`' `(B, 8)` affine maps (output
    pixel -> input pixel; pixel centres at integers), borders reflected, times `scale`, as
    float32: batched gathers only (no per-image loop; XLA compiles it on every backend). The
    gathers read `images` as they are (uint8 pixels: a quarter of float32's bytes)."""
    shape = ops.shape(images)
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    ys, xs = ops.meshgrid(
        ops.arange(height, dtype="float32"), ops.arange(width, dtype="float32"), indexing="ij"
    )
    row = [ops.reshape(t[:, k], (-1, 1, 1)) for k in range(6)]
    sx = row[0] * xs + row[1] * ys + row[2]  # (B, H, W)
    sy = row[3] * xs + row[4] * ys + row[5]
    x0, y0 = ops.floor(sx), ops.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    flat = ops.reshape(images, (shape[0], height * width * channels))
    offsets = ops.arange(channels, dtype="int32")

    def pick(y, x):
        pixel = _reflect(y, height) * width + _reflect(x, width)  # (B, H, W)
        index = pixel[..., None] * channels + offsets  # (B, H, W, C)
        values = ops.take_along_axis(flat, ops.reshape(index, (shape[0], -1)), axis=1)
        return ops.cast(ops.reshape(values, shape), "float32")

    top = pick(y0, x0) * (1.0 - fx) + pick(y0, x0 + 1) * fx
    bottom = pick(y0 + 1, x0) * (1.0 - fx) + pick(y0 + 1, x0 + 1) * fx
    out = top * (1.0 - fy) + bottom * fy
    return out if scale == 1.0 else out * scale


def augment_batch(images, uniforms, strength: float, data_format: str = "channels_last"):
    """`images` augmented with the choices that `uniforms` make (see `FaceAugment`).

    The batched twin of `ferzoo.data.augment.apply(image, draw_from(u, strength, shape))`.

    Args:
        images: `(B, H, W, 3)` (or channels first) uint8 pixels, or floats in [0, 1].
        uniforms: float `(B, 8)` in [0, 1), one row per example.
        strength: in [0, 1] (0 still flips where `u[4] < 0.5`, as `draw_from` does); or the
            `(5,)` tensor of its `magnitudes` (`choices`).
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        float32 images of the same shape, in [0, 1].
    """
    pixels = keras.backend.standardize_dtype(images.dtype) == "uint8"
    x = images if pixels else to_unit(images)  # uint8: warped as it is, then scaled
    first = data_format == "channels_first"
    if first:
        x = ops.transpose(x, (0, 2, 3, 1))
    height, width = x.shape[1], x.shape[2]
    c = choices(ops.cast(uniforms, "float32"), strength, height, width)
    out = warp(x, transforms(c, height, width), 1.0 / 255.0 if pixels else 1.0)
    out = out + ops.reshape(c["brightness"], (-1, 1, 1, 1))
    mean = ops.mean(out, axis=(1, 2, 3), keepdims=True)
    out = (out - mean) * ops.reshape(c["contrast"], (-1, 1, 1, 1)) + mean
    out = ops.clip(out, 0.0, 1.0)
    return ops.transpose(out, (0, 3, 1, 2)) if first else out


@keras.saving.register_keras_serializable(package="ferzoo")
class FaceAugment(keras.layers.Layer):
    """FER training augmentation of a batch of face crops, drawn per example on the device.

    In training, each example gets its own random resized crop (`[1 - 0.25 s, 1]` of the face
    crop's area, aspect ratio `1 +- 0.1 s`), a left-right flip with probability 1/2, a rotation
    about the centre of up to `15 s` degrees (crop, flip and rotation as one bilinear affine
    warp), a brightness shift of up to `0.2 s` and a contrast change of up to `30 s` %, then
    the pixels are clipped to [0, 1]; `s` is `strength`. The recipe, its constants and why are
    `ferzoo.data.augment`'s (the NumPy reference, which the tests compare this layer with).
    Each example draws 8 uniforms from a `keras.random.SeedGenerator`: the same `seed` gives
    the same sequence of batches. Out of training (`training` false or None) and at strength
    0 the layer only converts: uint8 input becomes `x / 255` exactly, float input (taken to be
    in [0, 1]) passes through. The output is float32 (the compute dtype under a mixed policy).

    Args:
        strength: float in [0, 1], the scale of every magnitude. Defaults to `0.5`
            (`ferzoo.data.augment.DEFAULT_STRENGTH`). The step reads it from a non-trainable
            float32 weight, `magnitudes` (the strength times each range, `magnitudes()`: the
            numbers a constant strength gave), so a sweep that changes only the strength
            reuses the compiled step (`set_strength`, `ferzoo.training.reuse`).
        seed: int or None, the seed of the layer's `SeedGenerator` (None: a random one).
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(B, H, W, 3)` images (channels first: `(B, 3, H, W)`), uint8 or floats in
            [0, 1].
        training: bool; only a true value augments.

    Returns:
        float32 images of the same shape, in [0, 1].

    Example:
    ```python
    import numpy as np
    layer = FaceAugment(strength=0.5, seed=7)
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    y = layer(x, training=True)   # float32 (4, 32, 32, 3) in [0, 1], new choices per call
    z = layer(x)                  # x / 255
    ```

    Reference:
        The papers do not describe their augmentation; this is ferzoo's recipe
        (`ferzoo.data.augment`), moved into the compiled step so that the host only gathers
        uint8 pixels. `augment_batch(images, uniforms, strength)` is the same maths with the
        uniforms given, and matches `ferzoo.data.augment.apply(image, draw_from(u, strength,
        shape))` to about 1e-2 where the warp reads inside the image (OpenCV's warp rounds
        coordinates to 1/32 pixel). Borders differ: where it reads outside (the rotation's
        corners), this layer reflects with the edge pixel repeated (`d c b a | a b c d`,
        Keras' and SciPy's `"reflect"`) where OpenCV's `BORDER_REFLECT_101` does not
        (`d c b | a b c d`), so the two differ there by up to a pixel's step.
        The warp (`warp`) is four batched gathers and a bilinear blend, not
        `keras.ops.image.affine_transform` (which gives the same pixels): that op has no XLA
        kernel on TensorFlow (ImageProjectiveTransformV3), and on PyTorch it loops over the
        batch in Python and interpolates along the channel axis too (2-3x slower steps in
        our measurement); this way the layer compiles with XLA on every backend.
    """

    def __init__(self, strength: float = 0.5, seed: int | None = None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        strength = check_strength(strength)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"seed must be an int or None. Received: seed={seed!r}")
        self.seed = seed
        self.data_format = _checks.data_format(data_format)
        self.seed_generator = keras.random.SeedGenerator(seed)
        self._strength = strength
        self.magnitudes = self.add_weight(
            shape=(5,),
            dtype="float32",
            initializer=lambda shape, dtype=None: np.asarray(magnitudes(strength), np.float32),
            trainable=False,
            name="magnitudes",
        )
        self.built = True

    @property
    def strength(self) -> float:
        """The augmentation strength (`set_strength` changes it)."""
        return self._strength

    def set_strength(self, value: float) -> None:
        """Change the strength of a built layer: its `magnitudes` variable, which the compiled
        step reads, is assigned (no retrace: `ferzoo.training.reuse`), as long as it stays zero
        or non-zero (at 0 the step only converts, a graph of its own).

        A method, not a property setter: TensorFlow's attribute tracking skips setting an
        attribute to the object it holds already, so a setter would not run for the same float.
        """
        value = check_strength(value)
        if (value == 0.0) != (self._strength == 0.0):
            raise ValueError(
                "strength can change between non-zero values on a built step, not to or from 0 "
                f"(another graph). Received: strength={value!r} for a layer at {self._strength}"
            )
        self._strength = value
        self.magnitudes.assign(np.asarray(magnitudes(value), np.float32))

    def call(self, inputs, training=None):
        if not training or self._strength == 0.0:
            return ops.cast(to_unit(inputs), self.compute_dtype)
        batch = ops.shape(inputs)[0]
        uniforms = keras.random.uniform((batch, NUM_UNIFORMS), seed=self.seed_generator)
        out = augment_batch(inputs, uniforms, self.magnitudes, self.data_format)
        return ops.cast(out, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"strength": self.strength, "seed": self.seed,
                       "data_format": self.data_format})  # fmt: skip
        return config


__all__ = ["NUM_UNIFORMS", "FaceAugment", "augment_batch", "choices", "magnitudes", "transforms",
           "warp"]  # fmt: skip
