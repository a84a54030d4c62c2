"""The `"tf.data"` reader: a prepared dataset's TFRecord shards through TFDS's `as_dataset`.

One of the two readers of `ferzoo.data.readers.READERS`; both expose the same interface:

- `read_columns(found) -> Columns`: the split columns, no image decoded;
- `read_images(found, cols, image_size, crop_face) -> np.ndarray`: every image decoded,
  cropped to its `face_box` and resized (`ferzoo.data.imaging.crop_resize_uint8`), uint8
  `(N, S, S, 3)` in the columns' order.

The images are decoded by the Image feature's NumPy decoding (OpenCV) inside
`tf.numpy_function`, as the ArrayRecord reader decodes them, so both give the same pixels.
A shard that cannot be read is `ferzoo.data.base.damaged`'s one line naming the dataset's
folder (`reading_tfrecords`). Needs TensorFlow (imported when a dataset is read, not with
this module).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator

import numpy as np

from ferzoo.data import imaging, shards
from ferzoo.data.base import Columns, check_align, check_order, damaged
from ferzoo.files import DamagedFileError


def tfrecord_problem(found) -> str | None:
    """Which TFRecord shard of a prepared builder is missing or truncated, or None.

    Reads every record's framing (not the CRCs): called only after tf.data failed.
    """
    primary = str(found.info.file_format.value)
    for split_info in found.info.splits.values():
        paths = shards.shard_paths(split_info, primary)
        for path, length in zip(paths, split_info.shard_lengths, strict=True):
            shard = os.path.basename(path)
            if not os.path.isfile(path):
                return f"its shard {shard} is missing"
            try:
                count = sum(1 for _ in shards.read_tfrecord(path))
            except ValueError:
                return f"its shard {shard} is truncated"
            if count != length:
                return f"its shard {shard} holds {count} records, dataset_info.json says {length}"
    return None


@contextlib.contextmanager
def reading_tfrecords(found) -> Iterator[None]:
    """tf.data's errors for a truncated, corrupt or missing shard as `damaged(found, ...)`."""
    import tensorflow as tf  # lazy: TensorFlow loads only when a dataset is read

    try:
        yield
    except (tf.errors.DataLossError, tf.errors.NotFoundError) as error:
        problem = tfrecord_problem(found)
        if problem is None:  # tf.data's message, without its op and device names
            text = re.sub(r"\{\{.*?\}\}|\[Op:.*", "", getattr(error, "message", str(error)))
            problem = f"a TFRecord shard cannot be read: {DamagedFileError.reason(text.strip())}"
        raise damaged(found, problem) from error


def undecoded_splits(found):
    """(split, tf.data dataset) per split in sorted order, in file order, with `tfds_id` and the
    image left encoded (`SkipDecoding`)."""
    import tensorflow_datasets as tfds  # lazy, as TensorFlow

    for split in sorted(found.info.splits):
        yield (
            split,
            found.as_dataset(
                split=split,
                shuffle_files=False,
                read_config=tfds.ReadConfig(add_tfds_id=True),
                decoders={"image": tfds.decode.SkipDecoding()},
            ),
        )


def read_columns(found) -> Columns:
    """The split columns through tf.data (TFRecord files), no image decoded."""
    import tensorflow as tf  # lazy: TensorFlow loads only when a dataset is read
    import tensorflow_datasets as tfds

    has_subject = "subject_id" in found.info.features
    ids, labels, subject_ids, sources = [], [], [], []
    with reading_tfrecords(found):
        for split, ds in undecoded_splits(found):
            ds = ds.map(
                lambda ex: (
                    ex["tfds_id"],
                    ex["label"],
                    ex["subject_id"] if has_subject else tf.constant(b""),
                )
            )
            for tid, label, subject in tfds.as_numpy(ds.batch(4096)):
                ids.extend(tid.tolist())
                labels.extend(label.tolist())
                subject_ids.extend(s.decode("utf-8") for s in subject.tolist())
                sources.extend([split] * len(tid))
    return Columns.from_lists(ids, labels, subject_ids, sources)


def read_images(found, cols: Columns, image_size: int, crop_face: bool, align: bool = False):
    """Decode with tf.data from the prepared TFRecord files (TensorFlow installed)."""
    import tensorflow as tf  # lazy: TensorFlow loads only when a dataset is read
    import tensorflow_datasets as tfds

    image_feature = found.info.features["image"]
    size = int(image_size)
    align = check_align(found, crop_face, align)

    def run(encoded, box, landmarks):  # the same NumPy decoding as the ArrayRecord reader
        pixels = image_feature.decode_example_np(encoded)
        if not crop_face:
            return imaging.crop_resize_uint8(pixels, size)
        return imaging.crop_resize_uint8(pixels, size, box, landmarks if align else None)

    def decode(example):
        marks = example["face_landmarks"] if align else tf.zeros((5, 2), tf.float32)
        args = [example["image"], example["face_box"], marks]
        out = tf.numpy_function(run, args, tf.uint8, stateful=False)
        return example["tfds_id"], tf.ensure_shape(out, [size, size, 3])

    images = np.zeros((len(cols.ids), size, size, 3), np.uint8)
    ids: list[bytes] = []
    with reading_tfrecords(found):  # a damaged shard: one line naming the folder
        for _, ds in undecoded_splits(found):
            ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            for tid, batch in tfds.as_numpy(ds.batch(256)):
                images[len(ids) : len(ids) + len(tid)] = batch
                ids.extend(tid.tolist())
    check_order(found, ids, cols)
    return images


__all__ = ["read_columns", "read_images", "reading_tfrecords", "tfrecord_problem",
           "undecoded_splits"]  # fmt: skip
