"""The loaded data: `Part` (one part's images, labels and ids in memory) and `LoadedData`, the
three parts of a dataset under one protocol, batched and ready to train on (what `load` returns)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ferzoo.data.batching import make_batches
from ferzoo.data.protocols import PARTS


@dataclasses.dataclass(frozen=True)
class Part:
    """One part in memory: uint8 `(N, S, S, 3)` images, int32 labels, TFDS example ids, and
    where each example is in the whole dataset's images (`rows` of `LoadedData.source`; None
    for a part made on its own)."""

    images: np.ndarray
    labels: np.ndarray
    ids: tuple[str, ...]
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def where(self, keep: np.ndarray) -> Part:
        """The examples where `keep` (a boolean mask) is true."""
        rows = None if self.rows is None else self.rows[keep]
        return Part(self.images[keep], self.labels[keep], tuple(np.asarray(self.ids)[keep]), rows)


class LoadedData(dict):
    """`{"train", "validation", "test"}` batched iterables of `(image, label)`.

    The parts' images are held once in memory (uint8, cropped and resized, see
    `ferzoo.data.readers`); the batches are a `tf.data.Dataset` (`pipeline="tf.data"`) or a
    `keras.utils.PyDataset` (`pipeline="numpy"`, no TensorFlow needed). Both yield float32
    `(B, S, S, 3)` images in [0, 1] (normalised by `normalization` when it is set) and int32
    `(B,)` labels and are accepted by `model.fit` on every backend; the training part is
    shuffled each epoch, and none is augmented: augmentation is `augment`'s strength of
    `ferzoo.layers.FaceAugment` in the model's training step, which `ferzoo.train` adds (to
    augment in your own `fit`, fit `ferzoo.training.device_input.training_model(net,
    augment=data.augment, normalization=data.normalization)` on `data.uint8_batches()`, or
    put `FaceAugment(data.augment)` in front of your model). `uint8_batches()` gives the same
    batches as uint8 pixels, unnormalised: what `ferzoo.train` fits on. `rebatched(batch_size=..., augment=...)` gives new batches over
    the same images (sweeps try many batch sizes on one loaded dataset).

    Attributes:
        name: the dataset name as given.
        protocol, fold, num_folds, seed, image_size, batch_size, augment, pipeline,
        normalization: the arguments it was loaded with (`ferzoo.train` reads them, so they are not passed
            twice).
        class_names: the label names, in label order; `num_classes`: their count.
        parts: `{part: Part}` (images, labels, ids).
        sizes: examples per part, e.g. `{"train": 806, "validation": 101, "test": 101}`.
        subjects: subject-id sets per part (empty sets where the dataset has no subject ids).
        ids: the TFDS example ids of each part (sorted lists of str).
        label_counts: examples per class in each part (lists of `num_classes` ints).
    """

    def __init__(
        self,
        parts: dict[str, Part],
        *,
        batch_size: int,
        augment: float,
        seed: int,
        pipeline: str,
        normalization: dict[str, Any] | None = None,
        **attributes: Any,
    ):
        self.parts = dict(parts)
        self.normalization = normalization
        self.batch_size = int(batch_size)
        self.augment = float(augment)
        self.seed = int(seed)
        self.pipeline = pipeline
        for key, value in attributes.items():
            setattr(self, key, value)
        super().__init__(self._batches(normalization=normalization))

    def uint8_batches(self) -> dict[str, Any]:
        """`{part: batches}` of `(uint8 (B, S, S, 3) pixels, int32 labels)`: the same order and
        batch size as this mapping's, neither converted, normalised nor augmented (what
        `ferzoo.train` fits on; the step does the rest on the device)."""
        return self._batches(output="uint8")

    def _whole(self) -> bool:
        """Whether the table is the whole dataset's images (`source`, which every part's
        `rows` index), rather than the training then validation images."""
        fitted = (self.parts[p].rows is not None for p in ("train", "validation"))
        return getattr(self, "source", None) is not None and all(fitted)

    def table_key(self) -> tuple[np.ndarray, ...]:
        """The arrays `table()` is made of: data whose keys are the same objects has the same
        table (`ferzoo.training.device_input.table_layer` caches its device copy by them)."""
        if self._whole():
            return (self.source,)
        return (self.parts["train"].images, self.parts["validation"].images)

    def table(self) -> np.ndarray:
        """The uint8 `(N, S, S, 3)` images that `ferzoo.train` places on the device
        (`ferzoo.layers.ImageTable`) for `row_batches`: the whole dataset's images as `load`
        read them (`source`: the same array for every fold and batch size of a dataset, so the
        folds of a sweep share one device copy and one compiled step), or, for data made of
        parts alone, the training then the validation images."""
        if self._whole():
            return self.source
        return np.concatenate([self.parts["train"].images, self.parts["validation"].images])

    def row_batches(self) -> dict[str, Any]:
        """`{"train", "validation"}` batches of `(int32 rows of table(), int32 labels)`: the
        same examples, order and batch size as `uint8_batches()`'s, as indices into `table()`."""
        if self._whole():
            rows = {p: self.parts[p].rows for p in ("train", "validation")}
        else:
            n = len(self.parts["train"])
            rows = {
                "train": np.arange(n),
                "validation": n + np.arange(len(self.parts["validation"])),
            }
        return self._batches(rows, output="rows")

    def _batches(self, rows: dict[str, np.ndarray] | None = None, **kwargs: Any) -> dict[str, Any]:
        """`{part: make_batches(...)}` over the parts' images (those of `rows`, each with its
        examples' rows of `table()`, or all three), with `kwargs` (`normalization`,
        `output`); only the training part is shuffled."""
        return {
            part: make_batches(
                self.pipeline,
                self.parts[part].images,
                self.parts[part].labels,
                batch_size=self.batch_size,
                train=part == "train",
                seed=self.seed,
                **({} if rows is None else {"rows": rows[part]}),
                **kwargs,
            )
            for part in (PARTS if rows is None else rows)
        }

    @property
    def sizes(self) -> dict[str, int]:
        return {part: len(self.parts[part]) for part in PARTS}

    @property
    def ids(self) -> dict[str, list[str]]:
        return {part: sorted(self.parts[part].ids) for part in PARTS}

    @property
    def label_counts(self) -> dict[str, list[int]]:
        n = len(self.class_names)
        return {p: np.bincount(self.parts[p].labels, minlength=n).tolist() for p in PARTS}

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _attributes(self) -> dict[str, Any]:
        skip = {"parts", "batch_size", "augment", "seed", "pipeline", "normalization"}
        return {k: v for k, v in vars(self).items() if k not in skip}

    def rebatched(
        self,
        *,
        batch_size: int | None = None,
        augment: float | None = None,
        pipeline: str | None = None,
        normalization: dict[str, Any] | None | str = "keep",
    ) -> LoadedData:
        """New batches over the same images (nothing is read or decoded again)."""
        return LoadedData(
            self.parts,
            batch_size=self.batch_size if batch_size is None else batch_size,
            augment=self.augment if augment is None else augment,
            seed=self.seed,
            pipeline=self.pipeline if pipeline is None else pipeline,
            normalization=self.normalization if normalization == "keep" else normalization,
            **self._attributes(),
        )

    def select(self, keep_labels: list[int], class_names: list[str], name: str) -> LoadedData:
        """Only the examples of `keep_labels`, relabelled 0..k-1 (e.g. a class subset)."""
        mapping = {old: new for new, old in enumerate(keep_labels)}
        parts = {}
        for part, arrays in self.parts.items():
            kept = arrays.where(np.isin(arrays.labels, keep_labels))
            labels = np.array([mapping[int(y)] for y in kept.labels], np.int32)
            parts[part] = Part(kept.images, labels, kept.ids)
        attributes = {**self._attributes(), "class_names": tuple(class_names), "name": name}
        return LoadedData(
            parts,
            batch_size=self.batch_size,
            augment=self.augment,
            seed=self.seed,
            pipeline=self.pipeline,
            normalization=self.normalization,
            **attributes,
        )

    def __repr__(self) -> str:
        return (
            f"LoadedData(name={self.name!r}, protocol={self.protocol!r}, fold={self.fold}, "
            f"sizes={self.sizes}, num_classes={self.num_classes}, pipeline={self.pipeline!r})"
        )

    def settings(self) -> dict[str, Any]:
        """The load arguments that identify this data in a run's config."""
        keys = ("name", "protocol", "fold", "num_folds", "seed", "image_size", "batch_size")
        return {key: getattr(self, key, None) for key in (*keys, "augment", "pipeline",
                                                           "normalization")}  # fmt: skip


__all__ = ["LoadedData", "Part"]
