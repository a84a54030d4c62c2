"""Tests for FaceAugment: the harness, each part of the recipe within its bounds, the seed, the
identities, and agreement with the NumPy reference `ferzoo.data.augment.apply`."""

import keras
import numpy as np
import pytest

from ferzoo.data import augment as A
from ferzoo.layers import FaceAugment
from ferzoo.layers.face_augment import augment_batch, choices, transforms, warp
from tests.testing import run_layer_test

# u with no crop (u[0] = 0: the whole area; u[1] = 0.5: aspect 1), no flip (u[4] >= 0.5), no
# rotation, brightness or contrast change (u[5:] = 0.5).
NEUTRAL = np.array([0.0, 0.5, 0.5, 0.5, 0.9, 0.5, 0.5, 0.5])

# One batch shape for most tests (non-square, so that height and width cannot be swapped):
# JAX compiles each op once per shape.
N, H, W = 8, 16, 24


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _smooth(h=H, w=W):
    """A smooth RGB image (bilinear interpolation of it is accurate) in [0.1, 0.9]."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    channels = [0.5 + 0.4 * np.sin(x / 5 + y / 7), 0.5 + 0.4 * np.cos(x / 6 - y / 4),
                0.1 + 0.8 * (x + y) / (h + w)]  # fmt: skip
    return np.stack(channels, -1).astype(np.float32)


def _uint8(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (N, H, W, 3), dtype=np.uint8)


def test_harness(tmp_path):
    run_layer_test(
        FaceAugment,
        {"strength": 0.5, "seed": 1},
        (2, 16, 16, 3),
        (2, 16, 16, 3),
        expected_num_trainable_weights=0,
        # The strength's magnitudes, which the compiled step reads (the seed state is no weight).
        expected_num_non_trainable_weights=1,
        tmp_path=tmp_path,
    )


def test_flip_is_the_mirror_and_neutral_uniforms_the_identity():
    image = _smooth()
    u = np.tile(NEUTRAL, (N, 1))
    u[::2, 4] = 0.1  # the even examples flip
    out = _np(augment_batch(np.repeat(image[None], N, 0), u, 1.0))
    np.testing.assert_allclose(out[::2], np.repeat(image[None, :, ::-1], N // 2, 0), atol=1e-6)
    np.testing.assert_allclose(out[1::2], np.repeat(image[None], N // 2, 0), atol=1e-6)


def test_the_crop_stays_inside_the_face_crop():
    """Without rotation, a column (row) ramp's output shows only the crop window's columns
    (rows): pixel centres at integers, the window's edges at left - 0.5 and left + cw - 0.5."""
    h, w, n = H, W, N * 4
    u = np.random.default_rng(0).random((n, 8))
    u[:, 4:] = NEUTRAL[4:]
    columns = np.tile((np.arange(w, dtype=np.float32) / (w - 1))[None, :, None], (h, 1, 3))
    rows = np.tile((np.arange(h, dtype=np.float32) / (h - 1))[:, None, None], (1, w, 3))
    c = {
        k: _np(v) for k, v in choices(keras.ops.convert_to_tensor(u, "float32"), 1.0, h, w).items()
    }
    assert np.all(c["top"] >= 0) and np.all(c["top"] + c["crop_height"] <= h + 1e-4)
    assert np.all(c["left"] >= 0) and np.all(c["left"] + c["crop_width"] <= w + 1e-4)
    area = c["crop_height"] * c["crop_width"] / (h * w)
    assert area.min() >= A.MIN_SCALE - 1e-5 and area.min() < 0.8  # it does crop
    for ramp, start, size, scale in ((columns, "left", "crop_width", w - 1),
                                     (rows, "top", "crop_height", h - 1)):  # fmt: skip
        batches = [augment_batch(np.repeat(ramp[None], N, 0), u[k : k + N], 1.0)
                   for k in range(0, n, N)]  # fmt: skip
        out = np.concatenate([_np(b) for b in batches]) * scale
        low = c[start] - 0.5 - 1e-3
        high = c[start] + c[size] - 0.5 + 1e-3
        assert np.all(out.min(axis=(1, 2, 3)) >= low) and np.all(out.max(axis=(1, 2, 3)) <= high)


def test_the_rotation_stays_within_its_bound():
    strength = 0.5
    u = np.random.default_rng(1).random((256, 8))
    u[:2, 5] = [0.0, 1.0]  # the extremes
    t = _np(transforms(choices(keras.ops.convert_to_tensor(u, "float32"), strength, H, W), H, W))
    angles = np.degrees(np.arctan2(t[:, 3], t[:, 4]))  # (sin, cos) of the angle: b0, b1
    bound = A.MAX_ROTATION * strength
    assert np.abs(angles).max() <= bound + 1e-4
    np.testing.assert_allclose(angles[:2], [-bound, bound], atol=1e-4)


def test_brightness_and_contrast_stay_within_their_bounds():
    # A constant image stays constant under any warp: only the brightness moves it.
    layer = FaceAugment(1.0, seed=0)
    constant = np.full((N, H, W, 3), 0.5, np.float32)
    out = np.concatenate([_np(layer(constant, training=True)) for _ in range(8)])
    shift = out.reshape(len(out), -1)
    assert np.ptp(shift, axis=1).max() < 1e-6
    assert np.abs(shift - 0.5).max() <= A.BRIGHTNESS + 1e-6
    assert np.abs(shift - 0.5).max() > 0.15  # the draws spread over the range
    # Contrast: the spread around the mean scales by 1 + 0.3 s (2 u[7] - 1).
    strength = 0.5
    u = np.tile(NEUTRAL, (N, 1))
    u[:, 7] = np.linspace(0.0, 1.0, N)
    image = _smooth()
    out = _np(augment_batch(np.repeat(image[None], N, 0), u, strength))
    ratio = out.std(axis=(1, 2, 3)) / image.std()
    np.testing.assert_allclose(ratio, 1 + A.CONTRAST * strength * (2 * u[:, 7] - 1), rtol=1e-4)


def test_the_same_seed_repeats_and_another_seed_differs():
    x = _uint8()
    a = _np(FaceAugment(0.5, seed=3)(x, training=True))
    b_layer = FaceAugment(0.5, seed=3)
    b = _np(b_layer(x, training=True))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, _np(FaceAugment(0.5, seed=4)(x, training=True)))
    assert not np.allclose(b, _np(b_layer(x, training=True)))  # the next batch: new draws
    assert a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0


def test_strength_zero_and_inference_only_convert():
    x = _uint8()
    expected = x.astype(np.float32) / np.float32(255)
    for out in (FaceAugment(0.0, seed=0)(x, training=True), FaceAugment(0.5)(x),
                FaceAugment(0.5)(x, training=False)):  # fmt: skip
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        np.testing.assert_array_equal(_np(out), expected)
    floats = np.random.default_rng(0).random((N, H, W, 3), dtype=np.float32)
    np.testing.assert_array_equal(_np(FaceAugment(0.5)(floats)), floats)


def test_agrees_with_the_numpy_reference_away_from_the_border():
    """The same uniforms through `augment_batch` and through OpenCV's `apply(image,
    draw_from(u))`: equal to 1e-2 wherever the warp reads inside the image (OpenCV rounds
    coordinates to 1/32 pixel; outside, Keras' reflect repeats the edge pixel, OpenCV's
    reflect-101 does not)."""
    h, w, n, strength = H, W, N, 1.0
    image = _smooth(h, w)
    u = np.random.default_rng(2).random((n, 8))
    out = _np(augment_batch(np.repeat(image[None], n, 0), u, strength))
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    for i in range(n):
        d = A.draw_from(u[i], strength, image.shape)
        reference = A.apply(image, d)
        inverse = np.linalg.inv(np.vstack([A.warp_matrix(d, image.shape), [0, 0, 1]]))
        sx, sy, _ = np.tensordot(inverse, np.stack([x, y, np.ones_like(x)]), axes=1)
        inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
        assert inside.mean() > 0.6, (i, d)
        np.testing.assert_allclose(out[i][inside], reference[inside], atol=1e-2, err_msg=str(d))


def test_the_warp_is_keras_affine_transform_and_honours_channels_first():
    """`warp` gives the pixels of `keras.ops.image.affine_transform(bilinear, reflect)` (which
    it replaces: no XLA kernel on TensorFlow, a per-image loop on PyTorch)."""
    x = np.random.default_rng(3).random((N, H, W, 3), dtype=np.float32)
    u = np.random.default_rng(4).random((N, 8))
    t = _np(transforms(choices(keras.ops.convert_to_tensor(u, "float32"), 1.0, H, W), H, W))
    # A copy: PyTorch's affine_transform reorders its transform tensor in place.
    expected = keras.ops.image.affine_transform(x, t.copy(), "bilinear", fill_mode="reflect")
    np.testing.assert_allclose(_np(warp(x, t)), _np(expected), atol=1e-5)
    last = _np(augment_batch(x, u, 1.0))
    first = augment_batch(np.transpose(x, (0, 3, 1, 2)), u, 1.0, "channels_first")
    np.testing.assert_allclose(np.transpose(_np(first), (0, 2, 3, 1)), last, atol=1e-6)


@pytest.mark.parametrize("kwargs", [{"strength": 1.5}, {"strength": "strong"},
                                    {"strength": True}, {"seed": "one"}])  # fmt: skip
def test_bad_arguments_are_named(kwargs):
    ((name, value),) = kwargs.items()
    with pytest.raises(ValueError, match=f"Received: {name}={value!r}"):
        FaceAugment(**kwargs)
