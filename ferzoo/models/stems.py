"""The stems' shared parts: batch normalisation with PyTorch's defaults, and the MsC stem (the
MultiScaleConv that replaces a family's first convolution) with its downsampling for the size
check."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from ferzoo import layers as L
from ferzoo.models.checks import SpatialOp

# PyTorch's BatchNorm2d defaults (momentum 0.1 = Keras momentum 0.9, eps 1e-5): the papers'
# models are PyTorch models.
BN_MOMENTUM = 0.9

BN_EPSILON = 1e-5


def batch_norm(data_format: str, name: str) -> keras.layers.BatchNormalization:
    """Batch norm on the channel axis, with PyTorch's momentum and epsilon."""
    axis = -1 if data_format == "channels_last" else 1
    return keras.layers.BatchNormalization(
        axis=axis, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name
    )


def msc_stem(inputs, filters: int, kernels, strides: int, data_format: str, *, use_bias: bool):
    """The MultiScaleConv that replaces a family's first conv (layer name `stem_msc`)."""
    return L.MultiScaleConv(
        filters,
        kernel_sizes=tuple(kernels),
        strides=strides,
        use_bias=use_bias,
        data_format=data_format,
        name="stem_msc",
    )(inputs)


def stem_spatial_op(conv: SpatialOp, kwargs: Mapping[str, Any], msc_strides: int) -> SpatialOp:
    """The stem's downsampling: the family's plain convolution `conv`, or the MsC stem (same
    padding, its largest kernel). `kwargs` are the builder's; `msc_strides` its default."""
    if kwargs.get("stem", "conv") == "conv":
        return conv
    kernels = kwargs.get("msc_kernels") or (3, 5, 7)
    return SpatialOp("stem_msc", max(kernels), kwargs.get("msc_strides", msc_strides), "same")


__all__ = ["BN_EPSILON", "BN_MOMENTUM", "batch_norm", "msc_stem", "stem_spatial_op"]
