"""The AlexNet-style CNN of the MsC-wCA paper and its MsC / wCA / wSE variants.

One generic builder, `cnn`, and the table `VARIANTS`.
"""

from __future__ import annotations

from typing import Any

import keras

from ferzoo import defaults
from ferzoo.models import attention as attn
from ferzoo.models import checks
from ferzoo.models.checks import SpatialOp
from ferzoo.models.family import Family
from ferzoo.models.heads import (
    CAPSULE_ARGS,
    HEADS,
    CapsuleHead,
    capsule_keywords,
    capsule_of,
    head_spatial_ops,
)
from ferzoo.models.stems import batch_norm, msc_stem, stem_spatial_op

STEMS = ("conv", "msc")

VARIANTS: dict[str, dict[str, Any]] = {
    "cnn": dict(),
    "mcnn": dict(stem="msc"),
    "wca_cnn": dict(attention="wca"),
    "wca_mcnn": dict(stem="msc", attention="wca"),
    "wse_mcnn": dict(stem="msc", attention="wse"),  # the paper's failure case
}


def _conv(x, filters: int, kernel: int, stride: int, padding: int, name: str, data_format: str):
    """Conv + ReLU with PyTorch's symmetric `padding` (explicit when the stride is not 1)."""
    if padding and stride > 1:
        x = keras.layers.ZeroPadding2D(padding, data_format=data_format, name=f"{name}_pad")(x)
        mode = "valid"
    else:  # stride 1: symmetric padding (kernel - 1) / 2 is Keras' "same"
        mode = "same" if padding else "valid"
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=mode, data_format=data_format, name=name
    )(x)


def _pool(x, name: str, data_format: str):
    return keras.layers.MaxPooling2D(3, strides=2, data_format=data_format, name=name)(x)


def unused_arguments(kwargs: dict[str, Any]) -> dict[str, str]:
    """The `cnn` arguments that a configuration ignores, each with the reason."""
    unused: dict[str, str] = {}
    if kwargs.get("stem", "conv") != "msc":
        unused.update(dict.fromkeys(("msc_kernels", "msc_strides"), "its stem is not MsC"))
    if not kwargs.get("attention"):
        unused["attention_kwargs"] = "it has no attention (attention=)"
    if kwargs.get("head", "dense") == "capsule":
        unused.update(dict.fromkeys(("fc_units", "dropout"), "its capsule head has no FC layers"))
    else:
        unused.update(dict.fromkeys(CAPSULE_ARGS, "its head is not a capsule head"))
        unused["head_kwargs"] = "its head is not a capsule head"
    return unused


_CONV1 = SpatialOp("conv1", 11, 4, 2)


def _spatial(stem: SpatialOp, head: str, capsule: CapsuleHead) -> list[SpatialOp]:
    pools = [SpatialOp(f"pool{i}", 3, 2, 0) for i in (1, 2, 3)]
    return [stem, *pools, *head_spatial_ops(head, capsule)]


def spatial_ops(**kwargs: Any) -> list[SpatialOp]:
    """Every layer of a `cnn` that changes the spatial size, in order (for the size check);
    `kwargs` are `cnn`'s."""
    stem = stem_spatial_op(_CONV1, kwargs, msc_strides=4)
    return _spatial(stem, kwargs.get("head", "dense"), capsule_of(kwargs))


def _pool_to_6x6(x, data_format: str):
    """PyTorch's `AdaptiveAvgPool2d(6)`; a side of 1 pixel is first repeated 6 times.

    Keras' TensorFlow kernel for `AdaptiveAveragePooling2D` (Keras 3.15) pools each side with
    two windows, `ceil(size / 6)` and one pixel more, and the wider one does not fit a 1-pixel
    side: traced in a graph (`fit`, `predict`), TensorFlow rejects it ("Negative dimension
    size"), so the CNN failed on TensorFlow from 63 to 94 px (57 to 88 px with the MsC stem), in
    every precision. Adaptive average pooling of one pixel to 6 is that pixel 6 times, and
    pooling 6 to 6 is the identity, so the repeat gives the same output on every backend.
    """
    h_axis, w_axis = (1, 2) if data_format == "channels_last" else (2, 3)
    repeat = tuple(6 if x.shape[axis] == 1 else 1 for axis in (h_axis, w_axis))
    if repeat != (1, 1):
        x = keras.layers.UpSampling2D(repeat, data_format=data_format, name="pool_6x6_repeat")(x)
    return keras.layers.AdaptiveAveragePooling2D(6, data_format=data_format, name="pool_6x6")(x)


def _check_dropout_pair(dropout: Any) -> tuple[float, float]:
    """`dropout` as two checked rates; one number sets both."""
    if isinstance(dropout, int | float) and not isinstance(dropout, bool):
        dropout = (dropout, dropout)
    if not isinstance(dropout, tuple | list) or len(dropout) != 2:
        raise ValueError(
            f"dropout must be a rate or a pair of rates. Received: dropout={dropout!r}"
        )
    return tuple(checks.dropout_rate("dropout", d) for d in dropout)


def _stem(inputs, stem: str, filters: int, msc_kernels, msc_strides: int, data_format: str):
    """The first conv (11x11/4, or MultiScaleConv in its place) and its ReLU."""
    if stem == "conv":
        x = _conv(inputs, filters, 11, 4, 2, "conv1", data_format)
    else:
        x = msc_stem(inputs, filters, msc_kernels, msc_strides, data_format, use_bias=True)
    return keras.layers.ReLU(name="conv1_relu")(x)


def _features(x, attention: str | None, attention_kwargs: dict[str, Any], data_format: str):
    """pool1 -> [attention] -> conv2 + BN -> pool2 -> conv3, conv4, conv5 + BN -> pool3."""
    x = _pool(x, "pool1", data_format)
    x = attn.attend(
        x,
        attention,
        name=f"pool1_{attention}",
        data_format=data_format,
        attention_kwargs=attention_kwargs,
    )
    x = _conv(x, 192, 5, 1, 2, "conv2", data_format)
    x = batch_norm(data_format, "conv2_bn")(x)
    x = keras.layers.ReLU(name="conv2_relu")(x)
    x = _pool(x, "pool2", data_format)
    x = keras.layers.ReLU(name="conv3_relu")(_conv(x, 384, 3, 1, 1, "conv3", data_format))
    x = keras.layers.ReLU(name="conv4_relu")(_conv(x, 256, 3, 1, 1, "conv4", data_format))
    x = _conv(x, 256, 3, 1, 1, "conv5", data_format)
    x = batch_norm(data_format, "conv5_bn")(x)
    x = keras.layers.ReLU(name="conv5_relu")(x)
    return _pool(x, "pool3", data_format)


def _fc_head(x, num_classes: int, fc_units: int, dropout: tuple[float, ...], data_format: str):
    """Pool to 6x6 -> flatten -> (FC + ReLU -> dropout) per rate -> FC softmax."""
    x = _pool_to_6x6(x, data_format)
    x = keras.layers.Flatten(data_format=data_format, name="flatten")(x)
    for k, rate in enumerate(dropout):
        x = keras.layers.Dense(fc_units, activation="relu", name=f"fc{k + 1}")(x)
        x = keras.layers.Dropout(rate, name=f"fc{k + 1}_dropout")(x)
    # float32 probabilities under a mixed-precision policy (Keras' mixed-precision guide).
    return keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="predictions"
    )(x)


@capsule_keywords
def cnn(
    *,
    num_classes: int = 7,
    input_shape: tuple[int, int, int] = defaults.INPUT_SHAPE,
    name: str = "cnn",
    stem: str = "conv",
    stem_filters: int = 64,
    msc_kernels: tuple[int, ...] = (3, 5, 7),
    msc_strides: int = 4,
    attention: str | None = None,
    attention_kwargs: dict[str, Any] | None = None,
    head: str = "dense",
    fc_units: int = 4096,
    dropout: tuple[float, float] = (0.5, 0.3),
    head_kwargs: dict[str, Any] | None = None,
    data_format: str | None = None,
    **capsule: int | None,
) -> keras.Model:
    """The MsC-wCA paper's AlexNet-style CNN: five convs, three max pools, a 6x6 pool, three FCs.

    Layout (PyTorch notation, every conv followed by ReLU):
    conv 64@11x11/4 p2 -> maxpool 3/2 -> [attention] -> conv 192@5x5 p2 + BN -> maxpool 3/2 ->
    conv 384@3x3 p1 -> conv 256@3x3 p1 -> conv 256@3x3 p1 + BN -> maxpool 3/2 ->
    adaptive average pool to 6x6 -> FC 4096 -> dropout 0.5 -> FC 4096 -> dropout 0.3 ->
    FC num_classes softmax.

    Args:
        num_classes: number of classes, at least 2.
        input_shape: `(H, W, C)` (`(C, H, W)` with channels_first). The three valid 3x3/2 max
            pools set the minimum: 63x63 with the conv stem, 57x57 with the MsC stem.
        name: the model's name.
        stem: `"conv"` (the 11x11/4 conv) or `"msc"` (MultiScaleConv in its place).
        stem_filters: filters of the first conv (per branch for MsC).
        msc_kernels: the MsC kernel sizes (odd).
        msc_strides: the MsC stride; 4, the stride of the conv it replaces.
        attention: module after the first pooling layer: `None`, `"wca"`, `"wse"` or `"wa"`.
        attention_kwargs: keywords for the attention layer, over the registry's model defaults
            (`ferzoo.models.attention`: wCA ratio 16 unshared, wSE ratio 16, WA reduction 32).
        head: `"dense"` (the FC stack above) or `"capsule"` (primary capsules on the last max
            pool's output, as in `resnet`).
        fc_units: units of the two hidden FC layers.
        dropout: the two dropout rates after the hidden FC layers (one number sets both).
        head_kwargs: the capsule head's options, one dict (`ferzoo.models.heads.CapsuleHead`).
        primary_capsules, primary_dim, primary_kernel, primary_strides, capsule_dim, routings:
            the same options one by one (see `ferzoo.models.resnet.resnet`).
        data_format: `"channels_last"` or `"channels_first"`; defaults to Keras' setting.

    Returns:
        A `keras.Model` mapping images to `(batch, num_classes)` softmax probabilities (or
        capsule lengths with `head="capsule"`).

    Example:
    ```python
    model = cnn(stem="msc", attention="wca", name="wca_mcnn")   # 57.65 M parameters
    ```

    Reference:
    - MsC-wCA paper (Liu et al., Sci. Rep. 2025), Fig. 1 and Table 8; Krizhevsky et al., ImageNet
      Classification with Deep Convolutional Neural Networks, NeurIPS 2012; torchvision's
      `alexnet` for the paddings (2, 2, 1, 1, 1). Batch norm follows the conv, before the ReLU.
    - "Pool to 6x6" is `keras.layers.AdaptiveAveragePooling2D(6)`, which equals PyTorch's
      `AdaptiveAvgPool2d(6)` (checked on all three backends), including for maps smaller than
      6x6 (they are repeated), so small inputs work. At 224x224 the map is already 6x6. A
      1-pixel side is repeated to 6 first (see `_pool_to_6x6`: Keras' TensorFlow kernel
      rejects it in a graph).
    - The paper's dropout notation "FC 4096 (dropout 0.5)" is read as dropout after that FC
      layer's ReLU.
    - MCNN: the MsC layer (three 64-filter branches, "same" padding) replaces the first conv at
      its stride 4, so the second conv receives 192 channels (224 -> 56 -> pool -> 27): with
      BN counted as PyTorch counts it this gives 57,640,647 parameters, Table 8's 57.6406 M.
    - wCA: unshared branches, ratio 16, with biases (9,628 parameters on 192 channels), the
      reading closest to Table 8's 10.3 K (see `ferzoo.models.resnet.resnet`).
    """
    checks.num_classes(num_classes)
    data_format, hw = checks.resolve_input(input_shape, data_format)
    checks.choice("stem", stem, STEMS)
    checks.choice("attention", attention, attn.kinds(), allow_none=True)
    attention_kwargs = attn.check_kwargs([attention] if attention else [], attention_kwargs)
    checks.choice("head", head, HEADS)
    checks.int_tuple("msc_kernels", msc_kernels)
    for argument, value in (
        ("stem_filters", stem_filters),
        ("msc_strides", msc_strides),
        ("fc_units", fc_units),
    ):
        checks.positive_int(argument, value)
    capsule = CapsuleHead.of(head_kwargs, **capsule)
    dropout = _check_dropout_pair(dropout)

    stem_op = stem_spatial_op(_CONV1, dict(stem=stem, msc_kernels=msc_kernels), msc_strides)
    checks.input_size(name, input_shape, hw, _spatial(stem_op, head, capsule))

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _stem(inputs, stem, stem_filters, msc_kernels, msc_strides, data_format)
    x = _features(x, attention, attention_kwargs, data_format)
    if head == "capsule":
        outputs = capsule(x, num_classes, data_format=data_format)
    else:
        outputs = _fc_head(x, num_classes, fc_units, dropout, data_format)
    return keras.Model(inputs, outputs, name=name)


FAMILY = Family(
    "cnn",
    cnn,
    VARIANTS,
    spatial_ops=spatial_ops,
    unused_arguments=unused_arguments,
    sweep_backbones=("cnn",),
    # MsC-wCA's ablation (dense head); wse_mcnn, the paper's failure case, joins it.
    ablation_grids={"msc_wca": {"cnn": ("cnn", "mcnn", "wca_cnn", "wca_mcnn", "wse_mcnn")}},
)
