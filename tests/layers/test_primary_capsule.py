"""Tests for the PrimaryCapsule layer."""

import keras
import numpy as np
import pytest

from ferzoo.layers.capsule import squash
from ferzoo.layers.primary_capsule import PrimaryCapsule
from tests.testing import TF_CPU_NCHW_16BIT, run_layer_test


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_harness_channels_last(tmp_path):
    out = run_layer_test(
        PrimaryCapsule,
        {"num_capsules": 4, "capsule_dim": 4, "data_format": "channels_last"},
        (2, 6, 6, 8),
        (2, 4 * 4 * 4, 4),
        expected_num_trainable_weights=2,  # the convolution's kernel and bias
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )
    lengths = np.linalg.norm(out, axis=-1)
    assert np.all(lengths < 1.0)


def test_harness_channels_first(tmp_path):
    run_layer_test(
        PrimaryCapsule,
        {"num_capsules": 2, "capsule_dim": 4, "data_format": "channels_first", "padding": "same"},
        (2, 8, 5, 5),
        (2, 5 * 5 * 2, 4),
        expected_num_trainable_weights=2,
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
        no_mixed_reason=TF_CPU_NCHW_16BIT,
    )


def test_same_padding_and_strides_shape():
    layer = PrimaryCapsule(3, 5, kernel_size=3, strides=2, padding="same")
    x = np.ones((2, 7, 7, 4), "float32")
    assert _np(layer(x)).shape == (2, 4 * 4 * 3, 5)
    assert layer.compute_output_shape((2, 7, 7, 4)) == (2, 48, 5)


def test_capsules_are_squashed_conv_vectors_in_row_column_capsule_order():
    layer = PrimaryCapsule(3, 2, kernel_size=1, data_format="channels_last")
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype("float32")
    out = _np(layer(x))
    conv = _np(layer.conv(x))  # (2, 3, 4, 6)
    expected = _np(squash(conv.reshape(2, 3 * 4 * 3, 2)))
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # Capsule n at row r, column c is channels [2n, 2n + 2) of the conv at (r, c).
    r, c, n = 2, 1, 2
    vector = conv[0, r, c, 2 * n : 2 * n + 2]
    got = out[0, (r * 4 + c) * 3 + n]
    np.testing.assert_allclose(
        got / np.linalg.norm(got), vector / np.linalg.norm(vector), atol=1e-5
    )


def test_channels_first_matches_channels_last():
    x = np.random.default_rng(1).standard_normal((2, 5, 5, 4)).astype("float32")
    last = PrimaryCapsule(2, 3, data_format="channels_last")
    first = PrimaryCapsule(2, 3, data_format="channels_first")
    out_last = _np(last(x))
    first.build((2, 4, 5, 5))
    first.set_weights(last.get_weights())
    out_first = _np(first(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(out_first, out_last, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"num_capsules": 0, "capsule_dim": 4}, "num_capsules=0"),
        ({"num_capsules": 4, "capsule_dim": 0}, "capsule_dim=0"),
        ({"num_capsules": 4, "capsule_dim": 4, "kernel_size": 0}, "kernel_size=0"),
        ({"num_capsules": 4, "capsule_dim": 4, "padding": "full"}, "padding='full'"),
        ({"num_capsules": 4, "capsule_dim": 4, "data_format": "x"}, "data_format='x'"),
    ],
)
def test_bad_arguments_raise(kwargs, text):
    with pytest.raises(ValueError, match=text):
        PrimaryCapsule(**kwargs)
