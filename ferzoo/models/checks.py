"""The argument and input-size checks every family's builder shares.

Each raises a ValueError that names the bad value; `input_size` computes the smallest image a
network takes from its list of downsampling layers (`SpatialOp`) and raises the
`InfeasibleSizeError` that states it.

    from ferzoo.models import checks
    checks.positive_int("stem_filters", 64); checks.choice("head", "dense", HEADS)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import keras

from ferzoo.models.family import InfeasibleSizeError


def choice(argument: str, value: Any, choices: tuple, allow_none: bool = False) -> None:
    """ValueError naming `argument` unless `value` is one of `choices` (or None if allowed)."""
    if value is None and allow_none:
        return
    if value not in choices:
        allowed = ", ".join(repr(c) for c in ((None,) if allow_none else ()) + tuple(choices))
        raise ValueError(f"{argument} must be one of {allowed}. Received: {argument}={value!r}")


def positive_int(argument: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{argument} must be a positive int. Received: {argument}={value!r}")


def int_tuple(argument: str, value: Any, length: int | None = None) -> tuple[int, ...]:
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


def num_classes(num_classes: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2. Received: num_classes={num_classes!r}")


def dropout_rate(argument: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise ValueError(f"{argument} must be a number in [0, 1). Received: {argument}={value!r}")
    return float(value)


def resolve_input(input_shape: Any, data_format: str | None) -> tuple[str, tuple[int, int]]:
    """Validate `input_shape` and return `(data_format, (height, width))`."""
    data_format = data_format or keras.config.image_data_format()
    choice("data_format", data_format, ("channels_last", "channels_first"))
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


def input_size(
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


__all__ = [
    "SpatialOp",
    "choice",
    "dropout_rate",
    "first_failure",
    "input_size",
    "int_tuple",
    "min_input_size",
    "num_classes",
    "positive_int",
    "resolve_input",
]
