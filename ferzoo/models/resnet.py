"""ResNet with basic blocks: the MsC-wCA paper's ResNet18 variants and the WAMF grid.

One generic builder, `resnet`, and the table `VARIANTS`. Every choice the variants make (stem,
attention after the first pooling layer, attention in every stage, fusion at the stage joins,
head) is an argument, so `ferzoo.build(name, **overrides)` reaches any combination.
"""

from __future__ import annotations

import re
from typing import Any

import keras

from ferzoo import defaults
from ferzoo import layers as L
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
    dense_head,
    head_spatial_ops,
)
from ferzoo.models.stems import batch_norm, msc_stem, stem_spatial_op

STEMS = ("conv", "msc")
FUSIONS = ("mf",)

_R18 = (2, 2, 2, 2)
_R34 = (3, 4, 6, 3)

VARIANTS: dict[str, dict[str, Any]] = {
    # The MsC-wCA paper (dense head; wCA after the first pooling layer).
    "resnet18": dict(depths=_R18),
    "msc_resnet18": dict(depths=_R18, stem="msc"),
    "wca_resnet18": dict(depths=_R18, attention="wca"),
    "msc_wca_resnet18": dict(depths=_R18, stem="msc", attention="wca"),
    # The MsC-wCA grid on ResNet34 (the sweeps' second backbone; not in the paper's tables).
    "resnet34": dict(depths=_R34),
    "msc_resnet34": dict(depths=_R34, stem="msc"),
    "wca_resnet34": dict(depths=_R34, attention="wca"),
    "msc_wca_resnet34": dict(depths=_R34, stem="msc", attention="wca"),
    # The WAMF paper's ablation grid (capsule head; WA in every stage, MF at every stage join).
    "resnet18_caps": dict(depths=_R18, head="capsule"),
    "mf_resnet18_caps": dict(depths=_R18, fusion="mf", head="capsule"),
    "wa_resnet18_caps": dict(depths=_R18, stage_attention="wa", head="capsule"),
    "wamf_resnet18": dict(depths=_R18, stage_attention="wa", fusion="mf", head="capsule"),
    "resnet34_caps": dict(depths=_R34, head="capsule"),
    "mf_resnet34_caps": dict(depths=_R34, fusion="mf", head="capsule"),
    "wa_resnet34_caps": dict(depths=_R34, stage_attention="wa", head="capsule"),
    "wamf_resnet34": dict(depths=_R34, stage_attention="wa", fusion="mf", head="capsule"),
}


def _conv(x, filters: int, kernel: int, stride: int, name: str, data_format: str):
    """A bias-free conv with PyTorch's symmetric padding `(kernel - 1) // 2`."""
    pad = (kernel - 1) // 2
    padding = "same"
    if pad and stride > 1:
        # Keras "same" pads stride-2 convs asymmetrically; pad explicitly as torchvision does.
        x = keras.layers.ZeroPadding2D(pad, data_format=data_format, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer="he_normal",
        data_format=data_format,
        name=name,
    )(x)


def _basic_block(x, filters: int, stride: int, name: str, data_format: str):
    """torchvision's BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""
    channel_axis = -1 if data_format == "channels_last" else 1
    shortcut = x
    if stride != 1 or x.shape[channel_axis] != filters:
        shortcut = _conv(x, filters, 1, stride, f"{name}_downsample_conv", data_format)
        shortcut = batch_norm(data_format, f"{name}_downsample_bn")(shortcut)
    y = _conv(x, filters, 3, stride, f"{name}_conv1", data_format)
    y = batch_norm(data_format, f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(y, filters, 3, 1, f"{name}_conv2", data_format)
    y = batch_norm(data_format, f"{name}_bn2")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def _stem(inputs, stem: str, filters: int, msc_kernels, msc_strides: int, data_format: str):
    """The stem conv (7x7/2, or MultiScaleConv in its place), BN, ReLU and the 3x3/2 max pool."""
    if stem == "conv":
        x = _conv(inputs, filters, 7, 2, "stem_conv", data_format)
    else:
        x = msc_stem(inputs, filters, msc_kernels, msc_strides, data_format, use_bias=False)
    x = batch_norm(data_format, "stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.ZeroPadding2D(1, data_format=data_format, name="stem_pool_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, data_format=data_format, name="stem_pool")(x)


def _stage(
    x,
    index: int,
    depth: int,
    filters: int,
    data_format: str,
    *,
    stage_attention: str | None,
    attention_kwargs: dict[str, Any],
    fusion: str | None,
    mf_kernel: int,
):
    """Stage `index` (from 0): `depth` basic blocks, then [stage_attention], then [MF fusion]."""
    stage = f"stage{index + 1}"
    stage_input = x
    for j in range(depth):
        stride = 2 if (index > 0 and j == 0) else 1
        x = _basic_block(x, filters, stride, f"{stage}_block{j + 1}", data_format)
    x = attn.attend(
        x,
        stage_attention,
        name=f"{stage}_{stage_attention}",
        data_format=data_format,
        attention_kwargs=attention_kwargs,
    )
    if fusion:
        mf = L.MultiScaleFusion(kernel_size=mf_kernel, data_format=data_format, name=f"{stage}_mf")
        x = mf([stage_input, x])
    return x


def unused_arguments(kwargs: dict[str, Any]) -> dict[str, str]:
    """The `resnet` arguments that a configuration ignores, each with the reason."""
    unused: dict[str, str] = {}
    if kwargs.get("stem", "conv") != "msc":
        unused.update(dict.fromkeys(("msc_kernels", "msc_strides"), "its stem is not MsC"))
    if not (kwargs.get("attention") or kwargs.get("stage_attention")):
        unused["attention_kwargs"] = "it has no attention (attention= or stage_attention=)"
    if kwargs.get("fusion") != "mf":
        unused["mf_kernels"] = "it has no MF fusion (fusion='mf')"
    if kwargs.get("head", "dense") == "capsule":
        unused["dropout"] = "its capsule head has no dropout"
    else:
        unused.update(dict.fromkeys(CAPSULE_ARGS, "its head is not a capsule head"))
        unused["head_kwargs"] = "its head is not a capsule head"
    return unused


_STEM_CONV = SpatialOp("stem_conv", 7, 2, 3)


def _spatial(stem: SpatialOp, depths: tuple[int, ...], head: str, capsule) -> list[SpatialOp]:
    stages = [SpatialOp(f"stage{i + 1}", 3, 2, 1) for i in range(1, len(depths))]
    return [stem, SpatialOp("stem_pool", 3, 2, 1), *stages, *head_spatial_ops(head, capsule)]


def spatial_ops(**kwargs: Any) -> list[SpatialOp]:
    """Every layer of a `resnet` that changes the spatial size, in order (for the size check);
    `kwargs` are `resnet`'s."""
    stem = stem_spatial_op(_STEM_CONV, kwargs, msc_strides=1)
    depths = kwargs.get("depths") or _R18
    return _spatial(stem, depths, kwargs.get("head", "dense"), capsule_of(kwargs))


@capsule_keywords
def resnet(
    *,
    num_classes: int = 7,
    input_shape: tuple[int, int, int] = defaults.INPUT_SHAPE,
    name: str = "resnet",
    depths: tuple[int, ...] = _R18,
    widths: tuple[int, ...] = (64, 128, 256, 512),
    stem: str = "conv",
    stem_filters: int | None = None,
    msc_kernels: tuple[int, ...] = (3, 5, 7),
    msc_strides: int = 1,
    attention: str | None = None,
    stage_attention: str | None = None,
    attention_kwargs: dict[str, Any] | None = None,
    fusion: str | None = None,
    mf_kernels: tuple[int, ...] = (1, 7, 5, 3),
    head: str = "dense",
    dropout: float = 0.0,
    head_kwargs: dict[str, Any] | None = None,
    data_format: str | None = None,
    **capsule: int | None,
) -> keras.Model:
    """A ResNet with basic blocks (torchvision layout) and the papers' optional modules.

    Layout: stem -> max pool 3x3/2 -> [attention] -> stages (each `depths[i]` basic blocks of
    `widths[i]` filters, stride 2 from stage 2 on; [stage_attention] at the end of each stage;
    [fusion] joining each stage's input and output) -> head. Every convolution is followed by
    batch norm (PyTorch's momentum 0.1 and epsilon 1e-5) and has no bias.

    Args:
        num_classes: number of classes, at least 2.
        input_shape: `(H, W, C)` (`(C, H, W)` with channels_first). The minimum size is computed
            from the layers (every stride-2 layer must receive at least 2 pixels); e.g. 17x17 for
            ResNet18 with the conv stem, 33x33 with the capsule head.
        name: the model's name.
        depths: basic blocks per stage; `(2, 2, 2, 2)` is ResNet18, `(3, 4, 6, 3)` ResNet34.
        widths: filters per stage, one per entry of `depths`.
        stem: `"conv"` (7x7/2 conv, BN, ReLU) or `"msc"` (MultiScaleConv, BN, ReLU).
        stem_filters: stem filters (per branch for MsC). Defaults to `widths[0]`.
        msc_kernels: the MsC kernel sizes (odd).
        msc_strides: the MsC stride; 1 in the MsC-wCA paper (see Reference).
        attention: module after the first pooling layer (MsC-wCA): `None`, `"wca"`, `"wse"`
            or `"wa"`.
        stage_attention: module at the end of every stage (WAMF): `None`, `"wa"`, `"wca"`
            or `"wse"`.
        attention_kwargs: keywords for the attention layers, over the registry's model
            defaults (`ferzoo.models.attention`): e.g. `{"ratio": 8}` for wCA,
            `{"reduction": 8}` for WA (at most the channels it sees).
        fusion: `None` or `"mf"`: MultiScaleFusion of every stage's input and output.
        mf_kernels: MF input-branch kernel per stage; `(1, 7, 5, 3)` as in the WAMF paper.
        head: `"dense"` (global average pool, dropout, Dense softmax) or `"capsule"`.
        dropout: dropout before the dense head's Dense layer.
        head_kwargs: the capsule head's options, one dict (`ferzoo.models.heads.CapsuleHead`):
            `primary_capsules` (32), `primary_dim` (8), `primary_kernel` (3), `primary_strides`
            (2, "same" padding), `capsule_dim` (16), `routings` (3).
        primary_capsules, primary_dim, primary_kernel, primary_strides, capsule_dim, routings:
            the same options one by one (None: from `head_kwargs` or the default); one given
            both ways is a ValueError.
        data_format: `"channels_last"` or `"channels_first"`; defaults to Keras' setting.

    Returns:
        A `keras.Model` mapping images to `(batch, num_classes)` softmax probabilities (dense
        head) or capsule lengths in (0, 1) (capsule head, last layer a `CapsuleLength`).

    Example:
    ```python
    model = resnet(depths=(2, 2, 2, 2), stem="msc", attention="wca", name="msc_wca_resnet18")
    model = resnet(depths=(3, 4, 6, 3), stage_attention="wa", fusion="mf", head="capsule")
    ```

    Reference:
    - He et al., Deep Residual Learning for Image Recognition, CVPR 2016; torchvision's
      `resnet18`/`resnet34` layout (stride on the first 3x3 conv, 1x1 projection shortcut).
    - MsC-wCA paper (Liu et al., "Multiscale wavelet attention convolutional network for facial
      expression recognition", Sci. Rep. 2025): MsC replaces the first conv; wCA goes "after the
      first pooling layer". Its Table 8 (11.29 M / 8.73 G MACs for MsC-wCA-ResNet18 against
      11.18 M / 1.82 G for ResNet18) implies that the MsC stem is three 64-filter branches
      (3x3, 5x5, 7x7) at stride 1: the 192-channel map goes through the max pool, so stage 1
      receives 192 channels at 112x112 (its first block then has a 1x1 projection shortcut).
      wCA: the paper's ratio 4 gives 37 K parameters on 192 channels, which does not fit
      Table 8's wCA-MCNN - MCNN = 10.3 K. Of the readings (ratio 4/8/16, shared or not, bias
      or not; see `WaveletChannelAttention`), unshared branches with ratio 16 and biases
      (9,628 parameters on 192 channels) come closest, so ratio 16, unshared,
      are the model defaults of `ferzoo.models.attention`.
    - WAMF paper: "WA mechanisms in each layer" (each ResNet stage) and "MF
      mechanisms between every two layers" with kernels 1, 7, 5, 3; a capsule network
      classifies the last feature map. The paper does not place WA inside the stage, so ferzoo
      applies it once at the end of each stage (on the stage output, before MF), which keeps
      the block structure torchvision's. MF's output is the next stage's input. The capsule
      sizes are not given: ferzoo uses Sabour et al.'s 32 x 8D primary capsules, from a 3x3
      stride-2 conv with "same" padding (a 7x7 map gives 4x4x32 = 512 capsules, 1.2 M + 0.46 M
      parameters at 7 classes), and 16D class capsules with 3 routing iterations.
    - Padding: stride-2 convs and the stem max pool pad symmetrically (PyTorch); after a ReLU
      the zero padding of the max pool equals PyTorch's -inf padding.
    """
    checks.num_classes(num_classes)
    data_format, hw = checks.resolve_input(input_shape, data_format)
    depths = checks.int_tuple("depths", depths)
    widths = checks.int_tuple("widths", widths, len(depths))
    checks.choice("stem", stem, STEMS)
    checks.choice("attention", attention, attn.kinds(), allow_none=True)
    checks.choice("stage_attention", stage_attention, attn.kinds(), allow_none=True)
    used = [k for k in (attention, stage_attention) if k]
    attention_kwargs = attn.check_kwargs(used, attention_kwargs)
    checks.choice("fusion", fusion, FUSIONS, allow_none=True)
    checks.choice("head", head, HEADS)
    mf_kernels = checks.int_tuple("mf_kernels", mf_kernels, len(depths))
    msc_kernels = checks.int_tuple("msc_kernels", msc_kernels)
    checks.positive_int("msc_strides", msc_strides)
    capsule = CapsuleHead.of(head_kwargs, **capsule)
    dropout = checks.dropout_rate("dropout", dropout)
    stem_filters = widths[0] if stem_filters is None else stem_filters
    checks.positive_int("stem_filters", stem_filters)

    stem_op = stem_spatial_op(_STEM_CONV, dict(stem=stem, msc_kernels=msc_kernels), msc_strides)
    checks.input_size(name, input_shape, hw, _spatial(stem_op, depths, head, capsule))

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = _stem(inputs, stem, stem_filters, msc_kernels, msc_strides, data_format)
    x = attn.attend(
        x, attention, name=f"stem_{attention}", data_format=data_format,
        attention_kwargs=attention_kwargs,
    )  # fmt: skip
    for i, (depth, filters) in enumerate(zip(depths, widths, strict=True)):
        x = _stage(
            x,
            i,
            depth,
            filters,
            data_format,
            stage_attention=stage_attention,
            attention_kwargs=attention_kwargs,
            fusion=fusion,
            mf_kernel=mf_kernels[i],
        )

    if head == "dense":
        outputs = dense_head(x, num_classes, dropout=dropout, data_format=data_format)
    else:
        outputs = capsule(x, num_classes, data_format=data_format)
    return keras.Model(inputs, outputs, name=name)


_TORCH_BLOCK = re.compile(r"layer(\d+)\.(\d+)\.(conv1|conv2|bn1|bn2|downsample\.0|downsample\.1)")
_TORCH_PART = {"downsample.0": "downsample_conv", "downsample.1": "downsample_bn"}


def torchvision_name(module: str) -> str | None:
    """torchvision's ResNet module name -> ferzoo's layer name (None: no counterpart)."""
    fixed = {"conv1": "stem_conv", "bn1": "stem_bn", "fc": "predictions"}
    if module in fixed:
        return fixed[module]
    match = _TORCH_BLOCK.fullmatch(module)
    if match is None:
        return None
    stage, block, part = match.groups()
    return f"stage{stage}_block{int(block) + 1}_{_TORCH_PART.get(part, part)}"


_HUB_BLOCK = re.compile(r"stack(\d+)_block(\d+)_([012])_(conv|bn)")
_HUB_PART = {"0": "downsample_", "1": "", "2": ""}


def keras_hub_name(name: str) -> str | None:
    """keras-hub ResNetBackbone layer name -> ferzoo's (None: no counterpart)."""
    if name in ("conv1_conv", "conv1_bn"):
        return {"conv1_conv": "stem_conv", "conv1_bn": "stem_bn"}[name]
    match = _HUB_BLOCK.fullmatch(name)
    if match is None:
        return None
    stack, block, index, kind = match.groups()
    suffix = f"{kind}{index}" if index != "0" else kind
    return f"stage{int(stack) + 1}_block{int(block) + 1}_{_HUB_PART[index]}{suffix}"


FAMILY = Family(
    "resnet",
    resnet,
    VARIANTS,
    spatial_ops=spatial_ops,
    unused_arguments=unused_arguments,
    sweep_backbones=("resnet18", "resnet34"),
    stages=True,
    pretrained_names={"torchvision": torchvision_name, "keras_hub": keras_hub_name},
    # The papers' ablation grids: MsC-wCA (dense head) and WAMF (capsule head).
    ablation_grids={
        "msc_wca": {
            f"resnet{d}": (f"resnet{d}", f"msc_resnet{d}", f"wca_resnet{d}", f"msc_wca_resnet{d}")
            for d in (18, 34)
        },
        "wamf": {
            f"resnet{d}": (
                f"resnet{d}_caps",
                f"mf_resnet{d}_caps",
                f"wa_resnet{d}_caps",
                f"wamf_resnet{d}",
            )  # fmt: skip
            for d in (18, 34)
        },
    },
)
