"""Argument checks shared by the layers, with the error messages the layers have always given.

Each check names the argument and shows the value received. `quote` picks how the value is
shown: `repr` (`data_format='x'`), as most layers do, or `str` (`data_format=x`), as the
wavelet layers and `MultiScaleConv` do.
"""

from __future__ import annotations

import keras

DATA_FORMATS = ("channels_last", "channels_first")


def _shown(value, quote: bool) -> str:
    return repr(value) if quote else str(value)


def is_positive_int(value) -> bool:
    """Whether `value` is an int >= 1 (a bool is not an int here)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def positive_int(
    name: str,
    value,
    *,
    allow_none: bool = False,
    requirement: str = "a positive int",
    quote: bool = True,
):
    """Return `value` if it is a positive int (or `None` when `allow_none`), else raise.

    Args:
        name: the argument's name, for the message.
        value: the value received.
        allow_none: whether `None` is accepted (and returned).
        requirement: what the message says `name` must be.
        quote: show the value with `repr` (default) or `str`.

    Returns:
        `value`.
    """
    if value is None and allow_none:
        return None
    if not is_positive_int(value):
        raise ValueError(f"{name} must be {requirement}. Received: {name}={_shown(value, quote)}")
    return value


def odd_positive_int(name: str, value) -> int:
    """Return `value` if it is an odd positive int, else raise."""
    if not is_positive_int(value) or value % 2 == 0:
        raise ValueError(f"{name} must be an odd positive int. Received: {name}={value!r}")
    return value


def data_format(value: str | None, *, quote: bool = True) -> str:
    """Return `value` (`keras.config.image_data_format()` when `None`) if it is a data format.

    Args:
        value: `"channels_last"`, `"channels_first"` or `None`.
        quote: show a bad value with `repr` (default) or `str`.

    Returns:
        `"channels_last"` or `"channels_first"`.
    """
    value = keras.config.image_data_format() if value is None else value
    if value not in DATA_FORMATS:
        raise ValueError(
            "data_format must be 'channels_last' or 'channels_first'. "
            f"Received: data_format={_shown(value, quote)}"
        )
    return value


def activation(value):
    """Return `keras.activations.get(value)`, with a message naming `activation` on failure."""
    try:
        return keras.activations.get(value)
    except ValueError as error:
        raise ValueError(
            f"activation is not a known activation. Received: activation={value!r}"
        ) from error


def feature_map_shape(layer: str, input_shape) -> None:
    """Raise unless `input_shape` is 4D (`(batch, H, W, C)` or `(batch, C, H, W)`)."""
    if len(input_shape) != 4:
        raise ValueError(
            f"{layer} expects a 4D feature map. Received: input_shape={tuple(input_shape)}"
        )
