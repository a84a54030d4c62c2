"""`load` and `subjects`: a dataset's train / validation / test parts under an evaluation protocol.

The top floor of ferzoo.data: the dataset is prepared (`ferzoo.data.preparation`), its split
columns read (`ferzoo.data.readers.columns_of`), split by the protocol
(`ferzoo.data.protocols`), its images read once into memory by the chosen reader
(`ferzoo.data.readers.read_images`) and batched (`ferzoo.data.parts.LoadedData`).
"""

from __future__ import annotations

import os
import weakref

import numpy as np

from ferzoo import defaults
from ferzoo.data import preparation, protocols, readers
from ferzoo.data.augment import DEFAULT_STRENGTH, check_strength
from ferzoo.data.base import Columns, dataset_name, face_facts
from ferzoo.data.batching import PIPELINES
from ferzoo.data.imaging import check_image_size
from ferzoo.data.parts import LoadedData, Part
from ferzoo.data.protocols import PARTS


def check_load_args(
    protocol, fold, num_folds, image_size, batch_size, augment, align=False, detector=None
) -> None:
    """The ValueErrors of `load`, raised before any data is read."""
    protocols.check_protocol(protocol)
    if not isinstance(align, bool):
        raise ValueError(f"align must be True or False. Received: align={align!r}")
    if detector is not None:
        from ferzoo.face import check_detector

        check_detector(detector)
    protocols.check_folds(fold, num_folds)
    check_image_size(image_size)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, int | np.integer)
        or batch_size < 1
    ):
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    check_strength(augment)


def default_pipeline() -> str:
    """`"tf.data"` on the TensorFlow backend, `"numpy"` on JAX and PyTorch."""
    import keras  # lazy: `import ferzoo.data` does not load Keras (nor its backend)

    return "tf.data" if keras.backend.backend() == "tensorflow" else "numpy"


# (data folder, reader, image size, crop, align) -> a weak reference to every image, read: the
# folds of a sweep and their rebatched copies read a dataset once (see `read_all`).
_READ: dict[tuple, weakref.ref] = {}


def read_all(found, cols, image_size: int, crop_face: bool, reader: str,
             align: bool = False) -> np.ndarray:  # fmt: skip
    """Every image of a prepared dataset, cropped (or aligned) and resized: read once while any
    data loaded from it lives (a `LoadedData` keeps it as `source`), so the next fold is only a
    split. The array is read-only: parts and tables are made from it, never written into it."""
    key = (os.fspath(found.data_dir), reader, int(image_size), bool(crop_face), bool(align))
    held = _READ.get(key)
    images = held() if held is not None else None
    if images is None:
        images = readers.read_images(found, cols, image_size, crop_face, reader, align)
        images.flags.writeable = False
        _READ[key] = weakref.ref(images, lambda _, key=key: _READ.pop(key, None))
    return images


def read_parts(
    found, cols, index, image_size: int, crop_face: bool, reader: str = "tf.data", align=False
) -> tuple[dict[str, Part], np.ndarray]:
    """Every part of a split, and the whole dataset's images they are taken from (`read_all`:
    read, cropped (or aligned) and resized once)."""
    images = read_all(found, cols, image_size, crop_face, reader, align)
    ids = np.array([i.decode() if isinstance(i, bytes) else str(i) for i in cols.ids])
    parts = {
        part: Part(images[index[part]], cols.labels[index[part]].astype(np.int32),
                   tuple(ids[index[part]].tolist()), np.asarray(index[part], np.int64))
        for part in PARTS
    }  # fmt: skip
    return parts, images


def load(
    name: str,
    *,
    protocol: str = defaults.PROTOCOL,
    fold: int = 0,
    num_folds: int = defaults.NUM_FOLDS,
    image_size: int = defaults.IMAGE_SIZE,
    batch_size: int = defaults.BATCH_SIZE,
    seed: int = 0,
    augment: float = DEFAULT_STRENGTH,
    crop_face: bool = True,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    subject_pattern: str | None = None,
    pipeline: str | None = None,
    reader: str | None = None,
    align: bool = False,
    detector: str | None = None,
) -> LoadedData:
    """Load a dataset's train / validation / test parts under an evaluation protocol.

    Args:
        name: a TFDS name registered by `ferzoo.datasets` ("ck_plus", "jaffe", "kdef", "fesr",
            "synthetic_faces", ...), optionally with a config ("synthetic_faces/tiny").
        protocol: "paper" (the papers' split; see `ferzoo.data.protocols`) or "subject"
            (k-fold subject-independent).
        fold: the test fold, in [0, num_folds) (the `paper` protocol has one split; fold must
            still be valid).
        num_folds: folds of the `subject` protocol.
        image_size: side of the square images the parts yield.
        batch_size: batch size of every part.
        seed: seeds the split and the training shuffle (`ferzoo.train` seeds the on-device
            augmentation with the same seed).
        augment: augmentation strength in [0, 1] of the training part (random resized crop
            of the face crop, flip, rotation, brightness and contrast; see
            `ferzoo.data.augment`); default 0.5, 0 turns it off. Recorded as `data.augment`:
            `ferzoo.train` applies it on the device, in the training step
            (`ferzoo.layers.FaceAugment`); the batches themselves are never augmented.
        crop_face: crop each image to its stored `face_box` (else the full frame).
        data_dir: TFDS data folder; default the environment variable FERZOO_DATA_DIR, else
            TFDS's default (~/tensorflow_datasets).
        manual_dir: where the manually downloaded archive or folder is (licensed datasets; for
            `image_folder`, your folder of labelled faces).
        subject_pattern: `image_folder` only: a regular expression whose first group, searched
            in each file name, is the subject id (the subject protocol needs one).
        pipeline: "tf.data" or "numpy" (a `keras.utils.PyDataset`, no TensorFlow); default
            tf.data on the TensorFlow backend, numpy on the others.
        reader: how the prepared files are read, once: "tf.data" (the TFRecord shards;
            needs TensorFlow) or "numpy" (TFDS's data source on the ArrayRecord copy that
            `ferzoo data build` writes; no TensorFlow). Both give the same examples, ids and
            pixels (`ferzoo.data.readers`). Default: tf.data when TensorFlow is installed.
        align: align each face by its stored five landmarks (a similarity transform to
            `ferzoo.face.TEMPLATE`, `ferzoo.data.imaging`) instead of cropping its box; faces
            stored without landmarks (the cascade's, the fallback's) keep the box crop. The
            landmarks are stored with every prepared dataset, so this needs no rebuild.
        detector: the face detector a dataset prepared now uses (`ferzoo.face.DETECTORS`;
            None: "yunet"); naming another than the one a prepared dataset was built with is a
            ValueError. The one used, its version and `align` are `LoadedData.face`.

    Returns:
        A `LoadedData`: `data["train"|"validation"|"test"]` yield `(image float32
        (B, image_size, image_size, 3) in [0, 1], label int32 (B,))`, unaugmented;
        `data.uint8_batches()` the same as uint8 (what `ferzoo.train` fits on). The images
        are read once and held in memory as uint8 (`S * S * 3` bytes each).

    Raises:
        ValueError: a bad argument (named in the message), `protocol="subject"` on a dataset
            without subject ids (FESR), too many folds for the subjects.
        DatasetNotReadyError: a licensed dataset is not prepared and manual_dir does not hold
            it (the message carries the download instructions); or TensorFlow is not
            installed and the dataset is not prepared, or has no ArrayRecord copy (the message
            says what to run).

    Example:
        >>> data = load("synthetic_faces/tiny", protocol="subject", fold=0, image_size=32)
        >>> images, labels = next(iter(data["train"]))
        >>> tuple(images.shape), labels.dtype.name
        ((16, 32, 32, 3), 'int32')
    """
    check_load_args(protocol, fold, num_folds, image_size, batch_size, augment, align, detector)
    pipeline = pipeline or default_pipeline()
    if pipeline not in PIPELINES:
        raise ValueError(f"pipeline must be one of {PIPELINES}. Received: pipeline={pipeline!r}")
    reader = readers.check_reader(reader)
    found = preparation.prepared(name, data_dir, manual_dir, subject_pattern, detector=detector)
    cols = readers.columns_of(found, reader)
    if protocols.base_name(name) == "image_folder":  # one config per folder and pattern
        name = dataset_name(found)
    index = split_columns(name, cols, protocol, fold, num_folds, seed)
    parts, source = read_parts(found, cols, index, int(image_size), crop_face, reader, align)
    face = face_facts(found) if crop_face else None
    return LoadedData(
        parts, source=source,
        batch_size=int(batch_size), augment=float(augment), seed=seed, pipeline=pipeline,
        reader=reader, name=name, protocol=protocol, fold=fold, num_folds=num_folds,
        image_size=int(image_size),
        class_names=tuple(found.info.features["label"].names),
        subjects=protocols.part_subjects(name, cols.subject_ids, index), align=align,
        face=None if face is None else {**face, "align": align},
    )  # fmt: skip


def columns(name: str, data_dir=None, manual_dir=None, subject_pattern=None) -> Columns:
    """The split columns of a dataset, preparing it first if needed (default reader)."""
    return readers.columns_of(preparation.prepared(name, data_dir, manual_dir, subject_pattern))


def split_columns(name: str, cols: Columns, protocol: str, fold: int, num_folds: int, seed: int):
    """`protocols.split_indices` on the columns `columns` read."""
    return protocols.split_indices(
        name,
        cols.labels,
        cols.subject_ids,
        cols.source_splits,
        protocol=protocol,
        fold=fold,
        num_folds=num_folds,
        seed=seed,
    )


def subjects(
    name: str,
    *,
    protocol: str,
    fold: int = 0,
    num_folds: int = 10,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    subject_pattern: str | None = None,
) -> dict[str, set[str]]:
    """The subject ids in each part of a split (prepares the dataset if needed).

    Under `subject` the sets are disjoint; under `paper` they overlap (see
    `ferzoo.data.protocols`). KDEF ids are the person ids folded across sessions. A dataset
    without subject ids gives empty sets under `paper` and a ValueError under `subject`.

    Returns:
        `{"train": set, "validation": set, "test": set}`.
    """
    protocols.check_protocol(protocol)
    protocols.check_folds(fold, num_folds)
    cols = columns(name, data_dir, manual_dir, subject_pattern)
    index = split_columns(name, cols, protocol, fold, num_folds, seed)
    return protocols.part_subjects(name, cols.subject_ids, index)


__all__ = ["check_load_args", "columns", "default_pipeline", "load", "read_all", "read_parts",
           "split_columns", "subjects"]  # fmt: skip
