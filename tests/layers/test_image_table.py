"""ImageTable: a table of images held as one non-trainable weight, gathered by row (every
backend)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferzoo.layers.image_table import ImageTable


def _images(n=6):
    return np.random.default_rng(0).integers(0, 256, (n, 4, 5, 3), dtype=np.uint8)


def test_rows_in_give_exactly_those_images_out():
    images = _images()
    table = ImageTable(images.shape, images)
    rows = np.array([5, 0, 0, 3], np.int32)
    out = table(rows)
    assert keras.backend.standardize_dtype(out.dtype) == "uint8"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(out), images[rows])
    assert not table.trainable_weights and len(table.non_trainable_weights) == 1


def test_a_functional_model_takes_rows_and_yields_uint8_images():
    images = _images()
    rows = keras.Input(shape=(), dtype="int32")
    model = keras.Model(rows, ImageTable(images.shape, keras.ops.convert_to_tensor(images))(rows))
    assert model.outputs[0].dtype == "uint8" and tuple(model.outputs[0].shape) == (None, 4, 5, 3)
    np.testing.assert_array_equal(model.predict(np.array([1, 2]), verbose=0), images[[1, 2]])


def test_the_config_rebuilds_an_empty_table_that_weights_fill():
    images = _images()
    table = ImageTable(images.shape, images, name="t")
    clone = ImageTable.from_config(table.get_config())
    assert clone.table_shape == images.shape and clone.table_dtype == "uint8"
    clone.set_weights(table.get_weights())
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(np.array([4]))), images[[4]])


@pytest.mark.parametrize(
    ("shape", "images", "match"),
    [((0, 4), None, "table_shape"), ((), None, "table_shape"), ((6, 4, 4, 3), _images(), "images")],
)
def test_bad_shapes_are_named(shape, images, match):
    with pytest.raises(ValueError, match=match):
        ImageTable(shape, images)
