"""Speed defaults per backend: the data format and compilation ferzoo recommends for training.

`ferzoo.train` (and anyone compiling a ferzoo model) can ask this module instead of hard-coding
Keras' defaults:

```python
import keras
from ferzoo.runtime import performance

backend = keras.backend.backend()
model = ferzoo.build("resnet18", data_format=performance.recommended_data_format(backend))
performance.optimize(model)   # fused batch norm (TF, torch), native convolutions (torch)
model.compile(optimizer="adam", loss=..., **performance.default_compile_kwargs(backend))
```

`optimize` changes how some layers compute, never what: outputs, gradients, weights, configs
and saved files stay Keras' own (tests/test_performance.py checks one training step against
the plain model). The values come from `benchmarks/run.py` and `benchmarks/paired.py` on the
2-core CPU machine of results/bench.md, which gives the measurements behind each choice.
"""

from __future__ import annotations

from typing import Any

from ferzoo.runtime.devices import BACKENDS  # noqa: E402  (one list of backends)

# Measured choices (results/bench.md, "Speed work"); see the module docstring.
_DATA_FORMAT = {"tensorflow": "channels_last", "jax": "channels_last", "torch": "channels_last"}
_JIT_COMPILE: dict[str, bool | str] = {"tensorflow": "auto", "jax": "auto", "torch": "auto"}
# ferzoo.train turns TF op determinism on (reproducible metrics); benchmarks measure that.
_DETERMINISTIC = {"tensorflow": True, "jax": False, "torch": False}
# Run batch norm with the backend's fused kernel (`fuse_batch_norm`); JAX/XLA fuses it itself.
_FUSE_BATCH_NORM = {"tensorflow": True, "jax": False, "torch": True}
# Run 2D convolutions and pooling on torch without Keras' layout copies (`native_conv`).
_NATIVE_CONV = {"tensorflow": False, "jax": False, "torch": True}


def _check_backend(backend: str | None) -> str:
    if backend is None:
        import keras  # noqa: PLC0415  (keep `import ferzoo.runtime.performance` free of Keras)

        backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}")
    return backend


def recommended_data_format(backend: str | None = None) -> str:
    """The image data format that trains fastest on `backend` (CPU measurements).

    Args:
        backend: `"tensorflow"`, `"jax"` or `"torch"`; defaults to Keras' current backend.

    Returns:
        `"channels_last"` or `"channels_first"`.

    Example:
    >>> recommended_data_format("tensorflow")
    'channels_last'
    """
    return _DATA_FORMAT[_check_backend(backend)]


def default_compile_kwargs(backend: str | None = None) -> dict[str, Any]:
    """Keyword arguments for `model.compile` that pick the fastest compilation on `backend`.

    Args:
        backend: `"tensorflow"`, `"jax"` or `"torch"`; defaults to Keras' current backend.

    Returns:
        A dict, currently `{"jit_compile": ...}`.

    Example:
    >>> default_compile_kwargs("jax")
    {'jit_compile': 'auto'}
    """
    return {"jit_compile": _JIT_COMPILE[_check_backend(backend)]}


def resolve(
    backend: str | None = None,
    *,
    data_format: str | None = None,
    jit_compile: bool | str | None = None,
    deterministic: bool | None = None,
    fuse_batch_norm: bool | None = None,
    native_conv: bool | None = None,
) -> dict[str, Any]:
    """The full speed configuration on `backend`, with the given values overriding the defaults.

    Args:
        backend: the Keras backend; defaults to the current one.
        data_format: `"channels_last"`/`"channels_first"`, or None for the recommended one.
        jit_compile: a `model.compile` `jit_compile` value, or None for the default.
        deterministic: TF op determinism, or None for what `ferzoo.train` does.
        fuse_batch_norm: whether to call `fuse_batch_norm(model)`, or None for the default.
        native_conv: whether to call `native_convolutions(model)`, or None for the default.

    Returns:
        `{"backend", "data_format", "jit_compile", "deterministic", "fuse_batch_norm",
        "native_conv"}`; `optimize(model, settings)` applies the two model-level ones.
    """
    backend = _check_backend(backend)
    if data_format is not None and data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            "data_format must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return {
        "backend": backend,
        "data_format": _DATA_FORMAT[backend] if data_format is None else data_format,
        "jit_compile": _JIT_COMPILE[backend] if jit_compile is None else jit_compile,
        "deterministic": _DETERMINISTIC[backend] if deterministic is None else deterministic,
        "fuse_batch_norm": (
            _FUSE_BATCH_NORM[backend] if fuse_batch_norm is None else fuse_batch_norm
        ),
        "native_conv": _NATIVE_CONV[backend] if native_conv is None else native_conv,
    }


def optimize(model, settings: dict[str, Any] | None = None) -> dict[str, int]:
    """Apply the model-level speed settings of `resolve` to a built model (before `compile`).

    Args:
        model: a built `keras.Model`.
        settings: a `resolve(...)` dict; None for the current backend's defaults.

    Returns:
        `{"fused_batch_norm": n, "native_conv": m}`, the number of layers switched by
        `fuse_batch_norm` and `native_convolutions` (0 where a setting is off).

    Example:
    ```python
    model = ferzoo.build("resnet18")
    performance.optimize(model)   # {'fused_batch_norm': 20, 'native_conv': 21} on torch
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  **performance.default_compile_kwargs())
    ```
    """
    settings = resolve() if settings is None else settings
    return {
        "fused_batch_norm": fuse_batch_norm(model) if settings["fuse_batch_norm"] else 0,
        "native_conv": native_convolutions(model) if settings["native_conv"] else 0,
    }


def in_effect(model) -> dict[str, Any]:
    """What a built (and compiled) model really runs with, read back from the model itself.

    `resolve` says what is asked; Keras may decide otherwise (it turns `jit_compile` off on
    TensorFlow while op determinism is on, and "auto" becomes True or False at `compile`).

    Args:
        model: a built `keras.Model`, compiled or not.

    Returns:
        `{"data_format", "jit_compile", "deterministic", "fused_batch_norm", "native_conv"}`:
        the first Conv2D's data format (None without one), the model's `jit_compile` after
        `compile` (None before), whether TensorFlow's op determinism is on (False on the
        other backends), and the number of layers `optimize` switched that take the
        backend's kernel: float32 layers only (under a mixed policy they keep Keras' path).
    """
    import keras  # noqa: PLC0415

    layers = list(model._flatten_layers(include_self=False, recursive=True))
    conv = next((layer for layer in layers if isinstance(layer, keras.layers.Conv2D)), None)
    deterministic = False
    if keras.backend.backend() == "tensorflow":
        # Where Keras reads it (tf.config has the setter only).
        from tensorflow.python.framework.config import is_op_determinism_enabled  # noqa: PLC0415

        deterministic = bool(is_op_determinism_enabled())
    return {
        "data_format": getattr(conv, "data_format", None),
        "jit_compile": model.jit_compile if getattr(model, "compiled", False) else None,
        "deterministic": deterministic,
        "fused_batch_norm": sum(_fast(x, "_ferzoo_fused") for x in layers),
        "native_conv": sum(_fast(x, "_ferzoo_native") for x in layers),
    }


def _fast(layer, flag: str) -> bool:
    """Whether `optimize` switched `layer` (`flag`) and its calls can take the fast path."""
    return bool(getattr(layer, flag, False)) and layer.compute_dtype == "float32"


def apply_runtime_settings(backend: str | None = None, *, deterministic: bool = False) -> None:
    """Process-wide settings that go with `resolve`: TF op determinism when asked for.

    Args:
        backend: the Keras backend; defaults to the current one.
        deterministic: turn TensorFlow's op determinism on (as `ferzoo.train` does).
    """
    backend = _check_backend(backend)
    if deterministic and backend == "tensorflow":
        import tensorflow as tf  # noqa: PLC0415

        tf.config.experimental.enable_op_determinism()


# --- fused batch norm -----------------------------------------------------------------------------
#
# Keras 3's BatchNormalization is written with keras.ops: on TensorFlow and torch it runs as a
# chain of element-wise ops (mean, squared difference, rsqrt, multiply, add, and as many again
# in the backward pass), each one a pass over the feature map. TensorFlow (FusedBatchNormV3)
# and torch (batch_norm) have fused kernels that do the same arithmetic in one or two passes.
# `fuse_batch_norm` points the batch-norm layers of a built model at those kernels: same
# weights, same outputs and the same moving-statistics updates (up to float rounding), and
# the model's config, weights and `.keras` file are unchanged (the layers stay
# `keras.layers.BatchNormalization`; only the instances' `call` is replaced).


def _fusable(layer, inputs, mask) -> bool:
    import keras  # noqa: PLC0415

    return (
        mask is None
        and not getattr(layer, "renorm", False)
        and not getattr(layer, "synchronized", False)
        and len(inputs.shape) == 4
        and layer.axis in (-1, 3, 1)
        and keras.backend.standardize_dtype(inputs.dtype) == "float32"
        and layer.compute_dtype == "float32"
    )


def _tf_batch_norm(layer, inputs, training):
    import tensorflow as tf  # noqa: PLC0415

    channels_last = layer.axis in (-1, 3)
    channels = int(inputs.shape[-1 if channels_last else 1])
    scale = layer.gamma.value if layer.scale else tf.ones((channels,), "float32")
    offset = layer.beta.value if layer.center else tf.zeros((channels,), "float32")
    fmt = "NHWC" if channels_last else "NCHW"
    if training and layer.trainable:
        empty = tf.constant([], "float32")
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=inputs,
            scale=scale,
            offset=offset,
            mean=empty,
            variance=empty,
            epsilon=layer.epsilon,
            exponential_avg_factor=1.0,
            data_format=fmt,
            is_training=True,
        )
        # The kernel returns the unbiased (n - 1) variance; Keras tracks the biased one.
        n = tf.cast(tf.size(inputs) // channels, "float32")
        variance = variance * (n - 1.0) / n
        layer.moving_mean.assign(layer.moving_mean * layer.momentum + mean * (1.0 - layer.momentum))
        layer.moving_variance.assign(
            layer.moving_variance * layer.momentum + variance * (1.0 - layer.momentum)
        )
        return y
    y, *_ = tf.raw_ops.FusedBatchNormV3(
        x=inputs,
        scale=scale,
        offset=offset,
        mean=layer.moving_mean.value,
        variance=layer.moving_variance.value,
        epsilon=layer.epsilon,
        exponential_avg_factor=1.0,
        data_format=fmt,
        is_training=False,
    )
    return y


def _torch_batch_norm(layer, inputs, training):
    import torch  # noqa: PLC0415

    channels_last = layer.axis in (-1, 3)
    x = inputs.permute(0, 3, 1, 2) if channels_last else inputs  # a view: no copy
    weight = layer.gamma.value if layer.scale else None
    bias = layer.beta.value if layer.center else None
    if training and layer.trainable:
        channels = x.shape[1]
        if x.numel() == channels:
            # One value per channel (a batch of one at 1x1): torch refuses it; Keras' own
            # formula gives the batch statistics (variance 0) without complaint.
            return None
        # momentum=1 makes the buffers the batch statistics (the variance unbiased).
        mean = torch.zeros(channels, dtype=x.dtype, device=x.device)
        variance = torch.ones(channels, dtype=x.dtype, device=x.device)
        y = torch.nn.functional.batch_norm(
            x, mean, variance, weight, bias, training=True, momentum=1.0, eps=layer.epsilon
        )
        n = x.numel() // channels
        variance = variance * ((n - 1) / n)
        layer.moving_mean.assign(layer.moving_mean * layer.momentum + mean * (1.0 - layer.momentum))
        layer.moving_variance.assign(
            layer.moving_variance * layer.momentum + variance * (1.0 - layer.momentum)
        )
    else:
        y = torch.nn.functional.batch_norm(
            x,
            layer.moving_mean.value,
            layer.moving_variance.value,
            weight,
            bias,
            training=False,
            eps=layer.epsilon,
        )
    return y.permute(0, 2, 3, 1) if channels_last else y


def fuse_batch_norm(model) -> int:
    """Run the model's 4D float32 batch-norm layers with the backend's fused kernel.

    On TensorFlow (`FusedBatchNormV3`) and torch (`torch.nn.functional.batch_norm`) this
    replaces Keras' element-wise formulation with one fused op per direction; on JAX it does
    nothing (XLA fuses the element-wise ops itself). Outputs, gradients and moving statistics
    are those of `keras.layers.BatchNormalization` up to float rounding; layers with a mask,
    renorm, synchronisation, mixed precision or a rank other than 4 keep Keras' own path.
    Call it before `compile`. The layers' class, config and weights are unchanged, so a saved
    model loads anywhere without ferzoo.runtime.performance.

    Args:
        model: a built `keras.Model`.

    Returns:
        The number of batch-norm layers switched to the fused kernel (0 on JAX).

    Example:
    ```python
    model = ferzoo.build("resnet18")
    performance.fuse_batch_norm(model)   # 20 on TensorFlow and torch
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    ```
    """
    import keras  # noqa: PLC0415

    backend = keras.backend.backend()
    if backend == "tensorflow":
        fused = _tf_batch_norm
    elif backend == "torch":
        fused = _torch_batch_norm
    else:
        return 0
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if type(layer) is not keras.layers.BatchNormalization or getattr(
            layer, "_ferzoo_fused", False
        ):
            continue
        original = layer.call

        def call(inputs, training=None, mask=None, _layer=layer, _original=original):
            if _fusable(_layer, inputs, mask):
                y = fused(_layer, inputs, training)
                if y is not None:  # None: an input the fused kernel does not take
                    return y
            return _original(inputs, training=training, mask=mask)

        layer.call = call
        layer._ferzoo_fused = True
        count += 1
    return count


# --- native convolutions on torch ----------------------------------------------------------------
#
# Keras' torch backend runs a channels_last `conv` as: permute the NHWC input to NCHW and make it
# contiguous (a copy), convert it back to the channels_last memory format (a second copy),
# permute the kernel, and for "same" padding pad the input explicitly (a third copy); its
# `max_pool`/`average_pool` copy the input to NCHW as well and hand back a permuted view that
# the next layer copies again. torch's own kernels take an NHWC tensor as it is: `permute(0, 3,
# 1, 2)` of a contiguous NHWC tensor is an NCHW-shaped view in the channels_last memory format,
# which oneDNN convolves and pools directly, forward and backward. `native_convolutions` points
# the Conv2D and pooling layers of a built model at that path: same weights, same outputs (the
# same arithmetic, up to float rounding), config and `.keras` file unchanged.


def _symmetric_padding(padding: str, kernel, strides, dilation):
    """torch's int padding equal to Keras' `padding`, or None where Keras would pad unevenly."""
    if padding == "valid":
        return (0, 0)
    pads = []
    for k, s, d in zip(kernel, strides, dilation, strict=True):
        total = d * (k - 1)
        if s != 1 or total % 2:
            return None  # "same" with stride > 1 or an even extent pads asymmetrically
        pads.append(total // 2)
    return tuple(pads)


def _native_conv_ok(layer, inputs) -> bool:
    import keras  # noqa: PLC0415

    return (
        len(inputs.shape) == 4
        and layer.data_format == "channels_last"
        and keras.backend.standardize_dtype(inputs.dtype) == "float32"
        and layer.compute_dtype == "float32"
    )


def _torch_convolution_op(layer, inputs, kernel, original):
    import torch  # noqa: PLC0415

    padding = _symmetric_padding(
        layer.padding, layer.kernel_size, layer.strides, layer.dilation_rate
    )
    if padding is None or not _native_conv_ok(layer, inputs):
        return original(inputs, kernel)
    kernel = getattr(kernel, "value", kernel)  # a keras.Variable -> its torch tensor
    x = inputs.permute(0, 3, 1, 2)  # NCHW-shaped view of the NHWC memory: no copy
    groups = x.shape[1] // kernel.shape[2]
    # (kh, kw, in, out) -> (out, in, kh, kw), copied once into the channels_last layout that
    # oneDNN wants (else it reorders the permuted kernel forward and again backward).
    kernel = kernel.permute(3, 2, 0, 1).contiguous(memory_format=torch.channels_last)
    y = torch.nn.functional.conv2d(
        x,
        kernel,
        stride=tuple(layer.strides),
        padding=padding,
        dilation=tuple(layer.dilation_rate),
        groups=groups,
    )
    return y.permute(0, 2, 3, 1)


def _torch_pool(layer, inputs, original):
    import torch  # noqa: PLC0415

    if (
        layer.padding != "valid"  # torch pads max pooling with -inf, Keras' "same" differently
        or inputs.device.type == "meta"  # Keras' symbolic shape pass: its own path handles it
        or not _native_conv_ok(layer, inputs)
    ):
        return original(inputs)
    kernel, strides = tuple(layer.pool_size), tuple(layer.strides)
    x = inputs.permute(0, 3, 1, 2)
    if layer.pool_mode == "max":
        y = torch.nn.functional.max_pool2d(x, kernel, strides)
    else:
        y = torch.nn.functional.avg_pool2d(x, kernel, strides)
    return y.permute(0, 2, 3, 1)


def native_convolutions(model) -> int:
    """Run the model's 2D convolutions and poolings with torch's kernels on NHWC memory directly.

    On the torch backend, every `keras.layers.Conv2D` (any groups; "valid" padding, or "same"
    where it pads evenly: stride 1 and an odd kernel extent) and every
    `MaxPooling2D`/`AveragePooling2D` with "valid" padding, in channels_last float32, calls
    `torch.nn.functional.conv2d`/`max_pool2d`/`avg_pool2d` on an NCHW-shaped view of its
    NHWC input instead of Keras' `ops.conv`/`ops.max_pool`, which copy the input between
    layouts (twice for a convolution) at every call, forward and backward. Outputs and
    gradients are Keras' up to float rounding; other layers and other cases keep Keras' own
    path, and on TensorFlow and JAX (whose convolutions take NHWC natively) nothing changes.
    Call it before `compile`. The layers' class, config and weights are unchanged.

    Args:
        model: a built `keras.Model`.

    Returns:
        The number of layers switched (0 on TensorFlow and JAX).

    Example:
    ```python
    model = ferzoo.build("resnet18")
    performance.native_convolutions(model)   # 21 on torch (20 convolutions, 1 max pool)
    ```
    """
    import keras  # noqa: PLC0415

    if keras.backend.backend() != "torch":
        return 0
    pools = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "_ferzoo_native", False):
            continue
        if type(layer) is keras.layers.Conv2D:
            original = layer.convolution_op

            def convolution_op(inputs, kernel, _layer=layer, _original=original):
                return _torch_convolution_op(_layer, inputs, kernel, _original)

            layer.convolution_op = convolution_op
        elif type(layer) in pools:
            original = layer.call

            def call(inputs, _layer=layer, _original=original):
                return _torch_pool(_layer, inputs, _original)

            layer.call = call
        else:
            continue
        layer._ferzoo_native = True
        count += 1
    return count
