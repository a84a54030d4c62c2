"""Tests for MultiScaleConv: the harness, channel counts, branch alignment, bad arguments."""

import keras
import numpy as np
import pytest

from ferzoo.layers import MultiScaleConv
from tests.testing import TF_CPU_NCHW_16BIT, run_layer_test


def test_harness_channels_last(tmp_path):
    run_layer_test(
        MultiScaleConv,
        dict(filters=4, kernel_sizes=(3, 5, 7), strides=2),
        (2, 16, 16, 3),
        expected_output_shape=(2, 8, 8, 12),
        expected_num_trainable_weights=6,  # a kernel and a bias per branch
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )


def test_harness_channels_first(tmp_path):
    run_layer_test(
        MultiScaleConv,
        dict(filters=2, kernel_sizes=(3, 5), data_format="channels_first"),
        (2, 3, 12, 12),
        expected_output_shape=(2, 4, 12, 12),
        expected_num_trainable_weights=4,
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
        no_mixed_reason=TF_CPU_NCHW_16BIT,
    )


@pytest.mark.parametrize(
    "kernel_sizes", [(3,), (3, 5), (1, 3, 5, 7), (3, 5, 7, 9)], ids=lambda k: "-".join(map(str, k))
)
def test_output_channels_is_filters_times_kernels(kernel_sizes):
    layer = MultiScaleConv(5, kernel_sizes=kernel_sizes)
    y = layer(np.zeros((2, 10, 10, 3), "float32"))
    assert tuple(y.shape) == (2, 10, 10, 5 * len(kernel_sizes))
    assert [tuple(c.kernel.shape) for c in layer.convs] == [(k, k, 3, 5) for k in kernel_sizes]


def test_branches_are_concatenated_in_kernel_order():
    # A single input pixel set to 1 at the center: branch k's response is its kernel
    # center weight, so each block of `filters` channels identifies its branch.
    layer = MultiScaleConv(2, kernel_sizes=(3, 5), use_bias=False)
    x = np.zeros((1, 9, 9, 1), "float32")
    x[0, 4, 4, 0] = 1.0
    y = keras.ops.convert_to_numpy(layer(x))
    k3 = keras.ops.convert_to_numpy(layer.convs[0].kernel)
    k5 = keras.ops.convert_to_numpy(layer.convs[1].kernel)
    np.testing.assert_allclose(y[0, 4, 4, :2], k3[1, 1, 0], rtol=1e-6)
    np.testing.assert_allclose(y[0, 4, 4, 2:], k5[2, 2, 0], rtol=1e-6)


@pytest.mark.parametrize("strides", [1, 2, (2, 1)])
def test_valid_padding_aligns_branches(strides):
    layer = MultiScaleConv(1, kernel_sizes=(1, 3), strides=strides, padding="valid", use_bias=False)
    x = np.random.default_rng(0).standard_normal((1, 11, 11, 1)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    assert y.shape == tuple(layer.compute_output_shape(x.shape))
    s = (strides, strides) if isinstance(strides, int) else strides
    assert y.shape[1:3] == ((11 - 3) // s[0] + 1, (11 - 3) // s[1] + 1)
    # The 1x1 branch is the input scaled by its weight, sampled at the 3x3 branch's centers.
    w = float(keras.ops.convert_to_numpy(layer.convs[0].kernel).ravel()[0])
    expected = w * x[0, 1 : 11 - 1 : s[0], 1 : 11 - 1 : s[1], 0][: y.shape[1], : y.shape[2]]
    np.testing.assert_allclose(y[0, :, :, 0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad", [(3, 4), (0, 3), (-3,), (), (3, 3), (3.0, 5), "3"])
def test_bad_kernel_sizes(bad):
    with pytest.raises(ValueError, match="kernel_sizes") as info:
        MultiScaleConv(4, kernel_sizes=bad)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize("bad", [0, -2, 2.5])
def test_bad_filters(bad):
    with pytest.raises(ValueError, match=f"filters={bad}"):
        MultiScaleConv(bad)


def test_bad_padding_and_strides():
    with pytest.raises(ValueError, match="padding=causal"):
        MultiScaleConv(4, padding="causal")
    with pytest.raises(ValueError, match=r"strides=\(0, 1\)"):
        MultiScaleConv(4, strides=(0, 1))


@pytest.mark.parametrize(
    "shape, strides, padded",
    [((16, 16), 4, False), ((8, 9), (4, 2), True), ((9, 9), 2, False)],
)
def test_same_padding_below_zero_is_written_out_and_gives_the_same_numbers(shape, strides, padded):
    """Where "same" pads a negative total (a 3x3 kernel at stride 4 on 16 px), the branch
    convolves "valid" after any explicit pad (TFLite's XNNPACK miscomputes such a "same"
    conv); the output is still "same"'s."""
    layer = MultiScaleConv(2, kernel_sizes=(3,), strides=strides)
    x = np.random.default_rng(0).standard_normal((1, *shape, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    conv = layer.convs[0]
    s = (strides, strides) if isinstance(strides, int) else strides
    expected = keras.ops.conv(x, conv.kernel, strides=s, padding="same") + conv.bias
    np.testing.assert_allclose(y, keras.ops.convert_to_numpy(expected), rtol=1e-5, atol=1e-5)
    assert conv.padding == ("valid" if shape != (9, 9) else "same")
    assert (layer.borders[0] is not None) == padded
