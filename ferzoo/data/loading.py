"""`load`: a dataset's train / validation / test parts under an evaluation protocol."""

from __future__ import annotations

import os

import numpy as np

from ferzoo.data import protocols, sources
from ferzoo.data.augment import check_strength
from ferzoo.data.imaging import check_image_size
from ferzoo.data.loaded import LoadedData
from ferzoo.data.protocols import PARTS


def check_load_args(protocol, fold, num_folds, image_size, batch_size, augment) -> None:
    """The ValueErrors of `load`, raised before any data is read."""
    protocols.check_protocol(protocol)
    protocols.check_folds(fold, num_folds)
    check_image_size(image_size)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    check_strength(augment)


def load(
    name: str,
    *,
    protocol: str = "paper",
    fold: int = 0,
    num_folds: int = 10,
    image_size: int = 224,
    batch_size: int = 16,
    seed: int = 0,
    augment: float = 0.0,
    crop_face: bool = True,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    cache: bool | str = True,
) -> LoadedData:
    """Load a dataset's train / validation / test pipelines under an evaluation protocol.

    Args:
        name: a TFDS name registered by `ferzoo.datasets` ("ck_plus", "jaffe", "kdef", "fesr",
            "synthetic_faces", ...), optionally with a config ("synthetic_faces/tiny").
        protocol: "paper" (the papers' split; see `ferzoo.data.protocols`) or "subject"
            (k-fold subject-independent).
        fold: the test fold, in [0, num_folds) (the `paper` protocol has one split; fold must
            still be valid).
        num_folds: folds of the `subject` protocol.
        image_size: side of the square images the pipelines yield.
        batch_size: batch size of every part.
        seed: seeds the split, the training shuffle and the augmentation.
        augment: augmentation strength in [0, 1] for the training part (0: none); see
            `ferzoo.data.augment`.
        crop_face: crop each image to its stored `face_box` (else the full frame).
        data_dir: TFDS data folder; default the environment variable FERZOO_DATA_DIR, else
            TFDS's default (~/tensorflow_datasets).
        manual_dir: where the manually downloaded archive or folder is (licensed datasets).
        cache: True caches the resized uint8 images in memory, a string caches them to that
            file prefix, False re-reads every epoch.

    Returns:
        A `LoadedData`: `data["train"|"validation"|"test"]` yield `(image float32
        (B, image_size, image_size, 3) in [0, 1], label int32 (B,))`.

    Raises:
        ValueError: a bad argument (named in the message), `protocol="subject"` on a dataset
            without subject ids (FESR), too many folds for the subjects.
        DatasetNotReadyError: a licensed dataset is not prepared and manual_dir does not hold
            it; the message carries the download instructions.

    Example:
        >>> data = load("synthetic_faces/tiny", protocol="subject", fold=0, image_size=32)
        >>> images, labels = next(iter(data["train"]))
        >>> tuple(images.shape), labels.dtype.name
        ((16, 32, 32, 3), 'int32')
    """
    check_load_args(protocol, fold, num_folds, image_size, batch_size, augment)
    cols = sources.columns(name, data_dir, manual_dir)
    found = sources.builder(name, data_dir)  # made after preparation: it has the split info
    index = sources.split_columns(name, cols, protocol, fold, num_folds, seed)
    from ferzoo.data import tf_pipeline

    parts = tf_pipeline.build_parts(
        found,
        cols.ids,
        index,
        image_size=int(image_size),
        batch_size=int(batch_size),
        seed=seed,
        augment=float(augment),
        crop_face=crop_face,
        cache=cache,
    )
    class_names = tuple(found.info.features["label"].names)
    return LoadedData(
        parts,
        name=name,
        protocol=protocol,
        fold=fold,
        num_folds=num_folds,
        seed=seed,
        image_size=int(image_size),
        batch_size=int(batch_size),
        augment=float(augment),
        pipeline="tf.data",
        class_names=class_names,
        num_classes=len(class_names),
        sizes={part: len(index[part]) for part in PARTS},
        subjects=protocols.part_subjects(name, cols.subject_ids, index),
        ids={part: sorted(i.decode() for i in cols.ids[index[part]]) for part in PARTS},
        label_counts={
            part: np.bincount(cols.labels[index[part]], minlength=len(class_names)).tolist()
            for part in PARTS
        },
    )


__all__ = ["check_load_args", "load"]
