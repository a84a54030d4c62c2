"""`LoadedData`: the three parts of a dataset under one protocol, ready to train on."""

from __future__ import annotations

from typing import Any


class LoadedData(dict):
    """`{"train", "validation", "test"}` batched iterables of `(image, label)`.

    Each part is a `tf.data.Dataset` (the tf.data path) or a `keras.utils.PyDataset` (the
    TensorFlow-free path); both yield float32 `(B, S, S, 3)` images in [0, 1] and int32 `(B,)`
    labels, and both are accepted by `model.fit` on every backend.

    Attributes:
        name: the dataset name as given.
        protocol, fold, num_folds, seed, image_size, batch_size, augment: the arguments it was
            loaded with (`ferzoo.train` reads them, so they are not passed twice).
        class_names: the label names, in label order.
        num_classes: `len(class_names)`.
        sizes: examples per part, e.g. `{"train": 806, "validation": 101, "test": 101}`.
        subjects: subject-id sets per part (empty sets where the dataset has no subject ids).
        ids: the TFDS example ids of each part (a sorted list of str per part).
        label_counts: examples per class in each part (lists of `num_classes` ints).
        pipeline: `"tf.data"` or `"numpy"`.
    """

    def __init__(self, parts: dict[str, Any], **attributes: Any):
        super().__init__(parts)
        for key, value in attributes.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return (
            f"LoadedData(name={self.name!r}, protocol={self.protocol!r}, fold={self.fold}, "
            f"sizes={self.sizes}, num_classes={self.num_classes})"
        )

    def settings(self) -> dict[str, Any]:
        """The load arguments that identify this data in a run's config."""
        keys = ("name", "protocol", "fold", "num_folds", "seed", "image_size", "batch_size")
        return {key: getattr(self, key, None) for key in (*keys, "augment", "pipeline")}


__all__ = ["LoadedData"]
