"""Shape helpers the layers share, written so that exported graphs stay simple."""

from __future__ import annotations

from keras import ops


def with_unit_axes(x, axes):
    """`x` with a size-1 axis inserted at each of `axes` (positions in the result, >= 1).

    Where every size but the batch is known this is one reshape to a constant shape (batch -1),
    not an `expand_dims` per axis: an exported ONNX graph then holds one `Reshape` with a
    constant target, which every runtime takes and broadcasts correctly (OpenCV's DNN module
    cannot unsqueeze several axes at once, and after an Unsqueeze it broadcasts wrongly).

    Example:
    >>> with_unit_axes(keras.ops.ones((2, 5)), (1, 2)).shape
    (2, 1, 1, 5)
    """
    axes = sorted(axes)
    size = tuple(x.shape[1:])
    if None in size:
        for axis in axes:
            x = ops.expand_dims(x, axis)
        return x
    shape = [-1, *size]
    for axis in axes:
        shape.insert(axis, 1)
    return ops.reshape(x, tuple(shape))
