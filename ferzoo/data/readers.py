"""The readers of a prepared dataset, by name: `READERS` and the two reads that go through it.

`load(..., reader=)` picks one of two readers, which give the same examples in the same order
with the same ids and the same pixels:

- `"tf.data"` (`ferzoo.data.tfrecord_reader`): TFDS's `as_dataset` on the TFRecord shards;
  needs TensorFlow.
- `"numpy"` (`ferzoo.data.array_record_reader`): TFDS's TensorFlow-free data source on the
  ArrayRecord copy that `ferzoo.data.preparation` writes.

Each is a module with `read_columns(found)` and `read_images(found, cols, image_size,
crop_face)`. `columns_of` reads the split columns (no image decoded; once per process and
reader) and `read_images` every image, cropped to its `face_box` and resized with
`ferzoo.data.imaging.crop_resize_uint8`, as uint8 `(N, S, S, 3)` in the columns' order (split,
then file position), so that a protocol's example indices address it directly: the parts of a
split are slices of one array, shared by every batch size and augmentation a sweep tries.

Both decode with the Image feature's NumPy decoding (OpenCV), so the pixels are equal. It is
also the decoding `ferzoo predict` gets from OpenCV and PIL: TensorFlow's own JPEG decoding
(`tf.image.decode_image`, libjpeg's fast integer DCT) differs from it by up to 6 levels in some
pixels. `default_reader()` is tf.data when TensorFlow is installed, else numpy.
"""

from __future__ import annotations

import os

import numpy as np

from ferzoo.data import array_record_reader, tfrecord_reader
from ferzoo.data.base import Columns, tensorflow_available

READERS = {"tf.data": tfrecord_reader, "numpy": array_record_reader}
_COLUMNS: dict[tuple[str, str], Columns] = {}


def default_reader() -> str:
    """`"tf.data"` when TensorFlow is installed, else `"numpy"`."""
    return "tf.data" if tensorflow_available() else "numpy"


def check_reader(reader: str | None) -> str:
    """`reader`, or the default for None; a ValueError naming an unknown one."""
    if reader is None:
        return default_reader()
    if reader not in READERS:
        raise ValueError(f"reader must be one of {tuple(READERS)}. Received: reader={reader!r}")
    return reader


def columns_of(found, reader: str | None = None) -> Columns:
    """The split columns of a prepared builder, read once per process and reader.

    Args:
        found: a prepared builder.
        reader: a name of `READERS`; default tf.data when TensorFlow is installed, else numpy.
            Both give equal columns.
    """
    reader = check_reader(reader)
    key = (os.fspath(found.data_dir), reader)
    if key not in _COLUMNS:
        _COLUMNS[key] = READERS[reader].read_columns(found)
    return _COLUMNS[key]


def read_images(
    found, cols: Columns, image_size: int, crop_face: bool, reader: str, align: bool = False
) -> np.ndarray:
    """Every image of a prepared builder, cropped (or aligned) and resized, by `reader`."""
    return READERS[check_reader(reader)].read_images(found, cols, image_size, crop_face, align)


__all__ = ["READERS", "check_reader", "columns_of", "default_reader", "read_images"]
