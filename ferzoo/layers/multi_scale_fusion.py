"""Multi-scale fusion (MF): fuse a ResNet stage's input with its output."""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers import _checks


def _same_conv_length(size: int, stride: int) -> int:
    return -(-size // stride)


@keras.saving.register_keras_serializable(package="ferzoo")
class MultiScaleFusion(keras.layers.Layer):
    """Multi-scale fusion (MF) of the WAMF paper: `Conv1x1(concat(stage_output, Conv_k(stage_input)))`.

    The stage input goes through a `kernel_size` x `kernel_size` convolution with the stride and
    channel count that bring it to the stage output's size and channels ("same" padding), is
    concatenated with the stage output along the channel axis, and a 1x1 convolution brings the
    result back to `filters` channels (by default the stage output's). Each convolution is followed
    by batch norm (if `use_batch_norm`) and `activation`.

    The paper uses a 1x1 kernel for stage 1, whose input and output already have the same size and
    channels, and 7, 5, 3 for stages 2, 3, 4. Its text says that for stage 1 "the output feature
    map of the first layer is concatenated with the input and then subjected to a 1x1
    convolution": the input is concatenated directly. ferzoo therefore reads `kernel_size=1` on an
    input that already matches the output (stride 1, equal channels) as the identity (no
    convolution on the input branch); when it does not match, `kernel_size=1` is a strided 1x1
    projection. Any odd kernel size is allowed (a sweep parameter). The paper says nothing about
    normalisation or activations; ferzoo follows the ResNet convention (conv, batch norm, ReLU), so
    the fused map is non-negative like the stage output it replaces.

    Args:
        filters: output channels of the final 1x1 convolution; `None` (default) keeps the stage
            output's channels.
        kernel_size: odd positive kernel size of the input-branch convolution. Defaults to 1.
        strides: stride of the input-branch convolution; `None` (default) infers it at build time
            from the spatial sizes (the integer stride `s` with `ceil(input_size / s) ==
            output_size` in both H and W).
        use_batch_norm: whether each convolution is followed by batch norm (and then has no bias).
        activation: activation after each convolution (and its batch norm). Defaults to `"relu"`.
        data_format: `"channels_last"` or `"channels_first"`; defaults to
            `keras.config.image_data_format()`.
        kernel_initializer: initializer of the convolution kernels.
        kernel_regularizer: regularizer of the convolution kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: a list `[stage_input, stage_output]` of 4D feature maps.
        training: whether batch norm runs in training mode.

    Returns:
        A tensor with the stage output's batch and spatial size and `filters` channels.

    Example:
    >>> layer = MultiScaleFusion(kernel_size=7)
    >>> stage_in, stage_out = keras.ops.ones((2, 8, 8, 16)), keras.ops.ones((2, 4, 4, 32))
    >>> layer([stage_in, stage_out]).shape
    (2, 4, 4, 32)

    Reference:
    - WAMF paper: "Facial expression recognition based on wide attention and multi-scale fusion",
      section on MF and its Figure 3.
    """

    def __init__(
        self,
        filters: int | None = None,
        kernel_size: int = 1,
        strides: int | None = None,
        use_batch_norm: bool = True,
        activation="relu",
        data_format: str | None = None,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        optional = "a positive int or None"
        _checks.positive_int("filters", filters, allow_none=True, requirement=optional)
        _checks.odd_positive_int("kernel_size", kernel_size)
        _checks.positive_int("strides", strides, allow_none=True, requirement=optional)
        # `or None`: an empty data_format also means the keras default here.
        data_format = _checks.data_format(data_format or None)
        self.activation = _checks.activation(activation)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.use_batch_norm = bool(use_batch_norm)
        self.data_format = data_format
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def _split_shape(self, shape):
        """Return ((H, W), C) of a 4D shape."""
        if self.data_format == "channels_last":
            return (shape[1], shape[2]), shape[3]
        return (shape[2], shape[3]), shape[1]

    def _infer_stride(self, input_shape, output_shape):
        in_size, _ = self._split_shape(input_shape)
        out_size, _ = self._split_shape(output_shape)
        known = [
            (i, o)
            for i, o in zip(in_size, out_size, strict=True)
            if i is not None and o is not None
        ]
        if self.strides is not None:
            stride = self.strides
            if any(_same_conv_length(i, stride) != o for i, o in known):
                stride = None
        elif len(known) < 2:
            raise ValueError(
                "MultiScaleFusion cannot infer strides with unknown spatial sizes; pass strides. "
                f"Received: stage_input shape={tuple(input_shape)}, "
                f"stage_output shape={tuple(output_shape)}"
            )
        else:
            stride = next(
                (
                    s
                    for s in range(1, max(i for i, _ in known) + 1)
                    if all(_same_conv_length(i, s) == o for i, o in known)
                ),
                None,
            )
        if stride is None:
            raise ValueError(
                "The stage input cannot be brought to the stage output's spatial size by "
                f"{'strides=' + str(self.strides) if self.strides else 'an integer stride'}. "
                f"Received: stage_input shape={tuple(input_shape)}, "
                f"stage_output shape={tuple(output_shape)}"
            )
        return stride

    def build(self, input_shape):
        if (
            not isinstance(input_shape, list | tuple)
            or len(input_shape) != 2
            or any(not isinstance(s, list | tuple) or len(s) != 4 for s in input_shape)
        ):
            raise ValueError(
                "MultiScaleFusion expects a list [stage_input, stage_output] of two 4D tensors. "
                f"Received: input_shape={input_shape}"
            )
        stage_input_shape, stage_output_shape = (tuple(s) for s in input_shape)
        _, in_channels = self._split_shape(stage_input_shape)
        _, out_channels = self._split_shape(stage_output_shape)
        if in_channels is None or out_channels is None:
            raise ValueError(
                "The channel dimensions must be known. Received: "
                f"stage_input shape={stage_input_shape}, stage_output shape={stage_output_shape}"
            )
        self.stride_ = self._infer_stride(stage_input_shape, stage_output_shape)
        self.identity_input = (
            self.kernel_size == 1 and self.stride_ == 1 and in_channels == out_channels
        )
        channel_axis = -1 if self.data_format == "channels_last" else 1
        self._channel_axis = channel_axis

        def conv(filters, kernel_size, strides, name):
            return keras.layers.Conv2D(
                filters,
                kernel_size,
                strides=strides,
                padding="same",
                use_bias=not self.use_batch_norm,
                data_format=self.data_format,
                kernel_initializer=self.kernel_initializer,
                kernel_regularizer=self.kernel_regularizer,
                dtype=self.dtype_policy,
                name=name,
            )

        def norm(name):
            return keras.layers.BatchNormalization(
                axis=channel_axis, dtype=self.dtype_policy, name=name
            )

        if not self.identity_input:
            self.input_conv = conv(out_channels, self.kernel_size, self.stride_, "input_conv")
            self.input_conv.build(stage_input_shape)
            if self.use_batch_norm:
                self.input_norm = norm("input_norm")
                self.input_norm.build(stage_output_shape)
        filters = self.filters or out_channels
        concat_shape = list(stage_output_shape)
        concat_shape[channel_axis] = 2 * out_channels
        self.fuse_conv = conv(filters, 1, 1, "fuse_conv")
        self.fuse_conv.build(tuple(concat_shape))
        if self.use_batch_norm:
            self.fuse_norm = norm("fuse_norm")
            fused_shape = list(stage_output_shape)
            fused_shape[channel_axis] = filters
            self.fuse_norm.build(tuple(fused_shape))

    def call(self, inputs, training=None):
        stage_input, stage_output = inputs
        branch = stage_input
        if not self.identity_input:
            branch = self.input_conv(branch)
            if self.use_batch_norm:
                branch = self.input_norm(branch, training=training)
            branch = self.activation(branch)
        fused = ops.concatenate([stage_output, branch], axis=self._channel_axis)
        fused = self.fuse_conv(fused)
        if self.use_batch_norm:
            fused = self.fuse_norm(fused, training=training)
        return self.activation(fused)

    def compute_output_shape(self, input_shape):
        output_shape = list(input_shape[1])
        channel_axis = -1 if self.data_format == "channels_last" else 1
        if self.filters is not None:
            output_shape[channel_axis] = self.filters
        return tuple(output_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "use_batch_norm": self.use_batch_norm,
                "activation": keras.activations.serialize(self.activation),
                "data_format": self.data_format,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
