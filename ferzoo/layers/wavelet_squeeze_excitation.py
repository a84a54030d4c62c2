"""The wavelet squeeze-and-excitation (wSE) module, the MsC-wCA paper's failure case."""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers import _checks
from ferzoo.layers._channel_gate import (
    MorletChannelGate,
    channels_and_spatial_axes,
    check_ratio_fits,
)


@keras.saving.register_keras_serializable(package="ferzoo")
class WaveletSqueezeExcitation(MorletChannelGate):
    """Wavelet squeeze-and-excitation (wSE): SE with a Morlet activation in place of ReLU.

    For an input with `C` channels: global average pooling gives a `(batch, C)` vector, which
    goes through `Dense(C // ratio)`, `MorletActivation`, `Dense(C)` and a sigmoid; the
    result multiplies the input channel by channel. Unlike `WaveletChannelAttention` there is
    no max-pooling branch.

    Args:
        ratio: int >= 1, the channel reduction (hidden units `C // ratio`). Must not exceed the
            channel count. Defaults to `4`, the ratio the paper uses for wCA.
        use_bias: bool, biases in the two fully connected layers. Defaults to `True`.
        kernel_initializer, bias_initializer, kernel_regularizer: for the two dense layers.
        data_format, scale_initializer, shift_initializer, **kwargs: as
            `WaveletChannelAttention`'s.

    Call arguments and returns: as `WaveletChannelAttention`'s (`inputs * weights`, the
    weights from `layer.attention_weights(inputs)`).

    Example:
    ```python
    import numpy as np
    x = np.random.rand(2, 16, 16, 32).astype("float32")
    y = WaveletSqueezeExcitation(ratio=4)(x)  # (2, 16, 16, 32)
    ```

    Reference:
        Liu et al., "Multiscale wavelet attention convolutional network for facial expression
        recognition", Sci. Rep. 15, 22219 (2025), section "Failure cases": "The wSE module
        modifies the original SE structure by replacing the ReLU activation with a Morlet
        wavelet transform function", relying "only on global average pooling"; it was placed
        after MCNN's first pooling layer (wSE-MCNN). The paper gives no ratio for wSE; we use
        wCA's ratio 4 so that the two modules differ only in the max-pooling branch. SE's
        excitation is two fully connected layers (Hu et al., 2018), written here as `Dense`.
    """

    def __init__(
        self,
        ratio: int = 4,
        **kwargs,
    ):
        ratio = _checks.positive_int("ratio", ratio, quote=False)
        super().__init__(**kwargs)  # use_bias, data_format, the initializers, the Morlet's
        self.ratio = ratio

    def build(self, input_shape):
        channels, self._spatial_axes = channels_and_spatial_axes(input_shape, self.data_format)
        check_ratio_fits("ratio", self.ratio, channels)
        hidden = channels // self.ratio
        self.squeeze = self._dense(hidden, "squeeze")
        self.morlet = self._morlet("morlet")
        self.excite = self._dense(channels, "excite")
        self.squeeze.build((None, channels))
        self.morlet.build((None, hidden))
        self.excite.build((None, hidden))

    def _logits(self, inputs):
        pooled = ops.mean(inputs, axis=self._spatial_axes)
        return self.excite(self.morlet(self.squeeze(pooled)))

    def get_config(self):
        config = super().get_config()
        config["ratio"] = self.ratio
        return config
