"""ferzoo's TFDS datasets: builders, preparation, class names and the split columns.

`prepare(name)` builds a dataset's files once (the licensed ones from `manual_dir`), and their
ArrayRecord copy for reading without TensorFlow (`ferzoo.data.array_records`); `info(name)` gives
its class names without preparing it; `columns(name)` reads, without decoding any image, the
columns the protocols split on (`ferzoo.data.protocols`), through tf.data or TFDS's data source
(`reader`, as in `ferzoo.data.reading`); `subjects(...)` gives the subject ids of each part of
a split.

A prepared copy that cannot be read (dataset_info.json or features.json damaged, a shard
truncated or missing) is a one-line `ferzoo.files.DamagedFileError` naming its folder and the
`ferzoo data build` that rebuilds it (`damaged`).
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ferzoo.data import protocols
from ferzoo.files import DamagedFileError


class DatasetNotReadyError(RuntimeError):
    """A dataset is not prepared and cannot be built (a manual download is missing or wrong)."""


@dataclass(frozen=True)
class DataInfo:
    """What `info` knows about a dataset without preparing it."""

    name: str
    class_names: tuple[str, ...]
    num_classes: int
    description: str


@dataclass(frozen=True)
class Columns:
    """The per-example columns of a prepared dataset, in one fixed order (split, then file)."""

    ids: np.ndarray  # bytes tfds_id of each example, b"<name>-<split>.<format>-<shard>@<index>"
    labels: np.ndarray  # int64
    subject_ids: np.ndarray  # str ("" where the dataset has none)
    source_splits: np.ndarray  # str, the builder split each example comes from


def data_dir_of(data_dir: str | os.PathLike | None) -> str | None:
    """The TFDS data folder: `data_dir`, else $FERZOO_DATA_DIR, else TFDS's default (None)."""
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get("FERZOO_DATA_DIR") or None


def _image_folder_config(manual_dir, subject_pattern):
    from ferzoo.datasets import builder_class

    if manual_dir is None:
        raise ValueError(
            "image_folder reads your own folder of labelled faces: pass manual_dir=<folder> "
            "(ferzoo CLI: --manual-dir DIR) holding <class>/<image> or <split>/<class>/<image>. "
            "Received: manual_dir=None"
        )
    module = sys.modules[builder_class("image_folder").__module__]
    return module.config_for(os.fspath(manual_dir), subject_pattern)


def rebuild_command(name: str, data_dir_root, builder_cls) -> str:
    """The `ferzoo data build` command that prepares `name` in `data_dir_root` again."""
    base = protocols.base_name(name)
    name = base if base == "image_folder" else name  # its config is made from --manual-dir
    manual = getattr(builder_cls, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    return f"ferzoo data build {name} --data-dir {os.fspath(data_dir_root)}" + (
        " --manual-dir DIR" if manual else ""
    )


def _damaged_folder(folder, problem: str, command: str) -> DamagedFileError:
    return DamagedFileError(
        folder,
        f"a damaged prepared dataset ({problem})",
        f"delete that folder and rebuild it with `{command}`",
    )


def damaged(found, problem: str) -> DamagedFileError:
    """The error for a prepared builder whose files cannot be read: its folder, the problem
    (e.g. "its shard x.tfrecord-00000-of-00001 is missing") and how to rebuild it."""
    command = rebuild_command(dataset_name(found), found.data_dir_root, type(found))
    return _damaged_folder(found.data_dir, problem, command)


def metadata_problem(folder: str) -> str | None:
    """What is wrong with a prepared folder's dataset_info.json or features.json, or None."""
    from tensorflow_datasets.core import dataset_info

    try:
        dataset_info.read_from_json(os.path.join(folder, "dataset_info.json"))
    except Exception as error:  # protobuf's ParseError, TFDS's DatasetInfoFileError
        return f"dataset_info.json: {DamagedFileError.reason(error)}"
    features = os.path.join(folder, "features.json")
    if os.path.exists(features):  # read by the NumPy reader's builder_from_directory
        try:
            with open(features, encoding="utf-8") as f:
                json.load(f)
        except (OSError, ValueError) as error:
            return f"features.json: {DamagedFileError.reason(error)}"
    return None


def _damaged_metadata(name: str, data_dir) -> DamagedFileError | None:
    """After TFDS failed to open `name`: the error naming its damaged folder, if one is."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core import constants

    root = data_dir_of(data_dir) or constants.DATA_DIR
    parts = str(name).split(":")[0].split("/")  # name[/config]: that config's folders only
    pattern = os.path.join(glob.escape(root), *parts, "**", "dataset_info.json")
    for info_file in sorted(glob.glob(pattern, recursive=True)):
        problem = metadata_problem(os.path.dirname(info_file))
        if problem is not None:
            command = rebuild_command(name, root, tfds.builder_cls(protocols.base_name(name)))
            return _damaged_folder(os.path.dirname(info_file), problem, command)
    return None


def builder(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    manual_dir: str | os.PathLike | None = None,
    subject_pattern: str | None = None,
):
    """The TFDS builder of a ferzoo dataset; a ValueError lists the known names.

    `image_folder` (without a config) is made from `manual_dir` and `subject_pattern`: each
    folder (and pattern) gets its own config, so two folders never share a prepared copy.
    """
    import tensorflow_datasets as tfds

    import ferzoo.datasets  # registers ferzoo's builders with TFDS

    folder = protocols.base_name(name) == "image_folder" and "/" not in str(name)
    if subject_pattern is not None and not folder:
        raise ValueError(
            "subject_pattern applies to the image_folder dataset only. "
            f"Received: name={name!r}, subject_pattern={subject_pattern!r}"
        )
    try:
        if folder:
            config = _image_folder_config(manual_dir, subject_pattern)
            return tfds.builder("image_folder", config=config, data_dir=data_dir_of(data_dir))
        return tfds.builder(name, data_dir=data_dir_of(data_dir))
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"Unknown dataset. Received: name={name!r}; ferzoo's datasets are "
            f"{list(ferzoo.datasets.BUILDER_NAMES)} (append '/<config>' to pick a config)."
        ) from None
    except Exception as error:  # TFDS reads a prepared copy's dataset_info.json here
        damage = _damaged_metadata(name, data_dir)
        if damage is None:
            raise
        raise damage from error


def dataset_name(found) -> str:
    """`name/config` of a builder (what a prepared copy reopens as)."""
    config = getattr(found, "builder_config", None)
    return f"{found.name}/{config.name}" if config is not None else found.name


def info(name: str, data_dir: str | os.PathLike | None = None) -> DataInfo:
    """Class names and count of a dataset, without preparing it or building a pipeline.

    Example:
        >>> info("synthetic_faces").class_names[:2]
        ('anger', 'disgust')
    """
    found = builder(name, data_dir)
    names = tuple(found.info.features["label"].names)
    return DataInfo(
        name=name, class_names=names, num_classes=len(names), description=found.info.description
    )


def _not_ready(found, name: str, manual_dir: str | None, error: BaseException):
    instructions = (getattr(found, "MANUAL_DOWNLOAD_INSTRUCTIONS", "") or "").strip()
    reason = str(error).strip()
    if instructions and instructions in reason:
        reason = reason.replace(instructions, "").strip()
    reason = reason.splitlines()[0][:300] if reason else "no data found"
    return DatasetNotReadyError(
        f"Dataset {name!r} is not prepared in {found.data_dir_root} and could not be "
        f"built from manual_dir={manual_dir!r}: {reason}\n\n"
        f"{instructions or '(the builder gives no download instructions)'}\n\n"
        "Then pass manual_dir=<that folder> (ferzoo CLI: --manual-dir)."
    )


def _needs_tensorflow(found, name: str) -> DatasetNotReadyError:
    return DatasetNotReadyError(
        f"Dataset {name!r} is not prepared in {found.data_dir_root}, and preparing it needs "
        "TensorFlow, which is not installed here: run `ferzoo data build "
        f"{name} --data-dir DIR` where it is (pip install 'ferzoo[tensorflow]') and copy DIR "
        "here (--data-dir DIR), or install it here."
    )


def ensure_prepared(found, name: str, manual_dir: str | os.PathLike | None) -> bool:
    """Prepare `found` (a builder) unless it is; DatasetNotReadyError with the instructions.

    Returns:
        True when it prepared the dataset now, False when it was prepared already.
    """
    if found.is_prepared():
        return False
    import tensorflow_datasets as tfds

    from ferzoo.data import reading

    if not reading.tensorflow_available():  # TFDS encodes the images with TensorFlow
        raise _needs_tensorflow(found, name)

    manual_dir = None if manual_dir is None else os.fspath(manual_dir)
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        found.download_and_prepare(download_config=config)
    except AssertionError as error:  # TFDS's missing manual_dir and ferzoo's ManualDataError
        raise _not_ready(found, name, manual_dir, error) from None
    return True


def prepare(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    subject_pattern: str | None = None,
) -> str:
    """Build a dataset's TFDS files and their ArrayRecord copy; return where they are.

    Either step is skipped when done: a dataset prepared without the copy (by ferzoo before it
    wrote one, or by `tfds build`) gets it, which needs no TensorFlow.

    Raises:
        DatasetNotReadyError: the licensed data is not in `manual_dir`; the message carries the
            builder's download instructions.
    """
    found = prepared(name, data_dir, manual_dir, subject_pattern, add_copy=True)
    return os.fspath(found.data_dir)


_COLUMNS: dict[tuple[str, str], Columns] = {}


def tfrecord_problem(found) -> str | None:
    """Which TFRecord shard of a prepared builder is missing or truncated, or None.

    Reads every record's framing (not the CRCs): called only after tf.data failed.
    """
    from ferzoo.data import array_records

    primary = str(found.info.file_format.value)
    for split_info in found.info.splits.values():
        paths = array_records.shard_paths(split_info, primary)
        for path, length in zip(paths, split_info.shard_lengths, strict=True):
            shard = os.path.basename(path)
            if not os.path.isfile(path):
                return f"its shard {shard} is missing"
            try:
                count = sum(1 for _ in array_records.read_tfrecord(path))
            except ValueError:
                return f"its shard {shard} is truncated"
            if count != length:
                return f"its shard {shard} holds {count} records, dataset_info.json says {length}"
    return None


@contextlib.contextmanager
def reading_tfrecords(found) -> Iterator[None]:
    """tf.data's errors for a truncated, corrupt or missing shard as `damaged(found, ...)`."""
    import tensorflow as tf

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
    import tensorflow_datasets as tfds

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


def _columns(ids, labels, subject_ids, sources) -> Columns:
    return Columns(
        ids=np.array(ids, dtype=object),
        labels=np.array(labels, np.int64),
        subject_ids=np.array(subject_ids, dtype=str),
        source_splits=np.array(sources, dtype=str),
    )


def _read_columns_tf(found) -> Columns:
    """The columns through tf.data (TFRecord files)."""
    import tensorflow as tf
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
    return _columns(ids, labels, subject_ids, sources)


def _read_columns_numpy(found) -> Columns:
    """The columns through TFDS's data source on the ArrayRecord copy (no TensorFlow)."""
    from ferzoo.data import array_records

    has_subject = "subject_id" in found.info.features
    ids, labels, subject_ids, sources = [], [], [], []
    for split, (source, split_ids) in array_records.split_sources(found).items():
        for start in range(0, len(source), 4096):
            indices = list(range(start, min(start + 4096, len(source))))
            for example in array_records.read_examples(found, source, indices):
                labels.append(int(example["label"]))
                subject = example["subject_id"] if has_subject else b""
                subject_ids.append(
                    subject.decode("utf-8") if isinstance(subject, bytes) else subject
                )
        ids.extend(split_ids)
        sources.extend([split] * len(split_ids))
    return _columns(ids, labels, subject_ids, sources)


def columns_of(found, reader: str | None = None) -> Columns:
    """The split columns of a prepared builder, read once per process and reader.

    Args:
        found: a prepared builder.
        reader: "tf.data" or "numpy" (`ferzoo.data.reading.READERS`); default tf.data when
            TensorFlow is installed, else numpy. Both give equal columns.
    """
    from ferzoo.data import reading

    reader = reading.check_reader(reader)
    key = (os.fspath(found.data_dir), reader)
    if key not in _COLUMNS:
        read = _read_columns_tf if reader == "tf.data" else _read_columns_numpy
        _COLUMNS[key] = read(found)
    return _COLUMNS[key]


def prepared(name: str, data_dir=None, manual_dir=None, subject_pattern=None, *, add_copy=False):
    """The builder of a dataset, prepared (built from manual_dir first if needed).

    A dataset prepared now also gets its ArrayRecord copy (`ferzoo.data.array_records`), and
    so does one prepared earlier when `add_copy` (what `prepare`, `ferzoo data build`, asks).
    """
    from ferzoo.data import array_records

    def make():
        return builder(name, data_dir, manual_dir=manual_dir, subject_pattern=subject_pattern)

    built = ensure_prepared(make(), name, manual_dir)
    # A builder made before preparation keeps empty split info: make it again.
    found = make()
    if (built or add_copy) and array_records.ensure_copy(found):
        found = make()  # dataset_info.json now lists the copy
    return found


def columns(name: str, data_dir=None, manual_dir=None, subject_pattern=None) -> Columns:
    """The split columns of a dataset, preparing it first if needed (default reader)."""
    return columns_of(prepared(name, data_dir, manual_dir, subject_pattern))


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


__all__ = [
    "Columns",
    "DataInfo",
    "DatasetNotReadyError",
    "builder",
    "columns",
    "columns_of",
    "damaged",
    "dataset_name",
    "ensure_prepared",
    "info",
    "metadata_problem",
    "prepare",
    "prepared",
    "reading_tfrecords",
    "rebuild_command",
    "split_columns",
    "subjects",
    "tfrecord_problem",
]
