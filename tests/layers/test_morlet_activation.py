"""Tests for MorletActivation: the harness, the formula, and a scale that stays positive."""

import keras
import numpy as np
import pytest

from ferzoo.layers import MorletActivation
from ferzoo.layers.morlet_activation import MIN_SCALE
from tests.testing import MIXED_POLICIES, gradients, run_layer_test


def morlet_np(x, a, b):
    t = (x - b) / a
    return np.cos(1.75 * t) * np.exp(-(t**2) / 2)


@pytest.mark.parametrize("per_channel", [False, True])
def test_harness_channels_last(tmp_path, per_channel):
    kwargs = dict(scale_initializer=1.5, shift_initializer=0.2, per_channel=per_channel)
    run_layer_test(
        MorletActivation,
        kwargs,
        (2, 4, 4, 3),
        expected_output_shape=(2, 4, 4, 3),
        expected_num_trainable_weights=2,  # the scale a (stored as raw_scale) and the shift b
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )


def test_harness_channels_first_per_channel(tmp_path):
    kwargs = dict(per_channel=True, data_format="channels_first")
    run_layer_test(
        MorletActivation,
        kwargs,
        (2, 3, 4, 5),
        (2, 3, 4, 5),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )
    layer = MorletActivation(**kwargs)
    layer.build((2, 3, 4, 5))
    assert tuple(layer.raw_scale.shape) == (3,)
    assert tuple(layer.shift.shape) == (3,)


def test_values_match_numpy_formula():
    layer = MorletActivation(scale_initializer=1.7, shift_initializer=-0.4)
    x = np.array([-3.0, -1.0, -0.4, 0.0, 0.5, 1.3, 2.0, 4.0], "float32")
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y, morlet_np(x.astype("float64"), 1.7, -0.4), rtol=1e-5, atol=1e-6)
    # psi(0) = 1 at x = b.
    assert y[2] == pytest.approx(1.0, abs=1e-6)
    # Set a and b to other values after building: the output follows them.
    layer.raw_scale.assign(0.6 - MIN_SCALE)
    layer.shift.assign(0.9)
    np.testing.assert_allclose(float(keras.ops.convert_to_numpy(layer.scale)), 0.6, rtol=1e-6)
    y = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(y, morlet_np(x.astype("float64"), 0.6, 0.9), rtol=1e-5, atol=1e-6)


def test_per_channel_values_channels_first():
    a = np.array([0.5, 1.0, 2.0], "float32")
    b = np.array([-1.0, 0.0, 0.7], "float32")
    layer = MorletActivation(per_channel=True, data_format="channels_first")
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype("float32")
    layer(x)
    layer.raw_scale.assign(a - MIN_SCALE)
    layer.shift.assign(b)
    y = keras.ops.convert_to_numpy(layer(x))
    expected = morlet_np(x, a[None, :, None, None], b[None, :, None, None])
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("scale", [1.0, 0.3, 2.5, 1e-3, 7.0])
def test_initial_scale_is_exactly_scale_initializer(scale):
    layer = MorletActivation(scale_initializer=scale)
    layer.build((None, 3))
    assert keras.ops.convert_to_numpy(layer.scale) == np.float32(scale)


def test_scale_stays_positive_with_very_negative_raw_weight():
    layer = MorletActivation()
    layer.build((None, 4))
    layer.raw_scale.assign(-1e9)
    assert float(keras.ops.convert_to_numpy(layer.scale)) > 0
    layer.raw_scale.assign(0.0)
    assert float(keras.ops.convert_to_numpy(layer.scale)) == pytest.approx(MIN_SCALE)
    y = keras.ops.convert_to_numpy(layer(np.linspace(-2, 2, 8, dtype="float32")))
    assert np.all(np.isfinite(y))


def test_scale_stays_positive_after_a_step_towards_zero():
    # The loss mean(a) is minimised by a -> 0; a big SGD step would take a plain weight
    # far below zero, the layer's scale must stay >= MIN_SCALE.
    layer = MorletActivation(scale_initializer=0.05)
    inputs = keras.Input((4,))
    model = keras.Model(inputs, layer(inputs))

    def loss(y_true, y_pred):
        return keras.ops.mean(layer.scale) + 0.0 * keras.ops.mean(y_pred)

    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=loss)
    x = np.ones((2, 4), "float32")
    model.fit(x, x, epochs=1, batch_size=2, verbose=0)
    raw = float(keras.ops.convert_to_numpy(layer.raw_scale))
    assert raw < 0  # the step went through zero: a plain scale would now be negative
    assert float(keras.ops.convert_to_numpy(layer.scale)) >= MIN_SCALE


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), 1e-5])
def test_bad_scale_initializer(bad):
    with pytest.raises(ValueError, match="scale_initializer") as info:
        MorletActivation(scale_initializer=bad)
    assert str(bad) in str(info.value)


def test_bad_data_format():
    with pytest.raises(ValueError, match="data_format=channels_middle"):
        MorletActivation(data_format="channels_middle")


# --- mixed precision: the layer computes in float32 inside ---


def _rounded(x, dtype):
    """`x` rounded to `dtype` (float16 or bfloat16) and back, as float64."""
    return keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(x, dtype), "float32")).astype(
        "float64"
    )


def test_float16_small_scale_and_large_inputs_stay_finite():
    # In float16, (x - b) / a overflows for |x| >= 656 with a = 0.01, and cos(inf) is NaN.
    layer = MorletActivation(scale_initializer=0.01, shift_initializer=0.005, dtype="mixed_float16")
    x = np.array([[-6e4, -1000.0, -0.03, 0.0, 0.02, 700.0, 6e4]], "float32")
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    y = keras.ops.convert_to_numpy(keras.ops.cast(y, "float32"))
    np.testing.assert_allclose(y, morlet_np(_rounded(x, "float16"), 0.01, 0.005), atol=1e-3)
    grad_x, grad_weights = gradients(layer, x, layer.trainable_weights)
    assert np.all(np.isfinite(grad_x))
    assert all(np.all(np.isfinite(g)) for g in grad_weights)


@pytest.mark.parametrize("policy", MIXED_POLICIES)
def test_mixed_gradients_of_scale_and_shift_match_float64(policy):
    # t = x in [4, 6]: exp(-t^2/2) falls from 3e-4 to 1.5e-8, below float16's normal range, and
    # t^2 rounded to 16 bits shifts it by up to 1 % (bfloat16: 6 %); in float32 all is exact
    # to ~1e-6.
    layer = MorletActivation(dtype=policy)  # a = 1, b = 0
    x = np.linspace(4.0, 6.0, 64, dtype="float32")[None]
    layer.build(x.shape)
    _, (grad_raw, grad_shift) = gradients(layer, x, [layer.raw_scale, layer.shift])
    t = _rounded(x, keras.DTypePolicy(policy).compute_dtype)  # the layer's (autocast) input
    e = np.exp(-(t**2) / 2)
    dpsi = -1.75 * np.sin(1.75 * t) * e - t * np.cos(1.75 * t) * e
    # t = (x - b) / a: dt/da = -t/a, dt/db = -1/a, and da/d raw_scale = 1 here (raw_scale > 0).
    np.testing.assert_allclose(grad_raw, np.sum(-dpsi * t), rtol=1e-4)
    np.testing.assert_allclose(grad_shift, np.sum(-dpsi), rtol=1e-4)
