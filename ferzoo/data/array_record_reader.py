"""The `"numpy"` reader: a prepared dataset's ArrayRecord copy, without TensorFlow.

One of the two readers of `ferzoo.data.readers.READERS`, with the interface of
`ferzoo.data.tfrecord_reader`: `read_columns(found) -> Columns` and `read_images(found, cols,
image_size, crop_face) -> np.ndarray` (uint8 `(N, S, S, 3)` in the columns' order).

TFDS's TensorFlow-free random-access reader (`as_data_source`) reads ArrayRecord shards only;
`ferzoo.data.preparation` writes that copy beside the TFRecord shards (`ferzoo data build`).
The images are decoded by the Image feature's NumPy decoding (OpenCV) in a pool of threads, as
the tf.data reader decodes them, so both give the same pixels, and the examples carry the
tf.data reader's ids (`ferzoo.data.shards.example_ids`).

A missing copy is a one-line `DatasetNotReadyError` saying how to add it (`require_copy`); a
copy that cannot be read (a shard missing, truncated or corrupt) is a one-line
`ferzoo.files.DamagedFileError` naming the dataset's folder and how to write the copy again
(`damaged_copy`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ferzoo.data import imaging
from ferzoo.data.base import (
    Columns,
    DatasetNotReadyError,
    check_align,
    check_order,
    damaged,
    dataset_name,
    metadata_problem,
)
from ferzoo.data.shards import ARRAY_RECORD, example_ids, has_copy, shard_paths
from ferzoo.files import DamagedFileError

_CHUNK = 64  # examples per decoding task


def require_copy(found) -> None:
    """A one-line `DatasetNotReadyError` when a prepared builder has no ArrayRecord copy."""
    if has_copy(found):
        return
    name = dataset_name(found)
    raise DatasetNotReadyError(
        f"Dataset {name!r} in {found.data_dir} has no ArrayRecord copy, which reading without "
        f"TensorFlow needs: run `ferzoo data build {name} --data-dir {found.data_dir_root}` "
        "once to add it (no TensorFlow needed), or read it with TensorFlow installed."
    )


def damaged_copy(found, problem: str) -> DamagedFileError:
    """The `DamagedFileError` for a prepared builder whose ArrayRecord copy cannot be read."""
    command = f"ferzoo data build {dataset_name(found)} --data-dir {found.data_dir_root}"
    return DamagedFileError(
        found.data_dir,
        f"a damaged prepared dataset (its ArrayRecord copy: {problem})",
        f"delete its *.{ARRAY_RECORD}-* files and run `{command}` to write them again "
        "(no TensorFlow needed)",
    )


def read_examples(found, source, indices: list[int]) -> list:
    """`source[i] for i in indices` (one read); a damaged shard is `damaged_copy`'s error."""
    try:
        return source.__getitems__(indices)
    except RuntimeError as error:  # array_record: a corrupt, truncated or missing shard
        raise damaged_copy(found, DamagedFileError.reason(error)) from error


def split_sources(found, *, decode_image: bool = False) -> dict[str, tuple]:
    """Each split's TFDS data source on the ArrayRecord copy, and its example ids.

    Args:
        found: a prepared builder with its ArrayRecord copy.
        decode_image: decode the `image` feature (default: leave it as encoded bytes).

    Returns:
        `{split: (source, ids)}` in sorted split order: `source[i]` is the i-th example's
        feature dict (NumPy), `ids` its `tfds_id`s (bytes, as `example_ids`).

    Raises:
        DatasetNotReadyError: the copy is missing (one line, saying how to add it).
        DamagedFileError: a shard of the copy is missing or holds other examples, or the
            folder's metadata cannot be read.
    """
    import tensorflow_datasets as tfds  # lazy: `import ferzoo.data` does not load TFDS

    require_copy(found)
    primary = str(found.info.file_format.value)
    for split_info in found.info.splits.values():
        for path in shard_paths(split_info, ARRAY_RECORD):
            if not os.path.isfile(path):
                raise damaged_copy(found, f"{os.path.basename(path)} is missing")
    try:  # a read-only builder of its own: `as_data_source` switches the builder's file format
        reader = tfds.builder_from_directory(os.fspath(found.data_dir))
    except Exception as error:  # it reads features.json, which the code builder did not
        problem = metadata_problem(os.fspath(found.data_dir))
        if problem is None:
            raise
        raise damaged(found, problem) from error
    decoders = None if decode_image else {"image": tfds.decode.SkipDecoding()}
    out = {}
    for split in sorted(reader.info.splits):
        source = reader.as_data_source(split=split, file_format=ARRAY_RECORD, decoders=decoders)
        ids = [i.encode() for i in example_ids(found.info.splits[split], primary)]
        if len(source) != len(ids):
            problem = f"split {split!r} holds {len(source)} examples, not {len(ids)}"
            raise damaged_copy(found, problem)
        out[split] = (source, ids)
    return out


def read_columns(found) -> Columns:
    """The split columns through TFDS's data source on the ArrayRecord copy (no TensorFlow)."""
    has_subject = "subject_id" in found.info.features
    ids, labels, subject_ids, sources = [], [], [], []
    for split, (source, split_ids) in split_sources(found).items():
        for start in range(0, len(source), 4096):
            indices = list(range(start, min(start + 4096, len(source))))
            for example in read_examples(found, source, indices):
                labels.append(int(example["label"]))
                subject = example["subject_id"] if has_subject else b""
                subject_ids.append(
                    subject.decode("utf-8") if isinstance(subject, bytes) else subject
                )
        ids.extend(split_ids)
        sources.extend([split] * len(split_ids))
    return Columns.from_lists(ids, labels, subject_ids, sources)


def read_images(
    found,
    cols: Columns,
    image_size: int,
    crop_face: bool,
    align: bool = False,
    workers: int | None = None,
) -> np.ndarray:
    """Decode from the ArrayRecord copy without TensorFlow, in `workers` threads.

    Args:
        found: a prepared builder with its ArrayRecord copy.
        cols: its `ferzoo.data.base.Columns` (checked against the ids read).
        image_size: the output side.
        crop_face: crop to each example's `face_box`.
        align: align each face by its `face_landmarks` instead (`ferzoo.data.imaging`).
        workers: decoding threads (OpenCV's decoding and resizing release the GIL); default
            the CPU count, at most 8.

    Returns:
        uint8 `(N, image_size, image_size, 3)` in the columns' order.
    """
    size = int(image_size)
    workers = workers or min(8, os.cpu_count() or 1)
    images = np.zeros((len(cols.ids), size, size, 3), np.uint8)
    splits = split_sources(found)
    feature = found.info.features["image"]
    align = check_align(found, crop_face, align)

    def decode(source, offset: int, start: int) -> None:
        stop = min(start + _CHUNK, len(source))
        examples = read_examples(found, source, list(range(start, stop)))
        for i, example in enumerate(examples, start):
            pixels = feature.decode_example_np(example["image"])
            box = example["face_box"] if crop_face else None
            marks = example["face_landmarks"] if align else None
            images[offset + i] = imaging.crop_resize_uint8(pixels, size, box, marks)

    ids: list[bytes] = []
    with ThreadPoolExecutor(workers) as pool:
        tasks = []
        for source, split_ids in splits.values():
            starts = range(0, len(source), _CHUNK)
            tasks += [pool.submit(decode, source, len(ids), start) for start in starts]
            ids.extend(split_ids)
        for task in tasks:
            task.result()  # re-raises a worker's error
    check_order(found, ids, cols)
    return images


__all__ = ["damaged_copy", "read_columns", "read_examples", "read_images", "require_copy",
           "split_sources"]  # fmt: skip
