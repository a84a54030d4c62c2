"""Reading a prepared dataset's images into memory, cropped and resized once.

`read_images(found, cols, image_size, crop_face)` decodes every example of a prepared TFDS
dataset, crops it to its stored `face_box` and resizes it with
`ferzoo.data.imaging.crop_resize_uint8` (the one preprocessing of ferzoo), and returns uint8
`(N, S, S, 3)` in the order of `ferzoo.data.sources.columns` (split, then file position), so
that a protocol's example indices address it directly. The parts of a split are then slices of
one array, shared by every batch size and augmentation a sweep tries.
"""

from __future__ import annotations

import numpy as np

from ferzoo.data import imaging


def read_images_tf(found, cols, image_size: int, crop_face: bool) -> np.ndarray:
    """Decode with tf.data from the prepared TFRecord files (TensorFlow installed)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    image_feature = found.info.features["image"]
    size = int(image_size)

    def run(pixels, box):
        return imaging.crop_resize_uint8(pixels, size, box if crop_face else None)

    def decode(example):
        image = image_feature.decode_example(example["image"])
        out = tf.numpy_function(run, [image, example["face_box"]], tf.uint8, stateful=False)
        return example["tfds_id"], tf.ensure_shape(out, [size, size, 3])

    images = np.zeros((len(cols.ids), size, size, 3), np.uint8)
    ids: list[bytes] = []
    for split in sorted(found.info.splits):
        ds = found.as_dataset(
            split=split,
            shuffle_files=False,
            read_config=tfds.ReadConfig(add_tfds_id=True),
            decoders={"image": tfds.decode.SkipDecoding()},
        )
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(256)
        for tid, batch in tfds.as_numpy(ds):
            images[len(ids) : len(ids) + len(tid)] = batch
            ids.extend(tid.tolist())
    if ids != list(cols.ids):
        raise RuntimeError(
            f"{found.name}: the images were read in another order than the split columns; "
            "delete the prepared copy and build it again (ferzoo data build)."
        )
    return images


__all__ = ["read_images_tf"]
