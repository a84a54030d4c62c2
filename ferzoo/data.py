"""Evaluation protocols and tf.data pipelines over ferzoo's TFDS datasets.

    import ferzoo.data

    data = ferzoo.data.load("synthetic_faces", protocol="subject", fold=3, image_size=64)
    model.fit(data["train"], validation_data=data["validation"])
    data.class_names, data.sizes, data.subjects["test"]

The split is computed from the `(label, subject_id)` columns alone (no image is decoded), then
each part is a pipeline: read, keep the part's examples, decode, crop to the stored `face_box`,
resize, grayscale to 3 channels, cache (uint8), scale to [0, 1], augment (train only), shuffle
(train only, seeded), batch, prefetch. Datasets are prepared on first use (`tfds`
`download_and_prepare`); the licensed ones need `manual_dir` (see each builder's README).

Protocols (`PROTOCOLS`):

* `paper`: the papers' random image split, stratified by class and seeded. CK+ and JAFFE: 7:3
  train:test (the WAMF paper, "seed 000"), with 10 % of the training part (stratified) held out
  for validation, so 63:7:30. KDEF and synthetic_faces: 8:1:1 (the MsC/wCA paper, "seed 003").
  FESR: its own distributed train/validation/test split when the builder keeps one, else 8:1:1.
  WARNING: this protocol puts the same subjects, and in CK+ near-identical frames of one
  sequence, in train and test; its accuracies measure memorization of identities as much as
  expression recognition. Use it only to compare with the papers.
* `subject`: k-fold subject-independent (default 10 folds; JAFFE's 10 subjects then give
  leave-one-subject-out). Subjects are shuffled with `seed` and dealt into `num_folds` folds;
  fold `k` is the test part, fold `(k + 1) % num_folds` the validation part, the rest train. No
  subject is in two parts, and every subject is in the test part of exactly one fold. KDEF is
  folded by person across its two sessions (AF01 and BF01 are one person). FESR has no subject
  ids, so this protocol is refused for it.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

PROTOCOLS = ("paper", "subject")
PARTS = ("train", "validation", "test")

# (train, validation, test) fractions of the `paper` protocol.
PAPER_FRACTIONS: dict[str, tuple[float, float, float]] = {
    "ck_plus": (0.63, 0.07, 0.30),  # WAMF: 7:3, validation = 10 % of train
    "jaffe": (0.63, 0.07, 0.30),  # WAMF: 7:3, validation = 10 % of train
    "kdef": (0.8, 0.1, 0.1),  # MsC/wCA: 8:1:1
    "fesr": (0.8, 0.1, 0.1),  # only when the builder has no distributed split
    "synthetic_faces": (0.8, 0.1, 0.1),
}
DEFAULT_PAPER_FRACTIONS = (0.8, 0.1, 0.1)


def _kdef_person(subject_id: str) -> str:
    # KDEF's AF01 and BF01 are one person in sessions A and B; builders should already store
    # "F01", this also folds ids that kept the session letter.
    match = re.fullmatch(r"[AB]([FM]\d\d)", subject_id)
    return match.group(1) if match else subject_id


# Optional per-dataset rule mapping a stored subject id to the unit the subject protocol folds.
SUBJECT_GROUPS: dict[str, Callable[[str], str]] = {"kdef": _kdef_person}


class DatasetNotReadyError(RuntimeError):
    """A dataset is not prepared and cannot be built (a manual download is missing or wrong)."""


class LoadedData(dict):
    """`{"train", "validation", "test"}` batched `tf.data.Dataset`s of `(image, label)`.

    Attributes:
        name: the dataset name as given.
        protocol, fold, num_folds, seed, image_size: the arguments it was loaded with.
        class_names: the label names, in label order.
        num_classes: `len(class_names)`.
        sizes: examples per part, e.g. `{"train": 806, "validation": 101, "test": 101}`.
        subjects: subject-id sets per part (empty sets where the dataset has no subject ids).
    """

    def __init__(self, parts: dict[str, tf.data.Dataset], **attributes: Any):
        super().__init__(parts)
        for key, value in attributes.items():
            setattr(self, key, value)

    def __repr__(self) -> str:
        return (
            f"LoadedData(name={self.name!r}, protocol={self.protocol!r}, fold={self.fold}, "
            f"sizes={self.sizes}, num_classes={self.num_classes})"
        )


@dataclass(frozen=True)
class DataInfo:
    """What `info` knows about a dataset without preparing it."""

    name: str
    class_names: tuple[str, ...]
    num_classes: int
    description: str


# --------------------------------------------------------------------------------------------
# Builders, preparation, columns


def _base_name(name: str) -> str:
    return name.split("/")[0].split(":")[0]


def _data_dir(data_dir: str | os.PathLike | None) -> str | None:
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get("FERZOO_DATA_DIR") or None


def _builder(name: str, data_dir: str | os.PathLike | None) -> tfds.core.DatasetBuilder:
    import ferzoo.datasets  # noqa: F401  (registers ferzoo's builders with TFDS)

    try:
        return tfds.builder(name, data_dir=_data_dir(data_dir))
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"Unknown dataset. Received: name={name!r}; ferzoo's datasets are "
            f"{list(ferzoo.datasets.BUILDER_NAMES)} (append '/<config>' to pick a config)."
        ) from None


def info(name: str, data_dir: str | os.PathLike | None = None) -> DataInfo:
    """Class names and count of a dataset, without preparing it or building a pipeline.

    Example:
        >>> info("synthetic_faces").class_names[:2]
        ('anger', 'disgust')
    """
    builder = _builder(name, data_dir)
    names = tuple(builder.info.features["label"].names)
    return DataInfo(
        name=name, class_names=names, num_classes=len(names), description=builder.info.description
    )


def _prepare(builder: tfds.core.DatasetBuilder, name: str, manual_dir: str | None) -> None:
    if builder.is_prepared():
        return
    config = tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else str(manual_dir)
    )
    try:
        builder.download_and_prepare(download_config=config)
    except AssertionError as error:  # TFDS's missing manual_dir and ferzoo's ManualDataError
        instructions = (getattr(builder, "MANUAL_DOWNLOAD_INSTRUCTIONS", "") or "").strip()
        reason = str(error).strip()
        if instructions and instructions in reason:
            reason = reason.replace(instructions, "").strip()
        reason = reason.splitlines()[0][:300] if reason else "no data found"
        raise DatasetNotReadyError(
            f"Dataset {name!r} is not prepared in {builder.data_dir_root} and could not be "
            f"built from manual_dir={manual_dir!r}: {reason}\n\n"
            f"{instructions or '(the builder gives no download instructions)'}\n\n"
            "Then pass manual_dir=<that folder> (ferzoo CLI: --manual-dir)."
        ) from None


def prepare(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
) -> str:
    """Build a dataset's TFDS files (a no-op when already prepared); return where they are.

    Raises:
        DatasetNotReadyError: the licensed data is not in `manual_dir`; the message carries the
            builder's download instructions.
    """
    builder = _builder(name, data_dir)
    _prepare(builder, name, None if manual_dir is None else os.fspath(manual_dir))
    return os.fspath(builder.data_dir)


@dataclass(frozen=True)
class _Columns:
    ids: np.ndarray  # bytes tfds_id of each example
    labels: np.ndarray  # int64
    subject_ids: np.ndarray  # str
    source_splits: np.ndarray  # str, the builder split each example comes from


@functools.lru_cache(maxsize=32)
def _read_columns(builder_data_dir: str, name: str, data_dir: str | None) -> _Columns:
    del builder_data_dir  # the cache key: one prepared (name, config, version, data_dir)
    builder = _builder(name, data_dir)
    has_subject = "subject_id" in builder.info.features
    ids, labels, subject_ids, sources = [], [], [], []
    for split in sorted(builder.info.splits):
        ds = builder.as_dataset(
            split=split,
            shuffle_files=False,
            read_config=tfds.ReadConfig(add_tfds_id=True),
            decoders={"image": tfds.decode.SkipDecoding()},
        )
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
    return _Columns(
        ids=np.array(ids, dtype=object),
        labels=np.array(labels, np.int64),
        subject_ids=np.array(subject_ids, dtype=str),
        source_splits=np.array(sources, dtype=str),
    )


# --------------------------------------------------------------------------------------------
# Split logic (pure functions of the columns)


def stratified_split(
    labels: Sequence[int] | np.ndarray,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """A random image split, stratified by class: each class is divided by `fractions`.

    Args:
        labels: class id per example.
        fractions: (train, validation, test) fractions summing to 1.
        seed: NumPy seed of the shuffle.

    Returns:
        `{"train", "validation", "test"}` -> sorted example indices. Per class, the test and
        validation counts are `round(n * fraction)`, at least one example stays in train.

    Example:
        >>> parts = stratified_split([0] * 10 + [1] * 10, (0.8, 0.1, 0.1), seed=0)
        >>> [len(parts[p]) for p in ("train", "validation", "test")]
        [16, 2, 2]
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(
            "fractions must be three non-negative numbers (train, validation, test) summing to "
            f"1. Received: fractions={fractions}"
        )
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {part: [] for part in PARTS}
    for label in np.unique(labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        n = len(idx)
        n_test = min(round(n * fractions[2]), max(n - 1, 0))
        n_val = min(round(n * fractions[1]), max(n - 1 - n_test, 0))
        parts["test"].append(idx[:n_test])
        parts["validation"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    return {
        part: np.sort(np.concatenate(chunks)) if chunks else np.zeros(0, np.int64)
        for part, chunks in parts.items()
    }


def subject_split(
    subject_ids: Sequence[str] | np.ndarray, fold: int, num_folds: int = 10, seed: int = 0
) -> dict[str, set[str]]:
    """The subject-independent k-fold split of a set of subjects.

    Subjects are sorted, shuffled with `seed` and dealt into `num_folds` folds of near-equal
    size; fold `fold` is the test part, fold `(fold + 1) % num_folds` the validation part and
    the rest the training part.

    Args:
        subject_ids: subject id per example (repeats allowed).
        fold: the test fold, in [0, num_folds).
        num_folds: number of folds, at least 3 and at most the number of subjects.
        seed: NumPy seed of the subject shuffle.

    Returns:
        `{"train", "validation", "test"}` -> set of subject ids; disjoint, covering all.

    Example:
        >>> parts = subject_split([f"S{i}" for i in range(10)], fold=0, num_folds=10)
        >>> [len(parts[p]) for p in ("train", "validation", "test")]
        [8, 1, 1]
    """
    subjects = np.array(sorted(set(np.asarray(subject_ids, dtype=str).tolist())))
    _check_folds(fold, num_folds)
    if num_folds < 3:
        raise ValueError(
            "num_folds must be >= 3 for the subject protocol (one fold tests, one validates, "
            f"the rest train). Received: num_folds={num_folds}"
        )
    if num_folds > len(subjects):
        raise ValueError(
            f"num_folds={num_folds} is larger than the number of subjects ({len(subjects)}): "
            "every fold needs at least one subject."
        )
    order = np.random.default_rng(seed).permutation(len(subjects))
    folds = np.array_split(subjects[order], num_folds)
    test = set(folds[fold].tolist())
    validation = set(folds[(fold + 1) % num_folds].tolist())
    return {
        "train": set(subjects.tolist()) - test - validation,
        "validation": validation,
        "test": test,
    }


def _check_folds(fold: int, num_folds: int) -> None:
    if not isinstance(num_folds, int | np.integer) or num_folds < 1:
        raise ValueError(f"num_folds must be a positive int. Received: num_folds={num_folds!r}")
    if not isinstance(fold, int | np.integer) or not 0 <= fold < num_folds:
        raise ValueError(
            f"fold must be an int in [0, num_folds={num_folds}). Received: fold={fold!r}"
        )


def _check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}. Received: protocol={protocol!r}")


def _no_subjects_error(name: str) -> ValueError:
    if _base_name(name) == "fesr":
        return ValueError(
            "FESR has no subject ids, so protocol='subject' cannot be used with it; use "
            "protocol='paper' (FESR's own train/validation/test split). Received: name='fesr', "
            "protocol='subject'"
        )
    return ValueError(
        f"Dataset {name!r} has no subject ids, so protocol='subject' cannot be used with it; "
        "use protocol='paper'."
    )


def split_indices(
    name: str,
    labels: np.ndarray,
    subject_ids: np.ndarray,
    source_splits: np.ndarray | None = None,
    *,
    protocol: str = "paper",
    fold: int = 0,
    num_folds: int = 10,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Example indices of each part under a protocol (the logic behind `load` and `subjects`).

    Args:
        name: dataset name (picks the paper fractions and the subject grouping rule).
        labels: class id per example.
        subject_ids: subject id per example ("" where the dataset has none).
        source_splits: the builder split of each example; a dataset distributed with
            train/validation/test splits keeps them under the `paper` protocol.
        protocol, fold, num_folds, seed: see `load`.

    Returns:
        `{"train", "validation", "test"}` -> sorted example indices.
    """
    _check_protocol(protocol)
    _check_folds(fold, num_folds)
    base = _base_name(name)
    labels = np.asarray(labels)
    if protocol == "paper":
        if source_splits is not None and set(PARTS) <= set(np.unique(source_splits).tolist()):
            return {part: np.flatnonzero(np.asarray(source_splits) == part) for part in PARTS}
        return stratified_split(labels, PAPER_FRACTIONS.get(base, DEFAULT_PAPER_FRACTIONS), seed)
    subject_ids = np.asarray(subject_ids, dtype=str)
    if len(subject_ids) == 0 or np.any(subject_ids == ""):
        raise _no_subjects_error(name)
    group = SUBJECT_GROUPS.get(base)
    groups = np.array([group(s) for s in subject_ids]) if group else subject_ids
    parts = subject_split(groups, fold, num_folds, seed)
    return {part: np.flatnonzero(np.isin(groups, sorted(parts[part]))) for part in PARTS}


def _part_subjects(name: str, subject_ids: np.ndarray, index: dict[str, np.ndarray]):
    group = SUBJECT_GROUPS.get(_base_name(name))
    out = {}
    for part in PARTS:
        ids = {s for s in subject_ids[index[part]].tolist() if s}
        out[part] = {group(s) for s in ids} if group else ids
    return out


def subjects(
    name: str,
    *,
    protocol: str,
    fold: int = 0,
    num_folds: int = 10,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
) -> dict[str, set[str]]:
    """The subject ids in each part of a split (prepares the dataset if needed).

    Under `subject` the sets are disjoint; under `paper` they overlap (see the module doc).
    KDEF ids are the person ids folded across sessions. A dataset without subject ids gives
    empty sets under `paper` and a ValueError under `subject`.

    Returns:
        `{"train": set, "validation": set, "test": set}`.
    """
    _check_protocol(protocol)
    _check_folds(fold, num_folds)
    columns = _columns(name, data_dir, manual_dir)
    index = _split_columns(name, columns, protocol, fold, num_folds, seed)
    return _part_subjects(name, columns.subject_ids, index)


def _split_columns(name: str, columns, protocol: str, fold: int, num_folds: int, seed: int):
    """`split_indices` on the columns that `_columns` read."""
    return split_indices(
        name,
        columns.labels,
        columns.subject_ids,
        columns.source_splits,
        protocol=protocol,
        fold=fold,
        num_folds=num_folds,
        seed=seed,
    )


def _columns(
    name: str, data_dir, manual_dir, builder: tfds.core.DatasetBuilder | None = None
) -> _Columns:
    builder = builder or _builder(name, data_dir)
    _prepare(builder, name, None if manual_dir is None else os.fspath(manual_dir))
    return _read_columns(os.fspath(builder.data_dir), name, _data_dir(data_dir))


# --------------------------------------------------------------------------------------------
# Preprocessing and augmentation (TensorFlow ops)


def _crop_resize_uint8(image: tf.Tensor, image_size: int, box: tf.Tensor | None) -> tf.Tensor:
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        image = image[..., None]
    channels = image.shape[-1]
    if channels == 1:
        image = tf.tile(image, [1, 1, 3])
    elif channels is None:
        image = tf.cond(
            tf.shape(image)[-1] == 1, lambda: tf.tile(image, [1, 1, 3]), lambda: image[..., :3]
        )
    else:
        image = image[..., :3]  # RGBA -> RGB
    image = tf.cast(image, tf.float32)
    if box is not None:
        box = tf.cast(tf.convert_to_tensor(box), tf.float32)
        shape = tf.shape(image)
        height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
        y0 = tf.clip_by_value(tf.cast(tf.floor(box[0] * height), tf.int32), 0, shape[0] - 1)
        x0 = tf.clip_by_value(tf.cast(tf.floor(box[1] * width), tf.int32), 0, shape[1] - 1)
        y1 = tf.clip_by_value(tf.cast(tf.math.ceil(box[2] * height), tf.int32), y0 + 1, shape[0])
        x1 = tf.clip_by_value(tf.cast(tf.math.ceil(box[3] * width), tf.int32), x0 + 1, shape[1])
        image = image[y0:y1, x0:x1]
    image = tf.image.resize(image, [image_size, image_size], method="bilinear", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
    return tf.ensure_shape(image, [image_size, image_size, 3])


def _to_float(image_uint8: tf.Tensor) -> tf.Tensor:
    return tf.cast(image_uint8, tf.float32) / 255.0


def _check_image_size(image_size: int) -> None:
    if not isinstance(image_size, int | np.integer) or image_size < 8:
        raise ValueError(f"image_size must be an int >= 8. Received: image_size={image_size!r}")


def preprocess(
    image: np.ndarray | tf.Tensor,
    image_size: int,
    box: Sequence[float] | np.ndarray | tf.Tensor | None = None,
) -> np.ndarray | tf.Tensor:
    """The one preprocessing of ferzoo: crop, resize, grayscale to RGB, scale to [0, 1].

    The same ops run in the `load` pipelines (which cache the uint8 stage), in `ferzoo predict`
    and in `ferzoo explain`: crop to `box`, resize to `image_size` x `image_size` (bilinear with
    antialiasing; a non-square crop is stretched), round to the uint8 grid, repeat a single
    channel three times (an alpha channel is dropped), divide by 255.

    Args:
        image: uint8 `(H, W)`, `(H, W, 1)`, `(H, W, 3)` or `(H, W, 4)`; a NumPy array or a
            tensor (also inside `tf.data` / `tf.function`).
        image_size: output side.
        box: optional normalized `[ymin, xmin, ymax, xmax]` to crop to (e.g. `face_box`).

    Returns:
        float32 `(image_size, image_size, 3)` in [0, 1]; a NumPy array for a NumPy input, a
        tensor otherwise.

    Example:
        >>> preprocess(np.zeros((48, 40), np.uint8), 32, box=[0.1, 0.1, 0.9, 0.9]).shape
        (32, 32, 3)
    """
    _check_image_size(image_size)
    if box is not None and not tf.is_tensor(box):
        box = np.asarray(box, np.float32)
        if box.shape != (4,) or not (0 <= box.min() and box.max() <= 1):
            raise ValueError(
                f"box must be [ymin, xmin, ymax, xmax] in [0, 1]. Received: box={box.tolist()}"
            )
    out = _to_float(_crop_resize_uint8(image, int(image_size), box))
    if isinstance(image, np.ndarray):
        return out.numpy()
    return out


def _augment(image: tf.Tensor, seed: tf.Tensor, strength: float) -> tf.Tensor:
    """Random flip, rotation (<= 15 deg), zoom and shift (<= 10 %), brightness and contrast,
    all scaled by `strength` in (0, 1]; stateless, from a per-example seed."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 7)

    def uniform(i, low=-1.0, high=1.0):
        return tf.random.stateless_uniform([], seeds[i], low, high)

    image = tf.cond(
        uniform(0, 0.0, 1.0) < 0.5, lambda: tf.image.flip_left_right(image), lambda: image
    )
    size = tf.cast(tf.shape(image)[0], tf.float32)
    angle = uniform(1) * strength * np.pi / 12
    zoom = 1.0 + uniform(2) * 0.1 * strength
    tx, ty = uniform(3) * 0.1 * strength * size, uniform(4) * 0.1 * strength * size
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    c = (size - 1) / 2
    # Output pixel -> input pixel: in = c + R(-angle) (out - c - t) / zoom.
    transform = tf.stack(
        [
            cos,
            sin,
            c - cos * (c + tx) - sin * (c + ty),
            -sin,
            cos,
            c + sin * (c + tx) - cos * (c + ty),
            0.0,
            0.0,
        ]
    )
    image = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None],
        transforms=transform[None],
        output_shape=tf.shape(image)[:2],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )[0]
    image = image + uniform(5) * 0.2 * strength
    mean = tf.reduce_mean(image)
    image = (image - mean) * (1.0 + uniform(6) * 0.3 * strength) + mean
    return tf.clip_by_value(image, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# load


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
            "synthetic_faces"), optionally with a config ("synthetic_faces/tiny").
        protocol: "paper" (the papers' seeded stratified image split; it puts the same
            subjects, and near-identical frames, in train and test) or "subject" (k-fold
            subject-independent). See the module docstring.
        fold: the test fold, in [0, num_folds) (the `paper` protocol has one split; fold must
            still be valid).
        num_folds: folds of the `subject` protocol.
        image_size: side of the square images the pipelines yield.
        batch_size: batch size of every part.
        seed: seeds the split, the training shuffle and the augmentation.
        augment: augmentation strength in [0, 1] for the training part (0: none): random flip,
            rotation up to 15 deg, zoom and shift up to 10 %, brightness +-0.2, contrast +-30 %,
            all scaled by `augment`.
        crop_face: crop each image to its stored `face_box` (else the full frame).
        data_dir: TFDS data folder; default the environment variable FERZOO_DATA_DIR, else
            TFDS's default (~/tensorflow_datasets).
        manual_dir: where the manually downloaded archive or folder is (licensed datasets).
        cache: True caches the resized uint8 images in memory, a string caches them to that
            file prefix, False re-reads every epoch.

    Returns:
        A `LoadedData`: `data["train"|"validation"|"test"]` yield `(image float32
        (B, image_size, image_size, 3) in [0, 1], label int32 (B,))`; attributes
        `class_names`, `num_classes`, `sizes`, `subjects`.

    Raises:
        ValueError: a bad argument (named in the message), `protocol="subject"` on a dataset
            without subject ids (FESR), too many folds for the subjects.
        DatasetNotReadyError: a licensed dataset is not prepared and manual_dir does not hold
            it; the message carries the download instructions.

    Example:
        >>> data = load("synthetic_faces/tiny", protocol="subject", fold=0, image_size=32)
        >>> images, labels = next(iter(data["train"]))
        >>> images.shape, labels.dtype
        (TensorShape([16, 32, 32, 3]), tf.int32)
    """
    _check_protocol(protocol)
    _check_folds(fold, num_folds)
    _check_image_size(image_size)
    if not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: batch_size={batch_size!r}")
    if not 0.0 <= float(augment) <= 1.0:
        raise ValueError(f"augment must be in [0, 1]. Received: augment={augment!r}")

    columns = _columns(name, data_dir, manual_dir)
    # A builder made before preparation keeps empty split info, so make it after.
    builder = _builder(name, data_dir)
    index = _split_columns(name, columns, protocol, fold, num_folds, seed)
    codes = np.full(len(columns.ids), -1, np.int32)
    for code, part in enumerate(PARTS):
        codes[index[part]] = code
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(columns.ids), tf.string), tf.constant(codes)
        ),
        default_value=-1,
    )
    image_feature = builder.info.features["image"]
    size = int(image_size)

    def decode(example):
        image = image_feature.decode_example(example["image"])
        box = example["face_box"] if crop_face else None
        return _crop_resize_uint8(image, size, box), tf.cast(example["label"], tf.int32)

    parts = {}
    for code, part in enumerate(PARTS):
        ds = builder.as_dataset(
            split="+".join(sorted(builder.info.splits)),
            shuffle_files=False,
            read_config=tfds.ReadConfig(add_tfds_id=True),
            decoders={"image": tfds.decode.SkipDecoding()},
        )
        ds = ds.filter(lambda ex, code=code: table.lookup(ex["tfds_id"]) == code)
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
        if cache:
            ds = ds.cache(f"{cache}-{part}" if isinstance(cache, str) else "")
        if part == "train":
            ds = ds.shuffle(max(len(index[part]), 1), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(
            lambda image, label: (_to_float(image), label), num_parallel_calls=tf.data.AUTOTUNE
        )
        if part == "train" and augment > 0:
            noise = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
            ds = tf.data.Dataset.zip((ds, noise)).map(
                lambda pair, s: (_augment(pair[0], s, float(augment)), pair[1]),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        parts[part] = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    class_names = tuple(builder.info.features["label"].names)
    return LoadedData(
        parts,
        name=name,
        protocol=protocol,
        fold=fold,
        num_folds=num_folds,
        seed=seed,
        image_size=size,
        class_names=class_names,
        num_classes=len(class_names),
        sizes={part: len(index[part]) for part in PARTS},
        subjects=_part_subjects(name, columns.subject_ids, index),
    )
