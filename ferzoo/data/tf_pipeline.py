"""The tf.data pipelines (TensorFlow installed): read, keep a part, decode, crop, cache, batch.

Per part: read every split of the prepared TFRecord files, keep the examples whose id the
protocol put in that part, decode, crop to the stored `face_box` and resize
(`ferzoo.data.imaging.crop_resize_uint8`, the same NumPy code every other path runs), cache
the uint8 images, scale to [0, 1], augment (training part only), shuffle (training part only,
seeded), batch, prefetch. tf.data feeds every Keras backend.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from ferzoo.data import imaging as pp
from ferzoo.data.protocols import PARTS


def _crop_resize(image: tf.Tensor, box: tf.Tensor | None, size: int) -> tf.Tensor:
    def run(pixels, box_values):
        return pp.crop_resize_uint8(pixels, size, None if box is None else box_values)

    box_arg = box if box is not None else tf.zeros([4], tf.float32)
    out = tf.numpy_function(run, [image, box_arg], tf.uint8, stateful=False)
    return tf.ensure_shape(out, [size, size, 3])


def _part_table(ids: np.ndarray, index: dict[str, np.ndarray]) -> tf.lookup.StaticHashTable:
    codes = np.full(len(ids), -1, np.int32)
    for code, part in enumerate(PARTS):
        codes[index[part]] = code
    return tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(list(ids), tf.string), tf.constant(codes)),
        default_value=-1,
    )


def _augmented(ds: tf.data.Dataset, augment: float, seed: int) -> tf.data.Dataset:
    from ferzoo.data import augment as aug

    noise = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def apply(pair, s):
        image, label = pair
        out = tf.numpy_function(
            lambda x, k: aug.augment_image(x, int(k), float(augment)), [image, s], tf.float32
        )
        return tf.ensure_shape(out, image.shape), label

    return tf.data.Dataset.zip((ds, noise)).map(apply, num_parallel_calls=tf.data.AUTOTUNE)


def build_parts(
    found: Any,
    ids: np.ndarray,
    index: dict[str, np.ndarray],
    *,
    image_size: int,
    batch_size: int,
    seed: int,
    augment: float,
    crop_face: bool,
    cache: bool | str,
) -> dict[str, tf.data.Dataset]:
    """The three batched `tf.data.Dataset`s of `(image, label)` for a split `index`."""
    table = _part_table(ids, index)
    image_feature = found.info.features["image"]

    def decode(example):
        image = image_feature.decode_example(example["image"])
        box = example["face_box"] if crop_face else None
        return _crop_resize(image, box, image_size), tf.cast(example["label"], tf.int32)

    parts = {}
    for code, part in enumerate(PARTS):
        ds = found.as_dataset(
            split="+".join(sorted(found.info.splits)),
            shuffle_files=False,
            read_config=tfds.ReadConfig(add_tfds_id=True),
            decoders={"image": tfds.decode.SkipDecoding()},
        )
        ds = ds.filter(lambda ex, code=code: table.lookup(ex["tfds_id"]) == code)
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        if cache:
            ds = ds.cache(f"{cache}-{part}" if isinstance(cache, str) else "")
        count = len(index[part])
        ds = ds.apply(tf.data.experimental.assert_cardinality(count))
        if part == "train":
            ds = ds.shuffle(max(count, 1), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(
            lambda image, label: (tf.cast(image, tf.float32) / 255.0, label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        if part == "train" and augment > 0:
            ds = _augmented(ds, augment, seed)
        parts[part] = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
    return parts


__all__ = ["build_parts"]
