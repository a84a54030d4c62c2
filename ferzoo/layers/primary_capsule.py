"""Primary capsules: a convolution whose channels are read as squashed capsule vectors."""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers import _checks
from ferzoo.layers.capsule import squash


@keras.saving.register_keras_serializable(package="ferzoo")
class PrimaryCapsule(keras.layers.Layer):
    """Primary capsule layer: conv, reshape into capsule vectors, squash (Sabour et al. 2017).

    A convolution with `num_capsules * capsule_dim` filters is applied to the feature map; at each
    output position its channels are split into `num_capsules` vectors of size `capsule_dim`, and
    all positions' capsules are listed one after another, giving
    `(batch, H' * W' * num_capsules, capsule_dim)`. Each vector is then squashed. The capsule order
    is (row, column, capsule) for both data formats, so a model gives the same capsules whichever
    format it runs in. As in Sabour et al., the convolution has no activation of its own: the
    squash is the nonlinearity.

    Args:
        num_capsules: capsule channels per spatial position.
        capsule_dim: dimension of each capsule vector.
        kernel_size: size of the (square) convolution kernel. Defaults to 3.
        strides: stride of the convolution. Defaults to 1.
        padding: `"valid"` or `"same"`. Defaults to `"valid"`.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        kernel_initializer: initializer of the convolution kernel.
        kernel_regularizer: regularizer of the convolution kernel.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a 4D feature map, `(batch, H, W, C)` or `(batch, C, H, W)`.

    Returns:
        Tensor of shape `(batch, H' * W' * num_capsules, capsule_dim)`, every vector of length
        below 1.

    Example:
    >>> layer = PrimaryCapsule(num_capsules=8, capsule_dim=8, kernel_size=3)
    >>> layer(keras.ops.ones((2, 7, 7, 64))).shape
    (2, 200, 8)

    Reference:
    - [Sabour et al., Dynamic Routing Between Capsules, NeurIPS 2017](https://arxiv.org/abs/1710.09829)
      (PrimaryCaps: 32 capsule channels of 8D vectors from a 9x9 stride-2 convolution). The WAMF
      paper does not give its primary capsule sizes; ferzoo's defaults (3x3, stride 1, valid)
      suit the 7x7 feature map a ResNet-18 gives at 224x224 input.
    """

    def __init__(
        self,
        num_capsules: int,
        capsule_dim: int,
        kernel_size: int = 3,
        strides: int = 1,
        padding: str = "valid",
        data_format: str | None = None,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _checks.positive_int("num_capsules", num_capsules)
        _checks.positive_int("capsule_dim", capsule_dim)
        _checks.positive_int("kernel_size", kernel_size)
        _checks.positive_int("strides", strides)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same'. Received: padding={padding!r}")
        # `or None`: an empty data_format also means the keras default here.
        data_format = _checks.data_format(data_format or None)
        self.num_capsules = num_capsules
        self.capsule_dim = capsule_dim
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.data_format = data_format
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        _checks.feature_map_shape("PrimaryCapsule", input_shape)
        self.conv = keras.layers.Conv2D(
            self.num_capsules * self.capsule_dim,
            self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            data_format=self.data_format,
            kernel_initializer=self.kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="conv",
        )
        self.conv.build(input_shape)

    def _conv_length(self, size):
        if size is None:
            return None
        if self.padding == "same":
            return -(-size // self.strides)
        return max(0, (size - self.kernel_size) // self.strides + 1)

    def _num_output_capsules(self, input_shape):
        if self.data_format == "channels_last":
            height, width = input_shape[1], input_shape[2]
        else:
            height, width = input_shape[2], input_shape[3]
        height, width = self._conv_length(height), self._conv_length(width)
        if height is None or width is None:
            return None
        return height * width * self.num_capsules

    def call(self, inputs):
        features = self.conv(inputs)
        if self.data_format == "channels_first":
            features = ops.transpose(features, (0, 2, 3, 1))
        size = tuple(features.shape[1:])
        if None in size:
            capsules = ops.reshape(features, (ops.shape(features)[0], -1, self.capsule_dim))
        else:  # a constant shape (batch -1): no Shape-driven Reshape in an exported graph
            count = size[0] * size[1] * size[2] // self.capsule_dim
            capsules = ops.reshape(features, (-1, count, self.capsule_dim))
        return squash(capsules, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self._num_output_capsules(input_shape), self.capsule_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_capsules": self.num_capsules,
                "capsule_dim": self.capsule_dim,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "data_format": self.data_format,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
