"""A dataset's images held on the device: row indices in, the images of those rows out."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ferzoo")
class ImageTable(keras.layers.Layer):
    """Rows of a table of images kept as one non-trainable weight on the device.

    `ferzoo.train` with data on the device (`data_on_device`, see
    `ferzoo.training.device_input`) puts the training and validation images here once and
    feeds the step int32 row indices; the gather runs in the compiled step, so no image
    crosses from host to device after the first placement.

    Args:
        table_shape: `(N, ...)`, the table's shape (N images).
        images: the table's values, an array (or a backend tensor, e.g. one already on the
            device) of `table_shape`; None: zeros (a loaded model's weights then fill it).
        table_dtype: the images' dtype (default "uint8").

    Call arguments:
        rows: int `(B,)` row indices in [0, N).

    Returns:
        `(B, ...)` images of `table_dtype`.

    Reference:
        A weight, not a constant: JAX would bake a constant into every compiled program,
        while a weight is passed in (as an argument, donated) and stays where it is. The
        weight is not trainable and holds no gradient; its copy in a saved model is the
        table, so networks that serve are never given one.
    """

    def __init__(self, table_shape, images: Any = None, table_dtype: str = "uint8", **kwargs: Any):
        super().__init__(**kwargs)
        shape = tuple(int(d) for d in table_shape)
        if len(shape) < 1 or min(shape) < 1:
            raise ValueError(
                f"table_shape must be a non-empty shape of positive sizes. Received: "
                f"table_shape={table_shape!r}"
            )
        if images is not None and tuple(images.shape) != shape:
            raise ValueError(
                f"images must have table_shape {shape}. Received: images of shape "
                f"{tuple(images.shape)}"
            )
        self.table_shape = shape
        self.table_dtype = keras.backend.standardize_dtype(table_dtype)
        initializer = "zeros" if images is None else (lambda shape, dtype=None: images)
        self.table = self.add_weight(
            shape=shape,
            dtype=self.table_dtype,
            initializer=initializer,
            trainable=False,
            name="table",
        )

    def call(self, rows):
        return ops.take(self.table, ops.cast(rows, "int32"), axis=0)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), *self.table_shape[1:])

    def compute_output_spec(self, rows):
        shape = self.compute_output_shape(rows.shape)
        return keras.KerasTensor(shape, dtype=self.table_dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "table_shape": list(self.table_shape),
            "table_dtype": self.table_dtype,
        }


__all__ = ["ImageTable"]
