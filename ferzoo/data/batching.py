"""Batches from in-memory parts: a tf.data pipeline or a NumPy `keras.utils.PyDataset`.

Both take a part's cached uint8 images and int32 labels, shuffle the training part each epoch
(seeded) and keep the other parts in order, and gather each batch by index in one vectorised
step (`tf.gather` in tf.data, NumPy's fancy indexing in the PyDataset). Their `output`:

- `"float"` (the default): `(float32 images in [0, 1], int32 labels)` (with a
  `normalization` such as ImageNet's mean and std for pretrained weights: `(x - mean) / std`
  of those), what `ferzoo.data.load`'s users get;
- `"uint8"`: `(uint8 images, int32 labels)`: what `ferzoo.train` fits on with the data on the
  host, the float conversion, augmentation (`ferzoo.layers.FaceAugment`) and normalisation
  then happening in the model's compiled step, on the device
  (`ferzoo.training.device_input`);
- `"rows"`: `(int32 rows of the device table, int32 labels)` (`rows[i]` is example `i`'s row):
  what `ferzoo.train` fits on with the data on the device, where the step gathers the images
  from an `ferzoo.layers.ImageTable`.

The three give the same examples in the same order for the same seed.

Neither augments: the training augmentation is one Keras layer inside the step, the same on
every pipeline and backend (`ferzoo.data.augment` is its NumPy reference). `model.fit` takes
either pipeline on every backend; the NumPy one needs no TensorFlow.

Reference:
    tf.data's "uint8" and "rows" batches (what `ferzoo.train` fits on) map sequentially, with
    a prefetch of 2 and autotuning off. With AUTOTUNE, making or dropping a `fit`'s iterators
    took 1-2 s now and then (a sweep's folds: at the end of `fit`, or before an epoch's first
    step; `benchmarks/trial_overhead.py`), while the batches came no faster: 70,000 uint8
    images/s at 112 px either way, and more rows (2026-12-07, the project's 2-core CPU). The
    "float" batches keep AUTOTUNE's threads: their conversion is worth it (44,000 against
    33,000 images/s).
"""

from __future__ import annotations

import math
import weakref

import numpy as np

PIPELINES = ("tf.data", "numpy")
OUTPUTS = ("float", "uint8", "rows")

# id(array) -> (weak reference to the array, its TensorFlow tensor): see `_tensor`.
_TENSORS: dict[int, tuple] = {}


def _tensor(array: np.ndarray):
    """The one TensorFlow tensor of an in-memory part's array, shared by every tf.data pipeline
    over it (the float batches, the trainer's uint8 batches, each `rebatched`): a conversion
    copies, and a large dataset's images should be held once. Dropped with the array."""
    import tensorflow as tf

    key = id(array)
    hit = _TENSORS.get(key)
    if hit is not None and hit[0]() is array:
        return hit[1]
    tensor = tf.convert_to_tensor(array)
    _TENSORS[key] = (weakref.ref(array, lambda _, key=key: _TENSORS.pop(key, None)), tensor)
    return tensor


def _normalizer(normalization):
    """`x -> (x - mean) / std` per channel, or None (the plain [0, 1] images)."""
    if not normalization:
        return None
    mean = np.asarray(normalization["mean"], np.float32)
    std = np.asarray(normalization["std"], np.float32)
    return lambda x: (x - mean) / std


def _table_rows(rows, n: int, output: str) -> np.ndarray | None:
    """The int32 table row of each of a part's `n` examples ("rows" output: required)."""
    if output != "rows":
        return None
    if rows is None or len(rows) != n:
        raise ValueError(
            f"output='rows' needs the table row of each of the part's {n} examples. Received: "
            f"rows of length {None if rows is None else len(rows)}"
        )
    return np.asarray(rows, np.int32)


def tf_dataset(
    images, labels, *, batch_size: int, train: bool, seed: int, normalization=None,
    output: str = "float", rows=None,
):  # fmt: skip
    """A batched, prefetched `tf.data.Dataset` over one part (see the module docstring)."""
    import tensorflow as tf

    pixels = None if output == "rows" else _tensor(images)
    table_rows = _table_rows(rows, len(labels), output)
    targets = tf.convert_to_tensor(labels.astype(np.int32))
    normalize = _normalizer(normalization) if output == "float" else None

    def gather(rows):
        if output == "rows":
            return tf.gather(table_rows, rows), tf.gather(targets, rows)
        x = tf.gather(pixels, rows)
        if output == "float":
            x = tf.cast(x, tf.float32) / 255.0
            if normalize is not None:
                x = normalize(x)
        return x, tf.gather(targets, rows)

    ds = tf.data.Dataset.range(len(labels))
    if train:
        ds = ds.shuffle(max(len(labels), 1), seed=seed, reshuffle_each_iteration=True)
    if output == "float":  # users' batches: the conversion is work worth parallel threads
        ds = ds.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE)
    # The trainer's batches are one gather each: no thread pool and no autotuning, whose
    # iterators cost 1-2 s to make or drop now and then (see the module's Reference).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.batch(batch_size).map(gather).prefetch(2).with_options(options)


def _py_dataset_base():
    import keras

    return keras.utils.PyDataset


class _Batches:
    """The NumPy batching logic; `numpy_batches` mixes it into `keras.utils.PyDataset`."""

    def _setup(self, images, labels, batch_size, train, seed, normalization, output, rows):
        self.images = images
        self.labels = labels.astype(np.int32)
        self.batch_size = int(batch_size)
        self.train = bool(train)
        self.seed = int(seed)
        self.output = output
        self.rows = _table_rows(rows, len(labels), output)
        self.normalize = _normalizer(normalization) if output == "float" else None
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
        if self.output == "rows":
            return self.rows[rows], self.labels[rows]
        batch = self.images[rows]
        if self.output == "float":
            batch = batch.astype(np.float32) / np.float32(255.0)
            if self.normalize is not None:
                batch = self.normalize(batch)
        return batch, self.labels[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order(self.epoch)


def numpy_batches(
    images, labels, *, batch_size: int, train: bool, seed: int, normalization=None,
    output: str = "float", rows=None,
):  # fmt: skip
    """A `keras.utils.PyDataset` over one part, gathered in the caller's thread.

    A batch is one fancy-indexing gather (and, for float batches, one conversion): worker
    threads would only add Keras' queue. Measured on 812 uint8 images of 112 px, batch 32,
    through Keras' PyDataset adapter as `fit` reads it: 6,200 images/s with two worker
    threads, 290,000 without (2026-12-03, this project's 2-core CPU).
    """
    base = _py_dataset_base()

    class ArrayBatches(_Batches, base):
        def __init__(self):
            base.__init__(self, workers=1, use_multiprocessing=False)
            self._setup(images, labels, batch_size, train, seed, normalization, output, rows)

    return ArrayBatches()


def make_batches(pipeline: str, images, labels, **kwargs):
    """`tf_dataset` or `numpy_batches` by name (`PIPELINES`), with an `output` of `OUTPUTS`."""
    if kwargs.get("output", "float") not in OUTPUTS:
        raise ValueError(f"output must be one of {OUTPUTS}. Received: output={kwargs['output']!r}")
    if pipeline == "tf.data":
        return tf_dataset(images, labels, **kwargs)
    if pipeline == "numpy":
        return numpy_batches(images, labels, **kwargs)
    raise ValueError(f"pipeline must be one of {PIPELINES}. Received: pipeline={pipeline!r}")


__all__ = ["OUTPUTS", "PIPELINES", "make_batches", "numpy_batches", "tf_dataset"]
