"""Tests for the multi-scale fusion (MF) layer of the WAMF paper.

MF takes two inputs, `[stage_input, stage_output]`; the shared harness calls it on both.
"""

import keras
import numpy as np
import pytest

from ferzoo.layers.multi_scale_fusion import MultiScaleFusion
from tests.testing import TF_CPU_NCHW_16BIT, run_layer_test


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _channels_first(shape):
    return (shape[0], shape[3], shape[1], shape[2])


# (kwargs, [stage input, stage output] shapes, trainable and non-trainable weights, the reason
# to skip the mixed-precision check). The input branch's conv and batch norm and the fusion conv
# and batch norm: convs without bias; gamma and beta trainable, moving mean and variance not.
HARNESS = [
    pytest.param(
        {"kernel_size": 7, "data_format": "channels_last"},
        [(2, 8, 8, 4), (2, 4, 4, 8)], 6, 4, None, id="channels_last",
    ),
    pytest.param(
        {"kernel_size": 5, "data_format": "channels_first"},
        [(2, 4, 8, 8), (2, 8, 4, 4)], 6, 4, TF_CPU_NCHW_16BIT, id="channels_first",
    ),
    pytest.param(  # stage 1: no input branch, the fusion conv and its batch norm only
        {"kernel_size": 1, "data_format": "channels_last"},
        [(2, 4, 4, 6), (2, 4, 4, 6)], 3, 2, None, id="stage_one_has_no_input_branch",
    ),
]  # fmt: skip


@pytest.mark.parametrize("kwargs, shapes, trainable, non_trainable, no_mixed", HARNESS)
def test_harness(kwargs, shapes, trainable, non_trainable, no_mixed, tmp_path):
    run_layer_test(
        MultiScaleFusion,
        kwargs,
        shapes,
        shapes[1],
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=non_trainable,
        tmp_path=tmp_path,
        no_mixed_reason=no_mixed,
    )


def test_stride_follows_the_spatial_ratio():
    layer = MultiScaleFusion(kernel_size=7, data_format="channels_last")
    layer.build([(2, 8, 8, 4), (2, 4, 4, 8)])
    assert layer.stride_ == 2


# The four ResNet stages of the paper (sizes and channels scaled down): k = 1, 7, 5, 3.
STAGES = [
    ((2, 8, 8, 16), (2, 8, 8, 16), 1),
    ((2, 8, 8, 16), (2, 4, 4, 32), 7),
    ((2, 4, 4, 32), (2, 2, 2, 64), 5),
    ((2, 2, 2, 64), (2, 1, 1, 128), 3),
]


@pytest.mark.parametrize("in_shape, out_shape, kernel_size", STAGES)
def test_output_keeps_stage_output_shape(in_shape, out_shape, kernel_size):
    layer = MultiScaleFusion(kernel_size=kernel_size, data_format="channels_last")
    x = [np.ones(in_shape, "float32"), np.ones(out_shape, "float32")]
    assert _np(layer(x)).shape == out_shape
    assert tuple(layer.compute_output_shape([in_shape, out_shape])) == out_shape


def test_stage_one_concatenates_input_directly():
    # Paper: stage 1's output is concatenated with its input, then a 1x1 conv. With batch norm
    # at its initial state (inference), the layer is relu(concat(out, in) @ W / sqrt(1 + eps)).
    layer = MultiScaleFusion(kernel_size=1, data_format="channels_last")
    rng = np.random.default_rng(3)
    stage_in = rng.standard_normal((2, 4, 4, 6)).astype("float32")
    stage_out = rng.standard_normal((2, 4, 4, 6)).astype("float32")
    out = _np(layer([stage_in, stage_out]))
    assert layer.identity_input and not hasattr(layer, "input_conv")
    kernel = _np(layer.fuse_conv.kernel)[0, 0]  # (12, 6)
    concat = np.concatenate([stage_out, stage_in], axis=-1)
    expected = np.maximum(concat @ kernel / np.sqrt(1.0 + layer.fuse_norm.epsilon), 0.0)
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_stage_input_changes_output():
    layer = MultiScaleFusion(kernel_size=3, data_format="channels_last", activation=None)
    rng = np.random.default_rng(4)
    stage_out = rng.standard_normal((2, 2, 2, 8)).astype("float32")
    a = _np(layer([rng.standard_normal((2, 4, 4, 4)).astype("float32"), stage_out]))
    b = _np(layer([rng.standard_normal((2, 4, 4, 4)).astype("float32"), stage_out]))
    assert not np.allclose(a, b)
    assert layer.input_conv.kernel.shape == (3, 3, 4, 8)


def test_filters_and_explicit_strides():
    layer = MultiScaleFusion(filters=5, kernel_size=3, strides=3, data_format="channels_last")
    x = [np.ones((2, 7, 7, 4), "float32"), np.ones((2, 3, 3, 8), "float32")]
    assert _np(layer(x)).shape == (2, 3, 3, 5)
    assert layer.stride_ == 3


def test_channels_first_matches_channels_last():
    rng = np.random.default_rng(5)
    stage_in = rng.standard_normal((2, 8, 8, 4)).astype("float32")
    stage_out = rng.standard_normal((2, 4, 4, 8)).astype("float32")
    last = MultiScaleFusion(kernel_size=3, data_format="channels_last")
    first = MultiScaleFusion(kernel_size=3, data_format="channels_first")
    out_last = _np(last([stage_in, stage_out]))
    first.build([_channels_first(stage_in.shape), _channels_first(stage_out.shape)])
    first.set_weights(last.get_weights())
    out_first = _np(
        first([np.transpose(stage_in, (0, 3, 1, 2)), np.transpose(stage_out, (0, 3, 1, 2))])
    )
    np.testing.assert_allclose(np.transpose(out_first, (0, 2, 3, 1)), out_last, atol=1e-4)


@pytest.mark.parametrize("kernel_size", [4, 0, -3])
def test_bad_kernel_size_raises(kernel_size):
    with pytest.raises(ValueError, match=f"kernel_size={kernel_size}"):
        MultiScaleFusion(kernel_size=kernel_size)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"strides": 0}, "strides=0"),
        ({"filters": 0}, "filters=0"),
        ({"data_format": "nchw"}, "data_format='nchw'"),
    ],
)
def test_bad_arguments_raise(kwargs, text):
    with pytest.raises(ValueError, match=text):
        MultiScaleFusion(**kwargs)


@pytest.mark.parametrize(
    "strides, in_shape, out_shape",
    [
        (None, (2, 4, 4, 8), (2, 3, 3, 8)),  # no integer stride maps 4 to 3
        (None, (2, 4, 4, 8), (2, 8, 8, 8)),  # the output is larger than the input
        (2, (2, 8, 8, 8), (2, 8, 8, 8)),  # explicit stride that does not fit
    ],
)
def test_size_mismatch_raises_with_both_shapes(strides, in_shape, out_shape):
    layer = MultiScaleFusion(kernel_size=3, strides=strides, data_format="channels_last")
    with pytest.raises(ValueError) as info:
        layer.build([in_shape, out_shape])
    assert str(in_shape) in str(info.value) and str(out_shape) in str(info.value)
