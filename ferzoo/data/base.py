"""The bottom floor of ferzoo.data: a prepared dataset's names, folder and errors, and its columns.

What the readers (`ferzoo.data.tfrecord_reader`, `ferzoo.data.array_record_reader`), the
preparation (`ferzoo.data.preparation`) and `load` (`ferzoo.data.loader`) share: the
`DatasetNotReadyError` of a dataset that is not prepared, the `ferzoo.files.DamagedFileError`
of one that cannot be read (`damaged`: its folder, the problem and the `ferzoo data build` that
rebuilds it), a builder's `name/config` (`dataset_name`), the data folder (`data_dir_of`),
whether TensorFlow is installed, and `Columns`, the per-example columns the protocols split on.

It imports no other ferzoo.data module but `protocols` (pure NumPy), so every module of
ferzoo.data can import it.
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ferzoo.data import protocols
from ferzoo.files import DamagedFileError


class DatasetNotReadyError(RuntimeError):
    """A dataset is not prepared and cannot be built (a manual download is missing or wrong)."""


@dataclass(frozen=True)
class Columns:
    """The per-example columns of a prepared dataset, in one fixed order (split, then file)."""

    ids: np.ndarray  # bytes tfds_id of each example, b"<name>-<split>.<format>-<shard>@<index>"
    labels: np.ndarray  # int64
    subject_ids: np.ndarray  # str ("" where the dataset has none)
    source_splits: np.ndarray  # str, the builder split each example comes from

    @classmethod
    def from_lists(
        cls, ids: Sequence, labels: Sequence, subject_ids: Sequence, sources: Sequence
    ) -> Columns:
        """The columns as a reader collects them, one list per column."""
        return cls(
            ids=np.array(ids, dtype=object),
            labels=np.array(labels, np.int64),
            subject_ids=np.array(subject_ids, dtype=str),
            source_splits=np.array(sources, dtype=str),
        )


def face_facts(found) -> dict | None:
    """How a prepared dataset's faces were found, from its metadata: `{"detector",
    "detector_version", "crop_margin"}`, or None where it records none (a builder that does not record it)."""
    meta = getattr(found.info, "metadata", None)
    if meta is None or "detector" not in dict(meta):
        return None
    meta = dict(meta)
    return {k: meta[k] for k in ("detector", "detector_version", "crop_margin") if k in meta}


def check_align(found, crop_face: bool, align: bool) -> bool:
    """Whether to align the faces of a prepared dataset; a ValueError where it cannot."""
    if not align:
        return False
    if not crop_face:
        raise ValueError("align=True needs crop_face=True (it aligns the face). Received: "
                         "crop_face=False, align=True")  # fmt: skip
    if "face_landmarks" not in found.info.features:
        raise ValueError(
            f"{found.name} was prepared without face landmarks: build it again with `ferzoo "
            f"data build {found.name}`. Received: align=True"
        )
    return True


def tensorflow_available() -> bool:
    """Whether TensorFlow can be imported here (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def data_dir_of(data_dir: str | os.PathLike | None) -> str | None:
    """The TFDS data folder: `data_dir`, else $FERZOO_DATA_DIR, else TFDS's default (None)."""
    if data_dir is not None:
        return os.fspath(data_dir)
    return os.environ.get("FERZOO_DATA_DIR") or None


def dataset_name(found) -> str:
    """`name/config` of a builder (what a prepared copy reopens as)."""
    config = getattr(found, "builder_config", None)
    return f"{found.name}/{config.name}" if config is not None else found.name


def rebuild_command(name: str, data_dir_root, builder_cls) -> str:
    """The `ferzoo data build` command that prepares `name` in `data_dir_root` again."""
    base = protocols.base_name(name)
    name = base if base == "image_folder" else name  # its config is made from --manual-dir
    manual = getattr(builder_cls, "MANUAL_DOWNLOAD_INSTRUCTIONS", None)
    return f"ferzoo data build {name} --data-dir {os.fspath(data_dir_root)}" + (
        " --manual-dir DIR" if manual else ""
    )


def damaged_folder(folder, problem: str, command: str) -> DamagedFileError:
    """The error for a prepared folder that cannot be read, and the command that rebuilds it."""
    return DamagedFileError(
        folder,
        f"a damaged prepared dataset ({problem})",
        f"delete that folder and rebuild it with `{command}`",
    )


def damaged(found, problem: str) -> DamagedFileError:
    """The error for a prepared builder whose files cannot be read: its folder, the problem
    (e.g. "its shard x.tfrecord-00000-of-00001 is missing") and how to rebuild it."""
    command = rebuild_command(dataset_name(found), found.data_dir_root, type(found))
    return damaged_folder(found.data_dir, problem, command)


def metadata_problem(folder: str) -> str | None:
    """What is wrong with a prepared folder's dataset_info.json or features.json, or None."""
    # TFDS loads lazily: `import ferzoo.data` loads neither TensorFlow nor TFDS.
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


def check_order(found, ids: list[bytes], cols: Columns) -> None:
    """A RuntimeError when a reader read the images in another order than the columns."""
    if ids != list(cols.ids):
        raise RuntimeError(
            f"{found.name}: the images were read in another order than the split columns; "
            "delete the prepared copy and build it again (ferzoo data build)."
        )


__all__ = [
    "Columns",
    "DatasetNotReadyError",
    "check_order",
    "damaged",
    "damaged_folder",
    "data_dir_of",
    "dataset_name",
    "metadata_problem",
    "rebuild_command",
    "tensorflow_available",
]
