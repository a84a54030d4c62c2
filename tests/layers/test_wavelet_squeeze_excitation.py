"""Tests for WaveletSqueezeExcitation (wSE): its numbers, bad ratios (the harness and the gate:
test_channel_gate.py)."""

import keras
import numpy as np
import pytest

from ferzoo.layers import WaveletSqueezeExcitation


def test_weights_match_numpy_forward_average_pooling_only():
    x = np.random.default_rng(2).standard_normal((2, 4, 4, 8)).astype("float32")
    layer = WaveletSqueezeExcitation(ratio=2, scale_initializer=0.8, shift_initializer=-0.2)
    w = keras.ops.convert_to_numpy(layer.attention_weights(x))[:, 0, 0, :]
    k1, b1, k2, b2 = (
        keras.ops.convert_to_numpy(t)
        for t in (layer.squeeze.kernel, layer.squeeze.bias, layer.excite.kernel, layer.excite.bias)
    )
    t = (x.mean(axis=(1, 2)) @ k1 + b1 + 0.2) / 0.8
    logits = (np.cos(1.75 * t) * np.exp(-(t**2) / 2)) @ k2 + b2
    np.testing.assert_allclose(w, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    # Average pooling only: moving a channel's maximum without changing its mean changes nothing.
    x2 = x.copy()
    x2[:, 0, 0, :] += 1.0
    x2[:, 1, 1, :] -= 1.0
    w2 = keras.ops.convert_to_numpy(layer.attention_weights(x2))[:, 0, 0, :]
    np.testing.assert_allclose(w2, w, rtol=1e-5, atol=1e-6)
    assert layer.count_params() == 8 * 4 + 4 + 4 * 8 + 8 + 2


def test_ratio_larger_than_channels():
    with pytest.raises(ValueError, match="ratio=16") as info:
        WaveletSqueezeExcitation(ratio=16)(np.zeros((1, 4, 4, 8), "float32"))
    assert "channels=8" in str(info.value)


@pytest.mark.parametrize("bad", [0, -4, 1.5])
def test_bad_ratio(bad):
    with pytest.raises(ValueError, match=f"ratio={bad}"):
        WaveletSqueezeExcitation(ratio=bad)
