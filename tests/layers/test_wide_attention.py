"""Tests for the wide attention (WA) layer of the WAMF paper."""

import keras
import numpy as np
import pytest

from ferzoo.layers.wide_attention import WideAttention
from tests.testing import run_layer_test


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_harness_channels_last(tmp_path):
    run_layer_test(
        WideAttention,
        {"reduction": 4, "min_channels": 2, "data_format": "channels_last"},
        (2, 8, 6, 16),
        (2, 8, 6, 16),
        # squeeze and the two excite Denses (kernel, bias); the batch norm's gamma and beta,
        # and its moving mean and variance (non-trainable).
        expected_num_trainable_weights=8,
        expected_num_non_trainable_weights=2,
        tmp_path=tmp_path,
    )


def test_harness_channels_first(tmp_path):
    # WA pools with keras.ops and mixes channels with Dense layers: no conv, so every backend
    # (the TF CPU one included) runs channels_first.
    run_layer_test(
        WideAttention,
        {"reduction": 4, "data_format": "channels_first", "activation": "relu"},
        (2, 16, 8, 6),
        (2, 16, 8, 6),
        expected_num_trainable_weights=8,
        expected_num_non_trainable_weights=2,
        tmp_path=tmp_path,
    )


def test_weights_in_open_unit_interval_and_output_is_input_times_weights():
    keras.utils.set_random_seed(1)
    layer = WideAttention(reduction=2, min_channels=2, data_format="channels_last")
    x = np.random.default_rng(1).standard_normal((2, 8, 6, 8)).astype("float32")
    out = _np(layer(x))
    weights = _np(layer.attention_weights(x))
    assert weights.shape == x.shape
    assert np.all(weights > 0.0) and np.all(weights < 1.0)
    np.testing.assert_allclose(out, x * weights, rtol=1e-6, atol=1e-6)
    # One weight per pixel and channel, varying over both H and W (not a channel-only gate).
    assert np.all(weights.std(axis=1) > 1e-4), "weights do not vary over H"
    assert np.all(weights.std(axis=2) > 1e-4), "weights do not vary over W"
    # The map is the product of a row factor and a column factor: rank one per (batch, channel).
    for b in range(2):
        for c in range(8):
            singular = np.linalg.svd(weights[b, :, :, c], compute_uv=False)
            assert singular[1] < 1e-5 * singular[0]


def test_channels_first_matches_channels_last():
    keras.utils.set_random_seed(2)
    x = np.random.default_rng(2).standard_normal((2, 6, 5, 8)).astype("float32")
    last = WideAttention(reduction=2, data_format="channels_last")
    first = WideAttention(reduction=2, data_format="channels_first")
    last.build(x.shape)
    first.build((2, 8, 6, 5))
    first.set_weights(last.get_weights())
    out_last = _np(last(x))
    out_first = _np(first(np.transpose(x, (0, 3, 1, 2))))
    np.testing.assert_allclose(np.transpose(out_first, (0, 2, 3, 1)), out_last, atol=1e-5)


def test_bottleneck_width():
    layer = WideAttention(reduction=4, min_channels=3, data_format="channels_last")
    layer.build((None, 8, 8, 32))
    assert layer.mid_channels == 8
    layer = WideAttention(reduction=32, min_channels=3, data_format="channels_last")
    layer.build((None, 8, 8, 32))
    assert layer.mid_channels == 3


def test_reduction_larger_than_channels_raises():
    layer = WideAttention(reduction=64, data_format="channels_last")
    with pytest.raises(ValueError, match=r"reduction.*64|64.*reduction"):
        layer.build((None, 8, 8, 16))


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"reduction": 0}, "reduction=0"),
        ({"min_channels": 0}, "min_channels=0"),
        ({"data_format": "nhwc"}, "data_format='nhwc'"),
        ({"activation": "no_such_activation"}, "no_such_activation"),
    ],
)
def test_bad_arguments_raise(kwargs, text):
    with pytest.raises(ValueError, match=text):
        WideAttention(**kwargs)
