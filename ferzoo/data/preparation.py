"""Preparing ferzoo's TFDS datasets: their builders, the TFRecord build and the ArrayRecord copy.

`builder(name)` opens a dataset's TFDS builder (`image_folder` made from the user's folder);
`info(name)` gives its class names without preparing it; `prepared(name)` builds its files
once (the licensed ones from `manual_dir`; TFDS encodes the images with TensorFlow) and
`prepare(name)`, what `ferzoo data build` runs, also returns where they are.

Every fresh preparation and every `ferzoo data build` also writes an ArrayRecord copy of every
TFRecord shard (`ensure_copy`), beside it, with the same examples in the same order, and lists
`array_record` in dataset_info.json's `alternative_file_formats` (what TFDS's own `tfds
convert_format` does, without its apache-beam import): TFDS's TensorFlow-free reader
(`ferzoo.data.array_record_reader`) reads ArrayRecord shards only. The TFRecord shards are read
with `ferzoo.data.shards.read_tfrecord`, so adding the copy to a dataset prepared earlier needs
no TensorFlow (nothing is written when the copy is complete); the record counts are checked.

A prepared copy whose metadata cannot be read is a one-line `ferzoo.files.DamagedFileError`
naming its folder and the `ferzoo data build` that rebuilds it (`ferzoo.data.base.damaged`).

Example:

    from ferzoo.data import preparation
    found = preparation.prepared("synthetic_faces")     # builds it first if needed (TensorFlow)
    preparation.ensure_copy(found)                      # False: the copy is complete
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass

from ferzoo.data import protocols
from ferzoo.data.base import (
    DatasetNotReadyError,
    damaged_folder,
    data_dir_of,
    face_facts,
    metadata_problem,
    rebuild_command,
    tensorflow_available,
)
from ferzoo.data.shards import ARRAY_RECORD, has_copy, read_tfrecord, shard_paths

# tensorflow_datasets, and ferzoo.datasets (which registers the builders by importing them, and
# so TFDS), are imported inside the functions: `import ferzoo.data` loads neither.


@dataclass(frozen=True)
class DataInfo:
    """What `info` knows about a dataset without preparing it."""

    name: str
    class_names: tuple[str, ...]
    num_classes: int
    description: str


def _image_folder_config(manual_dir, subject_pattern):
    from ferzoo.datasets import builder_class  # imports TFDS (see above)

    if manual_dir is None:
        raise ValueError(
            "image_folder reads your own folder of labelled faces: pass manual_dir=<folder> "
            "(ferzoo CLI: --manual-dir DIR) holding <class>/<image> or <split>/<class>/<image>. "
            "Received: manual_dir=None"
        )
    module = sys.modules[builder_class("image_folder").__module__]
    return module.config_for(os.fspath(manual_dir), subject_pattern)


def _damaged_metadata(name: str, data_dir):
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
            return damaged_folder(os.path.dirname(info_file), problem, command)
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

    if not tensorflow_available():  # TFDS encodes the images with TensorFlow
        raise _needs_tensorflow(found, name)

    manual_dir = None if manual_dir is None else os.fspath(manual_dir)
    config = tfds.download.DownloadConfig(manual_dir=manual_dir)
    try:
        found.download_and_prepare(download_config=config)
    except AssertionError as error:  # TFDS's missing manual_dir and ferzoo's ManualDataError
        raise _not_ready(found, name, manual_dir, error) from None
    return True


def _write_shard(source: str, target: str, expected: int) -> None:
    """Copy one TFRecord shard to ArrayRecord (written to a temporary name, then renamed)."""
    from etils import epath
    from tensorflow_datasets.core import file_adapters  # array_record: loaded when writing
    from tensorflow_datasets.core.utils import py_utils

    adapter = file_adapters.ADAPTER_FOR_FORMAT[file_adapters.FileFormat.ARRAY_RECORD]
    count = [0]

    def records():
        for key, record in enumerate(read_tfrecord(source)):
            count[0] = key + 1
            yield key, record

    with py_utils.incomplete_file(epath.Path(target)) as tmp:
        adapter.write_examples(path=tmp, iterator=records())
        if count[0] != expected:  # raising here removes the temporary file
            raise ValueError(
                f"{source} holds {count[0]} records, its dataset_info.json says {expected}: the "
                "prepared copy is damaged; delete it and build it again. "
                f"Received: path={source!r}"
            )


def ensure_copy(found) -> bool:
    """Write the missing ArrayRecord shards of a prepared builder and list the format.

    Args:
        found: a prepared `tfds` builder stored as TFRecord (ferzoo's builders are).

    Returns:
        True when anything was written, False when the copy was already complete.
    """
    from tensorflow_datasets.core import dataset_info as dataset_info_lib

    primary = str(found.info.file_format.value)
    if primary == ARRAY_RECORD:
        return False
    wrote = False
    for split_info in found.info.splits.values():
        sources = shard_paths(split_info, primary)
        targets = shard_paths(split_info, ARRAY_RECORD)
        for source, target, length in zip(sources, targets, split_info.shard_lengths, strict=True):
            if not os.path.exists(target):
                _write_shard(source, target, int(length))
                wrote = True
    if not has_copy(found):
        proto = dataset_info_lib.read_proto_from_builder_dir(found.data_dir)
        if ARRAY_RECORD not in proto.alternative_file_formats:
            proto.alternative_file_formats.append(ARRAY_RECORD)
            dataset_info_lib.write_dataset_info_proto(proto, dataset_info_dir=found.data_dir)
            wrote = True
    return wrote


def prepared(
    name: str,
    data_dir=None,
    manual_dir=None,
    subject_pattern=None,
    *,
    add_copy=False,
    detector: str | None = None,
):
    """The builder of a dataset, prepared (built from manual_dir first if needed).

    A dataset prepared now finds its faces with `detector` (`ferzoo.face.DETECTORS`; None: the
    default, YuNet) and records it in its metadata (`ferzoo.data.base.face_facts`); a dataset
    prepared earlier with another detector than the one named is a ValueError. A dataset
    prepared now also gets its ArrayRecord copy (`ensure_copy`), and so does one prepared
    earlier when `add_copy` (what `prepare`, `ferzoo data build`, asks).
    """
    from ferzoo import face

    chosen = face.DEFAULT_DETECTOR if detector is None else face.check_detector(detector)

    def make():
        return builder(name, data_dir, manual_dir=manual_dir, subject_pattern=subject_pattern)

    with face.using(chosen):
        built = ensure_prepared(make(), name, manual_dir)
    # A builder made before preparation keeps empty split info: make it again.
    found = make()
    if (built or add_copy) and ensure_copy(found):
        found = make()  # dataset_info.json now lists the copy
    held = (face_facts(found) or {}).get("detector")
    if detector is not None and held is not None and held != detector:
        raise ValueError(
            f"{name} is prepared in {found.data_dir} with the {held} face detector: delete that "
            f"folder, or pass another --data-dir, to build it with {detector}. "
            f"Received: detector={detector!r}"
        )
    return found


def prepare(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    manual_dir: str | os.PathLike | None = None,
    subject_pattern: str | None = None,
    detector: str | None = None,
) -> str:
    """Build a dataset's TFDS files and their ArrayRecord copy; return where they are.

    `detector` finds the faces (`prepared`; None: YuNet) and is recorded in the metadata.

    Either step is skipped when done: a dataset prepared without the copy (by ferzoo before it
    wrote one, or by `tfds build`) gets it, which needs no TensorFlow.

    Raises:
        DatasetNotReadyError: the licensed data is not in `manual_dir`; the message carries the
            builder's download instructions.
    """
    found = prepared(name, data_dir, manual_dir, subject_pattern, add_copy=True,
                     detector=detector)  # fmt: skip
    return os.fspath(found.data_dir)


__all__ = ["DataInfo", "builder", "ensure_copy", "ensure_prepared", "info", "prepare",
           "prepared"]  # fmt: skip
