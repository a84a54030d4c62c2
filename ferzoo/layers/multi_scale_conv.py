"""The multi-scale convolution (MsC) layer of the MsC-wCA paper."""

from __future__ import annotations

import keras

from ferzoo.layers import _checks


def _normalize_strides(strides) -> tuple[int, int]:
    if isinstance(strides, int) and not isinstance(strides, bool):
        values = (strides, strides)
    elif isinstance(strides, (tuple, list)) and len(strides) == 2:
        values = tuple(strides)
    else:
        values = None
    if values is None or not all(_checks.is_positive_int(s) for s in values):
        raise ValueError(
            f"strides must be a positive int or a tuple of 2 positive ints. Received: strides={strides}"
        )
    return values


def _same_padding(kernel: int, spatial, strides) -> tuple[tuple[int, int], ...] | None:
    """TensorFlow's "same" padding of each side, `((top, bottom), (left, right))`, when some
    side's total `(ceil(n / s) - 1) * s + k - n` is negative (clamped to 0); None otherwise,
    or when a size is unknown. See `MultiScaleConv`'s Reference for why."""
    totals = [
        None if n is None else (-(-n // s) - 1) * s + kernel - n
        for n, s in zip(spatial, strides, strict=True)
    ]
    if None in totals or min(totals) >= 0:
        return None
    return tuple((max(t, 0) // 2, max(t, 0) - max(t, 0) // 2) for t in totals)


@keras.saving.register_keras_serializable(package="ferzoo")
class MultiScaleConv(keras.layers.Layer):
    """Parallel 2D convolutions with different kernel sizes, concatenated on the channel axis.

    Each kernel size `k` gets its own `Conv2D(filters, k)`; the outputs are concatenated, so
    the layer gives `filters * len(kernel_sizes)` channels, ordered by `kernel_sizes`.

    Args:
        filters: int >= 1, the number of filters of *each* branch.
        kernel_sizes: a non-empty sequence of distinct odd positive ints, one branch per
            size (square kernels). Defaults to `(3, 5, 7)`, the paper's MsC layer.
        strides: int or tuple of 2 ints, the same for every branch. Defaults to `1`.
        padding: `"same"` or `"valid"` (case-insensitive). With `"same"` every branch is
            zero-padded to `ceil(size / stride)`. With `"valid"` each branch `k` convolves the
            input center-cropped by `(K - k) / 2` pixels on each side (`K` the largest
            kernel), so every branch has the output size of a valid `K x K` convolution and
            its output pixels are centered on the same input pixels. Defaults to `"same"`.
        use_bias: bool. Defaults to `True`.
        activation: activation applied to each branch (so to the concatenation).
            Defaults to `None`.
        data_format: `"channels_last"` or `"channels_first"`. Defaults to
            `keras.config.image_data_format()`.
        kernel_initializer, bias_initializer, kernel_regularizer: as in `keras.layers.Conv2D`.
        **kwargs: standard layer arguments (`name`, `dtype`, `trainable`, ...).

    Call arguments:
        inputs: a 4D tensor, `(batch, height, width, channels)` or
            `(batch, channels, height, width)`.

    Returns:
        A 4D tensor with `filters * len(kernel_sizes)` channels.

    Example:
    ```python
    import numpy as np
    layer = MultiScaleConv(16, kernel_sizes=(3, 5, 7), strides=2)
    layer(np.zeros((2, 32, 32, 3), "float32")).shape  # (2, 16, 16, 48)
    ```

    Reference:
        Liu et al., "Multiscale wavelet attention convolutional network for facial expression
        recognition", Sci. Rep. 15, 22219 (2025), Eq. (1)-(2): "a convolutional layer that
        integrates multiple kernel sizes (3 x 3, 5 x 5, 7 x 7)" whose outputs are combined
        "along the channel dimension". The paper gives one stride `s` and padding `p` for all
        kernels; the branch outputs can only be concatenated if they have the same size, so
        we read the padding as "same" (p = (k - 1) / 2 per branch) and give every branch
        the same number of filters (the baseline conv's filters), which is what makes MCNN's
        first feature map 3x wider. The "valid" option is ours, for sweeps.

        Where "same" would pad a negative total (a kernel smaller than its stride, as the
        AlexNet-style MCNN's 3x3 branch at stride 4 on 64, 96 or 224 px), the branch pads
        explicitly (with nothing, mostly) and convolves "valid": the same numbers and shape.
        TFLite's XNNPACK delegate (TensorFlow 2.21) computes such a "same" conv wrong (scores
        up to 8e-3 off; every value off in the conv itself), so an exported `.tflite` would not
        match Keras.
    """

    def __init__(
        self,
        filters: int,
        kernel_sizes=(3, 5, 7),
        strides=1,
        padding: str = "same",
        use_bias: bool = True,
        activation=None,
        data_format: str | None = None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _checks.positive_int("filters", filters, quote=False)
        if isinstance(kernel_sizes, int) and not isinstance(kernel_sizes, bool):
            kernel_sizes = (kernel_sizes,)
        if (
            not isinstance(kernel_sizes, (tuple, list))
            or len(kernel_sizes) == 0
            or not all(_checks.is_positive_int(k) and k % 2 == 1 for k in kernel_sizes)
            or len(set(kernel_sizes)) != len(kernel_sizes)
        ):
            raise ValueError(
                "kernel_sizes must be a non-empty sequence of distinct odd positive ints. "
                f"Received: kernel_sizes={kernel_sizes}"
            )
        strides = _normalize_strides(strides)
        padding_value = padding.lower() if isinstance(padding, str) else padding
        if padding_value not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid'. Received: padding={padding}")
        data_format = _checks.data_format(data_format, quote=False)
        self.filters = filters
        self.kernel_sizes = tuple(kernel_sizes)
        self.strides = strides
        self.padding = padding_value
        self.use_bias = use_bias
        self.activation = keras.activations.get(activation)
        self.data_format = data_format
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        _checks.feature_map_shape("MultiScaleConv", input_shape)
        largest = max(self.kernel_sizes)
        spatial = input_shape[1:3] if self.data_format == "channels_last" else input_shape[2:4]
        self.borders = []  # per branch: a crop, an explicit pad or None
        self.convs = []
        for k in self.kernel_sizes:
            crop, mode = self._border(k, spatial, (largest - k) // 2)
            branch_shape = input_shape
            if crop is not None:
                crop.build(input_shape)
                branch_shape = crop.compute_output_shape(input_shape)
            conv = keras.layers.Conv2D(
                self.filters,
                k,
                strides=self.strides,
                padding=mode,
                use_bias=self.use_bias,
                activation=self.activation,
                data_format=self.data_format,
                kernel_initializer=keras.initializers.get(
                    keras.initializers.serialize(self.kernel_initializer)
                ),
                bias_initializer=self.bias_initializer,
                kernel_regularizer=self.kernel_regularizer,
                dtype=self.dtype_policy,
                name=f"conv_{k}x{k}",
            )
            conv.build(branch_shape)
            self.borders.append(crop)
            self.convs.append(conv)

    def _border(self, kernel: int, spatial, margin: int):
        """The layer before a branch's conv (a crop, an explicit pad, or None) and the conv's
        padding."""
        pads = _same_padding(kernel, spatial, self.strides) if self.padding == "same" else None
        name = f"{kernel}x{kernel}"
        if pads and any(sum(p) for p in pads):
            pad = keras.layers.ZeroPadding2D(
                pads, data_format=self.data_format, dtype=self.dtype_policy, name=f"pad_{name}"
            )
            return pad, "valid"
        if pads:
            return None, "valid"
        if self.padding == "valid" and margin > 0:
            crop = keras.layers.Cropping2D(
                margin, data_format=self.data_format, dtype=self.dtype_policy, name=f"crop_{name}"
            )
            return crop, "valid"
        return None, self.padding

    def call(self, inputs):
        outputs = []
        for crop, conv in zip(self.borders, self.convs, strict=True):
            x = inputs if crop is None else crop(inputs)
            outputs.append(conv(x))
        if len(outputs) == 1:
            return outputs[0]
        axis = -1 if self.data_format == "channels_last" else 1
        return keras.ops.concatenate(outputs, axis=axis)

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.data_format == "channels_last":
            spatial = input_shape[1:3]
        else:
            spatial = input_shape[2:4]
        largest = max(self.kernel_sizes)
        out = []
        for size, stride in zip(spatial, self.strides, strict=True):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append(-(-size // stride))
            else:
                out.append(max((size - largest) // stride + 1, 0))
        channels = self.filters * len(self.kernel_sizes)
        if self.data_format == "channels_last":
            return (input_shape[0], out[0], out[1], channels)
        return (input_shape[0], channels, out[0], out[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_sizes": self.kernel_sizes,
                "strides": self.strides,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "activation": keras.activations.serialize(self.activation),
                "data_format": self.data_format,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
