"""What the two Morlet channel gates share (`ferzoo/layers/_channel_gate.py`): wCA and wSE through
the layer harness, the gate itself (output = input x weights in (0, 1)), a bad Morlet scale.

Their own numeric facts are in test_wavelet_channel_attention.py and
test_wavelet_squeeze_excitation.py.
"""

import keras
import numpy as np
import pytest

from ferzoo.layers import WaveletChannelAttention, WaveletSqueezeExcitation
from tests.testing import run_layer_test

WCA, WSE = WaveletChannelAttention, WaveletSqueezeExcitation

# (layer, kwargs, input shape = output shape, trainable weights). wCA: two branches of Dense
# (kernel, bias) -> Morlet (a, b) -> Dense (kernel, bias), one when shared; wSE: one branch.
HARNESS = [
    pytest.param(WCA, dict(ratio=4), (2, 6, 6, 8), 12, id="wca"),
    pytest.param(
        WCA, dict(ratio=2, shared=True, data_format="channels_first"), (2, 8, 5, 5), 6,
        id="wca-shared-channels_first",
    ),
    pytest.param(WSE, dict(ratio=4), (2, 6, 6, 8), 6, id="wse"),
    pytest.param(
        WSE, dict(ratio=2, data_format="channels_first"), (2, 8, 5, 5), 6,
        id="wse-channels_first",
    ),
]  # fmt: skip


@pytest.mark.parametrize("cls, kwargs, shape, trainable", HARNESS)
def test_harness(cls, kwargs, shape, trainable, tmp_path):
    run_layer_test(
        cls,
        kwargs,
        shape,
        shape,
        expected_num_trainable_weights=trainable,
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize(
    "cls, kwargs", [(WCA, dict(ratio=4, max_ratio=2)), (WSE, dict(ratio=3))], ids=["wca", "wse"]
)
def test_output_is_input_times_weights_in_unit_interval(cls, kwargs, data_format):
    shape = (3, 5, 5, 12) if data_format == "channels_last" else (3, 12, 5, 5)
    broadcast = (3, 1, 1, 12) if data_format == "channels_last" else (3, 12, 1, 1)
    x = np.random.default_rng(1).standard_normal(shape).astype("float32") * 3
    layer = cls(**kwargs, data_format=data_format)
    y = keras.ops.convert_to_numpy(layer(x))
    w = keras.ops.convert_to_numpy(layer.attention_weights(x))
    assert w.shape == broadcast
    assert np.all((w > 0) & (w < 1))
    assert np.std(w) > 1e-4  # a per-channel, per-example gate, not a constant
    np.testing.assert_allclose(y, x * w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", [WCA, WSE], ids=["wca", "wse"])
@pytest.mark.parametrize("bad", [0.0, -1.0])
def test_bad_morlet_scale(cls, bad):
    with pytest.raises(ValueError, match=f"scale_initializer={bad}"):
        cls(scale_initializer=bad)
