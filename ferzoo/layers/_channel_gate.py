"""What `WaveletChannelAttention` and `WaveletSqueezeExcitation` share: a per-channel gate.

Both pool the input over its spatial axes, map the pooled vector(s) to channel logits through
`Dense -> MorletActivation -> Dense`, and multiply the input by the sigmoid of the logits. The
subclass says how the logits are made (`_logits`); this class holds the common arguments and
the rest.
"""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers import _checks
from ferzoo.layers._shapes import with_unit_axes
from ferzoo.layers.morlet_activation import MorletActivation


def channels_and_spatial_axes(input_shape, data_format):
    """Return `(channels, spatial_axes)` of a shape of rank >= 3."""
    rank = len(input_shape)
    if rank < 3:
        raise ValueError(
            "Channel attention expects inputs of rank >= 3 (batch, spatial..., channels). "
            f"Received: input_shape={tuple(input_shape)}"
        )
    if data_format == "channels_last":
        channels, spatial_axes = input_shape[-1], tuple(range(1, rank - 1))
    else:
        channels, spatial_axes = input_shape[1], tuple(range(2, rank))
    if channels is None:
        raise ValueError(
            f"The channel dimension must be known. Received: input_shape={tuple(input_shape)}"
        )
    return int(channels), spatial_axes


def broadcast_per_channel(weights, spatial_axes):
    """`(batch, C)` -> `(batch, 1, 1, C)` or `(batch, C, 1, 1)`: a size-1 axis per spatial axis."""
    return with_unit_axes(weights, spatial_axes)


def check_ratio_fits(argument: str, ratio: int, channels: int) -> None:
    """Raise if `ratio` leaves no hidden unit for `channels` input channels."""
    if ratio > channels:
        raise ValueError(
            f"{argument}={ratio} is larger than the number of input channels "
            f"({channels}): the hidden layer would have no unit. "
            f"Received: {argument}={ratio}, channels={channels}"
        )


class MorletChannelGate(keras.layers.Layer):
    """Base of the Morlet channel gates; not registered, never built on its own.

    Args: `use_bias`, `data_format`, `kernel_initializer`, `bias_initializer`,
    `kernel_regularizer`, `scale_initializer`, `shift_initializer`, as documented in the
    subclasses. A subclass's `build` must set `self._spatial_axes` (see
    `channels_and_spatial_axes`) and its `_logits(inputs)` must return `(batch, C)` logits.
    """

    def __init__(
        self,
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
        # Validates the Morlet arguments now rather than at build time.
        MorletActivation(scale_initializer=scale_initializer, shift_initializer=shift_initializer)
        self.use_bias = use_bias
        self.data_format = _checks.data_format(data_format, quote=False)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.scale_initializer = float(scale_initializer)
        self.shift_initializer = float(shift_initializer)

    def _dense(self, units: int, name: str):
        return keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            # A fresh initializer per layer, so that the layers do not share seeds.
            kernel_initializer=keras.initializers.get(
                keras.initializers.serialize(self.kernel_initializer)
            ),
            bias_initializer=self.bias_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _morlet(self, name: str):
        return MorletActivation(
            scale_initializer=self.scale_initializer,
            shift_initializer=self.shift_initializer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _logits(self, inputs):
        raise NotImplementedError

    def attention_weights(self, inputs):
        """The per-channel sigmoid weights, shaped to broadcast against `inputs`."""
        if not self.built:
            self.build(tuple(inputs.shape))
        return broadcast_per_channel(ops.sigmoid(self._logits(inputs)), self._spatial_axes)

    def call(self, inputs):
        return inputs * self.attention_weights(inputs)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
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
