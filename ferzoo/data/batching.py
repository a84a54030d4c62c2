"""Batches from in-memory parts: a tf.data pipeline or a NumPy `keras.utils.PyDataset`.

Both take a part's cached uint8 images and int32 labels and yield `(float32 images in [0, 1],
int32 labels)` batches (or, with a `normalization` such as ImageNet's mean and std for
pretrained weights, `(x - mean) / std` of those); the training part is shuffled each epoch
(seeded) and augmented with `ferzoo.data.augment.augment_image` (the same NumPy function in
both: `tf_augment` calls it through `tf.numpy_function`), the other parts are neither. Each
pipeline draws its own per-example seeds, deterministically from `seed` (`augment_seeds` for
tf.data, `example_seed` for NumPy), as each shuffles in its own order; the k-th training
example of an epoch is `augment_image(image, that seed, strength)` on both. `model.fit` takes
either on every backend; the NumPy one needs no TensorFlow.
"""

from __future__ import annotations

import math

import numpy as np

from ferzoo.data.augment import augment_image

PIPELINES = ("tf.data", "numpy")


def example_seed(seed: int, epoch: int, position: int) -> int:
    """The NumPy pipeline's augmentation seed of the example at `position` of an epoch."""
    return int(np.random.SeedSequence([seed, epoch, position]).generate_state(1)[0])


def _normalizer(normalization):
    """`x -> (x - mean) / std` per channel, or None (the plain [0, 1] images)."""
    if not normalization:
        return None
    mean = np.asarray(normalization["mean"], np.float32)
    std = np.asarray(normalization["std"], np.float32)
    return lambda x: (x - mean) / std


def augment_seeds(seed: int):
    """The tf.data pipeline's per-example augmentation seeds: a stream of int64, new each epoch.

    `tf_dataset` zips it, in order, with the shuffled training examples, so the k-th training
    example of an epoch is `augment_image(image, <k-th value of this stream>, strength)`.
    """
    import tensorflow as tf

    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)


def tf_augment(image, seed, strength: float):
    """`augment_image` on a float32 image tensor inside tf.data (through `tf.numpy_function`)."""
    import tensorflow as tf

    out = tf.numpy_function(
        lambda a, k: augment_image(a, int(k), strength), [image, seed], tf.float32
    )
    return tf.ensure_shape(out, image.shape)


def tf_dataset(
    images, labels, *, batch_size: int, train: bool, seed: int, augment: float,
    normalization=None,
):  # fmt: skip
    """A batched, prefetched `tf.data.Dataset` over one part."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    if train:
        ds = ds.shuffle(max(len(labels), 1), seed=seed, reshuffle_each_iteration=True)
    ds = ds.map(
        lambda x, y: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE
    )
    if train and augment > 0:
        ds = tf.data.Dataset.zip((ds, augment_seeds(seed))).map(
            lambda pair, k: (tf_augment(pair[0], k, augment), pair[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    normalize = _normalizer(normalization)
    if normalize is not None:
        ds = ds.map(lambda x, y: (normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _py_dataset_base():
    import keras

    return keras.utils.PyDataset


class _Batches:
    """The NumPy batching logic; `numpy_batches` mixes it into `keras.utils.PyDataset`."""

    def _setup(self, images, labels, batch_size, train, seed, augment, normalization):
        self.images = images
        self.labels = labels.astype(np.int32)
        self.batch_size = int(batch_size)
        self.train = bool(train)
        self.seed = int(seed)
        self.augment = float(augment)
        self.normalize = _normalizer(normalization)
        self.epoch = 0
        self.order = self._order(0)

    def _order(self, epoch: int) -> np.ndarray:
        if not self.train:
            return np.arange(len(self.labels))
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.labels))

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(f"batch index {index} out of range [0, {len(self)})")
        rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        batch = self.images[rows].astype(np.float32) / np.float32(255.0)
        if self.train and self.augment > 0:
            start = index * self.batch_size
            batch = np.stack(
                [
                    augment_image(x, example_seed(self.seed, self.epoch, start + i), self.augment)
                    for i, x in enumerate(batch)
                ]
            )
        if self.normalize is not None:
            batch = self.normalize(batch)
        return batch, self.labels[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order(self.epoch)


def numpy_batches(
    images, labels, *, batch_size: int, train: bool, seed: int, augment: float,
    normalization=None,
):  # fmt: skip
    """A `keras.utils.PyDataset` over one part (two worker threads)."""
    base = _py_dataset_base()

    class ArrayBatches(_Batches, base):
        def __init__(self):
            base.__init__(self, workers=2, use_multiprocessing=False, max_queue_size=8)
            self._setup(images, labels, batch_size, train, seed, augment, normalization)

    return ArrayBatches()


def make_batches(pipeline: str, images, labels, **kwargs):
    """`tf_dataset` or `numpy_batches` by name (`PIPELINES`)."""
    if pipeline == "tf.data":
        return tf_dataset(images, labels, **kwargs)
    if pipeline == "numpy":
        return numpy_batches(images, labels, **kwargs)
    raise ValueError(f"pipeline must be one of {PIPELINES}. Received: pipeline={pipeline!r}")


__all__ = ["PIPELINES", "augment_seeds", "example_seed", "make_batches", "numpy_batches",
           "tf_augment", "tf_dataset"]  # fmt: skip
