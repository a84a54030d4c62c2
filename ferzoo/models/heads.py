"""What every family shares: the classifier heads, the argument checks, and the input checks.

- `dense_head`: global average pooling -> (dropout) -> Dense softmax (the MsC-wCA ResNets).
- `CapsuleHead`: the capsule head's options, grouped (a builder's `head_kwargs`); calling it
  adds PrimaryCapsule -> Capsule(num_classes, 16) -> CapsuleLength (the WAMF paper).
- `msc_stem`: the MultiScaleConv that replaces a family's first conv (the MsC stem).
- `check_input_size`: the minimum image size a network accepts, computed from its list of
  downsampling layers, and the `InfeasibleSizeError` (a ValueError) that states it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import keras

from ferzoo import layers as L
from ferzoo.models.family import InfeasibleSizeError

HEADS = ("dense", "capsule")

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


def check_choice(argument: str, value: Any, choices: tuple, allow_none: bool = False) -> None:
    """ValueError naming `argument` unless `value` is one of `choices` (or None if allowed)."""
    if value is None and allow_none:
        return
    if value not in choices:
        allowed = ", ".join(repr(c) for c in ((None,) if allow_none else ()) + tuple(choices))
        raise ValueError(f"{argument} must be one of {allowed}. Received: {argument}={value!r}")


def check_positive_int(argument: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be a positive int. Received: {argument}={value!r}")


def check_int_tuple(argument: str, value: Any, length: int | None = None) -> tuple[int, ...]:
    """A non-empty tuple of positive ints (of `length` items if given)."""
    if (
        not isinstance(value, tuple | list)
        or not value
        or (length is not None and len(value) != length)
        or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value)
    ):
        size = f"{length} " if length is not None else ""
        raise ValueError(
            f"{argument} must be a tuple of {size}positive ints. Received: {argument}={value!r}"
        )
    return tuple(value)


def check_num_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2. Received: num_classes={num_classes!r}")


def resolve_input(input_shape: Any, data_format: str | None) -> tuple[str, tuple[int, int]]:
    """Validate `input_shape` and return `(data_format, (height, width))`."""
    data_format = data_format or keras.config.image_data_format()
    check_choice("data_format", data_format, ("channels_last", "channels_first"))
    if (
        not isinstance(input_shape, tuple | list)
        or len(input_shape) != 3
        or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in input_shape)
    ):
        raise ValueError(
            "input_shape must be 3 positive ints, (height, width, channels) "
            f"(or (channels, height, width) with channels_first). Received: input_shape={input_shape!r}"
        )
    if data_format == "channels_last":
        return data_format, (input_shape[0], input_shape[1])
    return data_format, (input_shape[1], input_shape[2])


class SpatialOp(NamedTuple):
    """One layer that changes the spatial size: a square window, a stride and a padding.

    `padding` is a symmetric pixel count (PyTorch's `padding=p`) or `"same"` (Keras: the output is
    `ceil(size / stride)`).
    """

    label: str
    kernel: int
    stride: int
    padding: int | str


def _output_length(size: int, op: SpatialOp) -> int:
    if op.padding == "same":
        return -(-size // op.stride)
    return (size + 2 * op.padding - op.kernel) // op.stride + 1


def first_failure(size: int, spatial_ops: list[SpatialOp]) -> str | None:
    """The label of the first layer that `size` pixels do not get through, or None.

    A layer fails when its window does not fit (output < 1), or when it has a stride `s > 1` and
    receives fewer than `s` pixels: it would then pad a single pixel into an output of the same
    size and no longer downsample, so the network's later layers would see a degenerate map.
    """
    for op in spatial_ops:
        if size < op.stride:
            return op.label
        size = _output_length(size, op)
        if size < 1:
            return op.label
    return None


def min_input_size(spatial_ops: list[SpatialOp], limit: int = 1 << 14) -> int:
    """The smallest image side that every layer of `spatial_ops` accepts (see `first_failure`).

    Example:
    >>> min_input_size([SpatialOp("conv", 11, 4, 2), SpatialOp("pool", 3, 2, 0)])
    15
    """
    for size in range(1, limit + 1):
        if first_failure(size, spatial_ops) is None:
            return size  # output lengths grow with the input, so this is the minimum
    raise ValueError(f"No input side up to {limit} fits these layers: {spatial_ops}")


def check_input_size(
    model_name: str, input_shape: Any, hw: tuple[int, int], spatial_ops: list[SpatialOp]
) -> None:
    """Raise an InfeasibleSizeError stating the minimum size if `hw` is too small for
    `spatial_ops`."""
    minimum = min_input_size(spatial_ops)
    for axis, size in zip(("height", "width"), hw, strict=True):
        failure = first_failure(size, spatial_ops)
        if failure is not None:
            raise InfeasibleSizeError(
                f"input_shape is too small for {model_name}: the minimum image size is "
                f"{minimum}x{minimum} (its {axis} of {size} does not get through layer "
                f"'{failure}'). Received: input_shape={tuple(input_shape)}"
            )


def dense_head(x, num_classes: int, *, dropout: float, data_format: str):
    """Global average pooling -> Dropout (if `dropout` > 0) -> Dense softmax."""
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    # float32 probabilities under a mixed-precision policy (Keras' mixed-precision guide).
    return keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="predictions"
    )(x)


@dataclasses.dataclass(frozen=True)
class CapsuleHead:
    """The capsule head's options, one group (a builder's `head_kwargs`).

    Attributes:
        primary_capsules: capsule channels of the primary capsule layer.
        primary_dim: dimension of a primary capsule.
        primary_kernel: kernel of the primary capsule convolution.
        primary_strides: stride of the primary capsule convolution ("same" padding).
        capsule_dim: dimension of a class capsule.
        routings: routing iterations of the class capsules.

    Example:
    >>> CapsuleHead.of({"routings": 2}, capsule_dim=None).routings
    2
    """

    primary_capsules: int = 32
    primary_dim: int = 8
    primary_kernel: int = 3
    primary_strides: int = 2
    capsule_dim: int = 16
    routings: int = 3

    def __post_init__(self):
        for argument in CAPSULE_ARGS[:-1]:  # the Capsule layer checks `routings`
            check_positive_int(argument, getattr(self, argument))

    @classmethod
    def of(cls, head_kwargs: Mapping[str, Any] | None = None, **flat: Any) -> CapsuleHead:
        """The options from `head_kwargs` and the flat keywords given (None: not given).

        A keyword given both ways, or one the capsule head does not take, is a ValueError.
        """
        if head_kwargs is not None and not isinstance(head_kwargs, Mapping):
            raise ValueError(f"head_kwargs must be a dict. Received: head_kwargs={head_kwargs!r}")
        grouped = dict(head_kwargs or {})
        unknown = sorted(set(grouped) - set(CAPSULE_ARGS))
        twice = sorted(k for k, v in flat.items() if v is not None and k in grouped)
        if unknown or twice:
            what = f"takes no {', '.join(unknown)}" if unknown else f"also given as {twice}"
            raise ValueError(
                f"head_kwargs: the capsule head {what} (keywords: {', '.join(CAPSULE_ARGS)}). "
                f"Received: head_kwargs={grouped}"
            )
        grouped.update({k: v for k, v in flat.items() if v is not None})
        return cls(**grouped)

    def spatial_ops(self) -> list[SpatialOp]:
        """The primary-capsule convolution, the one layer of the head that downsamples."""
        return [SpatialOp("primary_capsules", self.primary_kernel, self.primary_strides, "same")]

    def __call__(self, x, num_classes: int, *, data_format: str):
        """PrimaryCapsule -> Capsule(num_classes, capsule_dim, routings) -> CapsuleLength.

        The primary capsules use "same" padding, so with stride 2 a ResNet's 7x7 map at 224x224
        gives 4x4 positions x `primary_capsules` capsules (512 with the defaults).
        """
        x = L.PrimaryCapsule(
            self.primary_capsules,
            self.primary_dim,
            kernel_size=self.primary_kernel,
            strides=self.primary_strides,
            padding="same",
            data_format=data_format,
            name="primary_capsules",
        )(x)
        x = L.Capsule(num_classes, self.capsule_dim, routings=self.routings, name="class_capsules")(
            x
        )
        # float32 class scores under a mixed policy, as for the dense head.
        return L.CapsuleLength(dtype="float32", name="capsule_length")(x)


CAPSULE_ARGS = tuple(f.name for f in dataclasses.fields(CapsuleHead))


def check_dropout(argument: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{argument} must be a number in [0, 1). Received: {argument}={value!r}")
    return float(value)


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


def head_spatial_ops(head: str, capsule: CapsuleHead) -> list[SpatialOp]:
    """The downsampling the head adds (the primary-capsule convolution), for the size check."""
    return capsule.spatial_ops() if head == "capsule" else []
