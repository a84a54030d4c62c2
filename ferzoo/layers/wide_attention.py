"""Wide attention (WA): direction-aware attention from average- and max-pooled strips."""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers import _checks
from ferzoo.layers._shapes import with_unit_axes


@keras.saving.register_keras_serializable(package="ferzoo")
class WideAttention(keras.layers.Layer):
    """Wide attention (WA) of the WAMF paper: a weight for every pixel and channel.

    The paper describes WA in words only (its Figure 2): average and max pooling along the
    horizontal and vertical axes; the average-pooled H and W results are recombined, as are the
    max-pooled ones; the results are separated along H and W; the H parts are recombined, as are
    the W parts; the two are combined into a weight per pixel that multiplies the input.

    ferzoo's reading, in the spirit of coordinate attention (Hou et al. 2021) extended with max
    pooling (the paper's point: max pooling keeps texture, average pooling keeps background):

    1. Pool along W and along H, with mean and with max: strips `avg_h, max_h` of shape
       `(B, H, C)` and `avg_w, max_w` of shape `(B, W, C)`.
    2. "Recombine" = concatenate the H and W strips of each pool type along the spatial axis. All
       four strips go through one shared 1x1 convolution `C -> C_mid` (a Dense layer on the
       channel axis, which is the same operation), batch norm and `activation`, where
       `C_mid = max(min_channels, C // reduction)`. The batch norm sees the average- and max-pooled
       strips in one batch, so its statistics are updated once per call.
    3. "Separate" = split back into the H and W parts of each pool type.
    4. "Recombine the H parts, and the W parts" = sum: `f_h = avg_h' + max_h'`,
       `f_w = avg_w' + max_w'` (a sum keeps C_mid channels and treats both pool types alike; the
       paper gives no operator).
    5. A 1x1 convolution `C_mid -> C` and a sigmoid per direction give `a_h (B, H, C)` and
       `a_w (B, W, C)`; "combining" them is the broadcast product, so the weight of pixel (h, w) in
       channel c is `a_h[h, c] * a_w[w, c]`, strictly inside (0, 1).
    6. `output = input * a_h * a_w`.

    Args:
        reduction: channel reduction ratio `r` of the bottleneck, at least 1 and at most the
            number of input channels. Defaults to 32 (coordinate attention's value).
        min_channels: lower bound on the bottleneck width. Defaults to 8 (as coordinate attention).
        activation: nonlinearity after the bottleneck batch norm. Defaults to `"hard_swish"`, the
            choice of coordinate attention, whose structure this reading follows.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        kernel_initializer: initializer of the 1x1 convolution kernels.
        kernel_regularizer: regularizer of the 1x1 convolution kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a 4D feature map, `(batch, H, W, C)` or `(batch, C, H, W)`.
        training: whether the batch norm runs in training mode.

    Returns:
        A tensor of the input's shape. `layer.attention_weights(inputs)` returns the weights
        `a_h * a_w` broadcast to the input's shape, so that `output == inputs * weights`.

    Example:
    >>> layer = WideAttention(reduction=4)
    >>> layer(keras.ops.ones((2, 8, 8, 16))).shape
    (2, 8, 8, 16)

    Reference:
    - WAMF paper: "Facial expression recognition based on wide attention and multi-scale fusion",
      section on WA and its Figure 2.
    - [Hou et al., Coordinate Attention for Efficient Mobile Network Design, CVPR 2021](https://arxiv.org/abs/2103.02907)
    """

    def __init__(
        self,
        reduction: int = 32,
        min_channels: int = 8,
        activation="hard_swish",
        data_format: str | None = None,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _checks.positive_int("reduction", reduction, requirement="an int >= 1")
        _checks.positive_int("min_channels", min_channels, requirement="an int >= 1")
        # `or None`: an empty data_format also means the keras default here.
        data_format = _checks.data_format(data_format or None)
        self.activation = _checks.activation(activation)
        self.reduction = reduction
        self.min_channels = min_channels
        self.data_format = data_format
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        _checks.feature_map_shape("WideAttention", input_shape)
        channels = input_shape[-1] if self.data_format == "channels_last" else input_shape[1]
        if channels is None:
            raise ValueError(
                f"The channel dimension must be known. Received: input_shape={input_shape}"
            )
        if self.reduction > channels:
            raise ValueError(
                "reduction must not exceed the number of input channels "
                f"({channels}). Received: reduction={self.reduction}"
            )
        self.channels = channels
        self.mid_channels = max(self.min_channels, channels // self.reduction)

        def dense(units, name):
            return keras.layers.Dense(
                units,
                kernel_initializer=self.kernel_initializer,
                kernel_regularizer=self.kernel_regularizer,
                dtype=self.dtype_policy,
                name=name,
            )

        self.squeeze = dense(self.mid_channels, "squeeze")
        self.squeeze.build((None, None, channels))
        self.norm = keras.layers.BatchNormalization(axis=-1, dtype=self.dtype_policy, name="norm")
        self.norm.build((None, None, self.mid_channels))
        self.excite_h = dense(channels, "excite_h")
        self.excite_h.build((None, None, self.mid_channels))
        self.excite_w = dense(channels, "excite_w")
        self.excite_w.build((None, None, self.mid_channels))

    def _direction_weights(self, inputs, training=None):
        """Return `a_h (B, H, C)` and `a_w (B, W, C)`."""
        if self.data_format == "channels_last":  # (B, H, W, C)
            avg_h, max_h = ops.mean(inputs, axis=2), ops.max(inputs, axis=2)
            avg_w, max_w = ops.mean(inputs, axis=1), ops.max(inputs, axis=1)
        else:  # (B, C, H, W): pool, then put channels last.
            avg_h = ops.transpose(ops.mean(inputs, axis=3), (0, 2, 1))
            max_h = ops.transpose(ops.max(inputs, axis=3), (0, 2, 1))
            avg_w = ops.transpose(ops.mean(inputs, axis=2), (0, 2, 1))
            max_w = ops.transpose(ops.max(inputs, axis=2), (0, 2, 1))
        # Python ints where the map's size is known: constant slices in an exported graph.
        height = avg_h.shape[1] if avg_h.shape[1] is not None else ops.shape(avg_h)[1]
        width = avg_w.shape[1] if avg_w.shape[1] is not None else ops.shape(avg_w)[1]
        strips = ops.concatenate([avg_h, avg_w, max_h, max_w], axis=1)  # (B, 2(H+W), C)
        strips = self.activation(self.norm(self.squeeze(strips), training=training))
        # Split back, then sum the average and max parts per direction.
        f_h = strips[:, :height] + strips[:, height + width : 2 * height + width]
        f_w = strips[:, height : height + width] + strips[:, 2 * height + width :]
        a_h = ops.sigmoid(self.excite_h(f_h))
        a_w = ops.sigmoid(self.excite_w(f_w))
        return a_h, a_w

    def attention_weights(self, inputs, training=None):
        """The per-pixel, per-channel weights `a_h * a_w`, broadcast to the input's shape."""
        a_h, a_w = self._direction_weights(inputs, training=training)
        if self.data_format == "channels_last":
            weights = with_unit_axes(a_h, (2,)) * with_unit_axes(a_w, (1,))
        else:
            a_h = ops.transpose(a_h, (0, 2, 1))  # (B, C, H)
            a_w = ops.transpose(a_w, (0, 2, 1))  # (B, C, W)
            weights = with_unit_axes(a_h, (3,)) * with_unit_axes(a_w, (2,))
        return weights

    def call(self, inputs, training=None):
        return inputs * self.attention_weights(inputs, training=training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "min_channels": self.min_channels,
                "activation": keras.activations.serialize(self.activation),
                "data_format": self.data_format,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
