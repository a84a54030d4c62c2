"""Reading a prepared dataset's images into memory, cropped and resized once.

`read_images(found, cols, image_size, crop_face, reader)` decodes every example of a prepared
TFDS dataset, crops it to its stored `face_box` and resizes it with
`ferzoo.data.imaging.crop_resize_uint8` (the one preprocessing of ferzoo), and returns uint8
`(N, S, S, 3)` in the order of `ferzoo.data.sources.columns` (split, then file position), so
that a protocol's example indices address it directly. The parts of a split are then slices of
one array, shared by every batch size and augmentation a sweep tries.

Two readers give the same examples in the same order with the same ids:

- `"tf.data"` (`read_images_tf`): TFDS's `as_dataset` on the TFRecord shards; needs TensorFlow.
- `"numpy"` (`read_images_numpy`): TFDS's TensorFlow-free data source on the ArrayRecord copy
  (`ferzoo.data.array_records`), images decoded by the Image feature's NumPy decoding (OpenCV)
  in a pool of threads.

A shard that cannot be read is a one-line `ferzoo.files.DamagedFileError` naming the dataset's
folder (`sources.reading_tfrecords`, `array_records.read_examples`).

Both decode with the Image feature's NumPy decoding (OpenCV), so the pixels are equal. It is
also the decoding `ferzoo predict` gets from OpenCV and PIL: TensorFlow's own JPEG decoding
(`tf.image.decode_image`, libjpeg's fast integer DCT) differs from it by up to 6 levels in some
pixels. `default_reader()` is tf.data when TensorFlow is installed, else numpy.
"""

from __future__ import annotations

import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ferzoo.data import imaging, sources

READERS = ("tf.data", "numpy")
_CHUNK = 64  # examples per decoding task


def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported here (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def default_reader() -> str:
    """`"tf.data"` when TensorFlow is installed, else `"numpy"`."""
    return "tf.data" if tensorflow_available() else "numpy"


def check_reader(reader: str | None) -> str:
    """`reader`, or the default for None; a ValueError naming an unknown one."""
    if reader is None:
        return default_reader()
    if reader not in READERS:
        raise ValueError(f"reader must be one of {READERS}. Received: reader={reader!r}")
    return reader


def read_images(found, cols, image_size: int, crop_face: bool, reader: str) -> np.ndarray:
    """`read_images_tf` or `read_images_numpy` by name (`READERS`)."""
    if check_reader(reader) == "tf.data":
        return read_images_tf(found, cols, image_size, crop_face)
    return read_images_numpy(found, cols, image_size, crop_face)


def read_images_tf(found, cols, image_size: int, crop_face: bool) -> np.ndarray:
    """Decode with tf.data from the prepared TFRecord files (TensorFlow installed)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    image_feature = found.info.features["image"]
    size = int(image_size)

    def run(encoded, box):  # the same NumPy decoding as read_images_numpy
        pixels = image_feature.decode_example_np(encoded)
        return imaging.crop_resize_uint8(pixels, size, box if crop_face else None)

    def decode(example):
        args = [example["image"], example["face_box"]]
        out = tf.numpy_function(run, args, tf.uint8, stateful=False)
        return example["tfds_id"], tf.ensure_shape(out, [size, size, 3])

    images = np.zeros((len(cols.ids), size, size, 3), np.uint8)
    ids: list[bytes] = []
    with sources.reading_tfrecords(found):  # a damaged shard: one line naming the folder
        for _, ds in sources.undecoded_splits(found):
            ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            for tid, batch in tfds.as_numpy(ds.batch(256)):
                images[len(ids) : len(ids) + len(tid)] = batch
                ids.extend(tid.tolist())
    _check_order(found, ids, cols)
    return images


def _check_order(found, ids: list[bytes], cols) -> None:
    if ids != list(cols.ids):
        raise RuntimeError(
            f"{found.name}: the images were read in another order than the split columns; "
            "delete the prepared copy and build it again (ferzoo data build)."
        )


def read_images_numpy(
    found, cols, image_size: int, crop_face: bool, workers: int | None = None
) -> np.ndarray:
    """Decode from the ArrayRecord copy without TensorFlow, in `workers` threads.

    Args:
        found: a prepared builder with its ArrayRecord copy (`ferzoo.data.array_records`).
        cols: its `ferzoo.data.sources.Columns` (checked against the ids read).
        image_size: the output side.
        crop_face: crop to each example's `face_box`.
        workers: decoding threads (OpenCV's decoding and resizing release the GIL); default
            the CPU count, at most 8.

    Returns:
        uint8 `(N, image_size, image_size, 3)` in the columns' order.
    """
    from ferzoo.data import array_records

    size = int(image_size)
    workers = workers or min(8, os.cpu_count() or 1)
    images = np.zeros((len(cols.ids), size, size, 3), np.uint8)
    splits = array_records.split_sources(found)
    feature = found.info.features["image"]

    def decode(source, offset: int, start: int) -> None:
        stop = min(start + _CHUNK, len(source))
        examples = array_records.read_examples(found, source, list(range(start, stop)))
        for i, example in enumerate(examples, start):
            pixels = feature.decode_example_np(example["image"])
            box = example["face_box"] if crop_face else None
            images[offset + i] = imaging.crop_resize_uint8(pixels, size, box)

    ids: list[bytes] = []
    with ThreadPoolExecutor(workers) as pool:
        tasks = []
        for source, split_ids in splits.values():
            starts = range(0, len(source), _CHUNK)
            tasks += [pool.submit(decode, source, len(ids), start) for start in starts]
            ids.extend(split_ids)
        for task in tasks:
            task.result()  # re-raises a worker's error
    _check_order(found, ids, cols)
    return images


__all__ = [
    "READERS",
    "check_reader",
    "default_reader",
    "read_images",
    "read_images_numpy",
    "read_images_tf",
    "tensorflow_available",
]
