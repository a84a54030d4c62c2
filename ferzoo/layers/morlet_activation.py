"""The parameterised Morlet wavelet activation of the wCA module (the MsC-wCA paper)."""

from __future__ import annotations

import math

import keras
from keras import ops

from ferzoo.layers import _checks
from ferzoo.layers._precision import at_least_float32

#: Smallest value the effective scale `a` can take; a power of two, so that `a` at
#: initialisation equals `scale_initializer` exactly (see `MorletActivation`).
MIN_SCALE = 2.0**-10


def _is_real_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@keras.saving.register_keras_serializable(package="ferzoo")
class MorletActivation(keras.layers.Layer):
    """Parameterised real Morlet wavelet: `y = psi((x - b) / a)`, `psi(t) = cos(1.75 t) exp(-t^2/2)`.

    The scale `a` and the shift `b` are trainable. `a` must stay strictly positive, so the
    layer stores a raw weight `raw_scale` and uses `a = |raw_scale| + MIN_SCALE` with
    `MIN_SCALE = 2**-10`. The raw weight starts at `scale_initializer - MIN_SCALE`; because
    `MIN_SCALE` is a power of two, the subtraction and the addition are exact in float32 for
    any `scale_initializer` in `[2**-10, 2**13]`, so `a` at initialisation equals
    `float32(scale_initializer)` exactly. The absolute value (rather than softplus or exp)
    keeps `da/d raw_scale = +-1`: while `a > MIN_SCALE` the layer trains exactly like the
    paper's plain scalar `a`, and if the optimiser pushes `raw_scale` through zero, `a`
    bounces off `MIN_SCALE` instead of reaching zero or getting stuck.

    Args:
        scale_initializer: float, the initial scale `a`. Must be `>= MIN_SCALE` (about 1e-3).
            Defaults to `1.0`.
        shift_initializer: float, the initial shift `b`. Defaults to `0.0`.
        per_channel: bool. `False` (the paper's reading) learns one scalar `a` and one scalar
            `b`; `True` learns one `(a, b)` pair per channel, the channel axis being given by
            `data_format`. Defaults to `False`.
        data_format: `"channels_last"` or `"channels_first"`; only used with
            `per_channel=True`. Defaults to `keras.config.image_data_format()`.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: a tensor of any rank (rank >= 2 with `per_channel=True`).

    Returns:
        A tensor of the same shape as `inputs`.

    Example:
    ```python
    import keras
    import numpy as np
    layer = MorletActivation(scale_initializer=2.0, shift_initializer=0.5)
    y = layer(np.array([[0.5, 1.0, 2.5]], "float32"))  # psi(0), psi(0.25), psi(1)
    keras.ops.convert_to_numpy(layer.scale)  # 2.0
    ```

    Reference:
        Liu et al., "Multiscale wavelet attention convolutional network for facial expression
        recognition", Sci. Rep. 15, 22219 (2025): "a parameterized first-order Morlet wavelet
        transform y(x) = cos(1.75 (x - b)/a) exp(-((x - b)/a)^2 / 2), where the trainable
        translation (b) and scaling (a) parameters are introduced". The paper does not say how
        `a` is kept away from zero nor whether `a`, `b` are per channel; we read them as
        scalars (the text calls them "the trainable scale factor and shift factor") and keep
        `a > 0` as described above.
        Under a mixed-precision policy the layer computes in float32 and returns its compute
        dtype: in float16, `t` overflows for a small `a` and `exp(-t^2/2)` underflows.
    """

    def __init__(
        self,
        scale_initializer: float = 1.0,
        shift_initializer: float = 0.0,
        per_channel: bool = False,
        data_format: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            not _is_real_number(scale_initializer)
            or not math.isfinite(scale_initializer)
            or scale_initializer <= 0
        ):
            raise ValueError(
                "scale_initializer must be a finite positive number. "
                f"Received: scale_initializer={scale_initializer}"
            )
        if scale_initializer < MIN_SCALE:
            raise ValueError(
                f"scale_initializer must be >= MIN_SCALE={MIN_SCALE} (the smallest scale the "
                f"layer can represent). Received: scale_initializer={scale_initializer}"
            )
        if not _is_real_number(shift_initializer) or not math.isfinite(shift_initializer):
            raise ValueError(
                f"shift_initializer must be a finite number. Received: shift_initializer={shift_initializer}"
            )
        if not isinstance(per_channel, bool):
            raise ValueError(f"per_channel must be a bool. Received: per_channel={per_channel}")
        data_format = _checks.data_format(data_format, quote=False)
        self.scale_initializer = float(scale_initializer)
        self.shift_initializer = float(shift_initializer)
        self.per_channel = per_channel
        self.data_format = data_format
        self.supports_masking = True

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def build(self, input_shape):
        if self.per_channel:
            if len(input_shape) < 2:
                raise ValueError(
                    "per_channel=True needs inputs of rank >= 2. "
                    f"Received: input_shape={tuple(input_shape)}"
                )
            channels = input_shape[self._channel_axis()]
            if channels is None:
                raise ValueError(
                    "per_channel=True needs a known channel dimension. "
                    f"Received: input_shape={tuple(input_shape)}"
                )
            weight_shape = (int(channels),)
        else:
            weight_shape = ()
        self.raw_scale = self.add_weight(
            name="raw_scale",
            shape=weight_shape,
            initializer=keras.initializers.Constant(self.scale_initializer - MIN_SCALE),
            trainable=True,
            autocast=False,  # `a` and `b` enter the float32 arithmetic of `call` unrounded
        )
        self.shift = self.add_weight(
            name="shift",
            shape=weight_shape,
            initializer=keras.initializers.Constant(self.shift_initializer),
            trainable=True,
            autocast=False,
        )

    @property
    def scale(self):
        """The effective (strictly positive) scale `a = |raw_scale| + MIN_SCALE`."""
        if not self.built:
            raise ValueError(f"Layer {self.name} is not built yet; call it on an input first.")
        return ops.abs(self.raw_scale) + MIN_SCALE

    def _broadcastable(self, weight, rank: int):
        if self.per_channel and self.data_format == "channels_first" and rank > 2:
            return ops.reshape(weight, (-1,) + (1,) * (rank - 2))
        return weight

    def call(self, inputs):
        # In float16, `(x - b) / a` overflows for a small `a` (cos(inf) is NaN), and
        # exp(-t^2/2) and its gradient vanish from |t| ~ 5 on: compute in (at least) float32.
        x = at_least_float32(inputs)
        rank = len(x.shape)
        scale = ops.cast(self._broadcastable(self.scale, rank), x.dtype)
        shift = ops.cast(self._broadcastable(self.shift, rank), x.dtype)
        t = (x - shift) / scale
        return ops.cast(ops.cos(1.75 * t) * ops.exp(-0.5 * ops.square(t)), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "scale_initializer": self.scale_initializer,
                "shift_initializer": self.shift_initializer,
                "per_channel": self.per_channel,
                "data_format": self.data_format,
            }
        )
        return config
