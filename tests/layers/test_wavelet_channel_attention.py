"""Tests for WaveletChannelAttention (wCA): its numbers, sharing, bad ratios (the harness and the
gate: test_channel_gate.py)."""

import keras
import numpy as np
import pytest

from ferzoo.layers import MorletActivation, WaveletChannelAttention


def test_weights_match_numpy_forward():
    x = np.random.default_rng(2).standard_normal((2, 4, 4, 8)).astype("float32")
    layer = WaveletChannelAttention(ratio=2, scale_initializer=1.3, shift_initializer=0.1)
    w = keras.ops.convert_to_numpy(layer.attention_weights(x))[:, 0, 0, :]

    def branch(layers, v):
        reduce, morlet, expand = layers
        k1, b1 = (keras.ops.convert_to_numpy(t) for t in (reduce.kernel, reduce.bias))
        k2, b2 = (keras.ops.convert_to_numpy(t) for t in (expand.kernel, expand.bias))
        t = (v @ k1 + b1 - 0.1) / 1.3
        return (np.cos(1.75 * t) * np.exp(-(t**2) / 2)) @ k2 + b2

    logits = branch(layer.max_branch, x.max(axis=(1, 2))) + branch(
        layer.avg_branch, x.mean(axis=(1, 2))
    )
    np.testing.assert_allclose(w, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)


def test_branch_ratios_and_sharing():
    x = np.zeros((1, 3, 3, 16), "float32")
    layer = WaveletChannelAttention(ratio=4, avg_ratio=8)
    layer(x)
    assert layer.max_branch[0].units == 4 and layer.avg_branch[0].units == 2
    assert isinstance(layer.max_branch[1], MorletActivation)
    # Two branches: 2 convs (kernel + bias) and one Morlet (a, b) each.
    assert layer.count_params() == (16 * 4 + 4 + 4 * 16 + 16 + 2) + (16 * 2 + 2 + 2 * 16 + 16 + 2)
    shared = WaveletChannelAttention(ratio=4, shared=True, use_bias=False)
    shared(x)
    assert all(a is b for a, b in zip(shared.max_branch, shared.avg_branch, strict=True))
    assert shared.count_params() == 16 * 4 * 2 + 2


def test_paper_sized_parameter_counts():
    # The table in the class docstring, on MCNN's 192 channels.
    x = np.zeros((1, 2, 2, 192), "float32")
    for kwargs, expected in [
        (dict(ratio=4), 37348),
        (dict(ratio=16), 9628),
        (dict(ratio=8, shared=True), 9434),
        (dict(max_ratio=4, avg_ratio=8), 28108),
    ]:
        layer = WaveletChannelAttention(**kwargs)
        layer(x)
        assert layer.count_params() == expected, kwargs


def test_ratio_larger_than_channels():
    layer = WaveletChannelAttention(ratio=16)
    with pytest.raises(ValueError, match="ratio=16") as info:
        layer(np.zeros((1, 4, 4, 8), "float32"))
    assert "channels=8" in str(info.value)
    with pytest.raises(ValueError, match="avg_ratio=32"):
        WaveletChannelAttention(ratio=2, avg_ratio=32)(np.zeros((1, 4, 4, 8), "float32"))


@pytest.mark.parametrize("name", ["ratio", "max_ratio", "avg_ratio"])
@pytest.mark.parametrize("bad", [0, -1, 2.0])
def test_bad_ratios(name, bad):
    with pytest.raises(ValueError, match=f"{name}={bad}"):
        WaveletChannelAttention(**{name: bad})


def test_shared_needs_equal_ratios():
    with pytest.raises(ValueError, match="avg_ratio=8"):
        WaveletChannelAttention(ratio=4, avg_ratio=8, shared=True)
