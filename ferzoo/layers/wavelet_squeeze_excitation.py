"""The wavelet squeeze-and-excitation (wSE) module, seed 003's failure case."""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers.morlet_activation import MorletActivation
from ferzoo.layers.wavelet_channel_attention import (
    _broadcast_per_channel,
    _channels_and_spatial_axes,
    _check_data_format,
    _check_ratio,
)


@keras.saving.register_keras_serializable(package="ferzoo")
class WaveletSqueezeExcitation(keras.layers.Layer):
    """Wavelet squeeze-and-excitation (wSE): SE with a Morlet activation in place of ReLU.

    For an input with `C` channels: global average pooling gives a `(batch, C)` vector, which
    goes through `Dense(C // ratio)`, `MorletActivation`, `Dense(C)` and a sigmoid; the
    result multiplies the input channel by channel. Unlike `WaveletChannelAttention` there is
    no max-pooling branch.

    Args:
        ratio: int >= 1, the channel reduction (hidden units `C // ratio`). Must not exceed the
            channel count. Defaults to `4`, the ratio the paper uses for wCA.
        use_bias: bool, biases in the two fully connected layers. Defaults to `True`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        kernel_initializer, bias_initializer, kernel_regularizer: for the two dense layers.
        scale_initializer, shift_initializer: initial Morlet scale `a` and shift `b`
            (see `MorletActivation`). Default `1.0` and `0.0`.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: a tensor of rank >= 3, e.g. `(batch, height, width, channels)` or
            `(batch, channels, height, width)`.

    Returns:
        A tensor of the shape of `inputs`: `inputs * attention_weights(inputs)`.
        `layer.attention_weights(inputs)` returns the sigmoid weights in `(0, 1)`, shaped
        `(batch, 1, 1, C)` (`(batch, C, 1, 1)` for channels_first).

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
        use_bias: bool = True,
        data_format: str | None = None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        scale_initializer: float = 1.0,
        shift_initializer: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.ratio = _check_ratio("ratio", ratio)
        # Validates the Morlet arguments now rather than at build time.
        MorletActivation(scale_initializer=scale_initializer, shift_initializer=shift_initializer)
        self.use_bias = use_bias
        self.data_format = _check_data_format(data_format)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.scale_initializer = float(scale_initializer)
        self.shift_initializer = float(shift_initializer)

    def _dense(self, units: int, name: str):
        return keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        channels, self._spatial_axes = _channels_and_spatial_axes(input_shape, self.data_format)
        if self.ratio > channels:
            raise ValueError(
                f"ratio={self.ratio} is larger than the number of input channels "
                f"({channels}): the hidden layer would have no unit. "
                f"Received: ratio={self.ratio}, channels={channels}"
            )
        hidden = channels // self.ratio
        self.squeeze = self._dense(hidden, "squeeze")
        self.morlet = MorletActivation(
            scale_initializer=self.scale_initializer,
            shift_initializer=self.shift_initializer,
            dtype=self.dtype_policy,
            name="morlet",
        )
        self.excite = self._dense(channels, "excite")
        self.squeeze.build((None, channels))
        self.morlet.build((None, hidden))
        self.excite.build((None, hidden))

    def attention_weights(self, inputs):
        """The per-channel sigmoid weights, shaped to broadcast against `inputs`."""
        if not self.built:
            self.build(tuple(inputs.shape))
        pooled = ops.mean(inputs, axis=self._spatial_axes)
        logits = self.excite(self.morlet(self.squeeze(pooled)))
        return _broadcast_per_channel(ops.sigmoid(logits), self._spatial_axes)

    def call(self, inputs):
        return inputs * self.attention_weights(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "ratio": self.ratio,
                "use_bias": self.use_bias,
                "data_format": self.data_format,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "scale_initializer": self.scale_initializer,
                "shift_initializer": self.shift_initializer,
            }
        )
        return config
