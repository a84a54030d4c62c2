"""The ArrayRecord copy of a prepared dataset: what JAX and PyTorch read without TensorFlow.

TFDS prepares ferzoo's datasets as TFRecord shards, which only tf.data reads (`as_dataset`);
its TensorFlow-free random-access reader (`as_data_source`, `tfds.data_source`) reads ArrayRecord
shards only. So `ferzoo data build` (`ferzoo.data.prepare`) and every fresh preparation also
write an ArrayRecord copy of every TFRecord shard, beside it, with the same examples in the same
order, and list `array_record` in dataset_info.json's `alternative_file_formats` (what TFDS's
own `tfds convert_format` does, without its apache-beam import). A dataset prepared before
gets its copy on the next `ferzoo data build` (nothing is written when the copy is complete).

The TFRecord shards are read with a few lines of Python (the framing is a length, its CRC, the
record and its CRC), so adding the copy needs no TensorFlow either; the CRCs are not checked
(the files are TFDS's own, written on this machine), the record counts are. A copy that cannot
be read (a shard missing, truncated or corrupt) is a one-line `ferzoo.files.DamagedFileError`
naming the dataset's folder and saying how to write the copy again (`damaged_copy`).

Example:

    from ferzoo.data import array_records, sources
    found = sources.prepared("synthetic_faces")     # builds it first if needed (TensorFlow)
    array_records.ensure_copy(found)                # True: the copy is complete
    array_records.has_copy(found)                   # True
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

ARRAY_RECORD = "array_record"
_HEADER = struct.Struct("<QI")  # record length, masked CRC32C of the length


def read_tfrecord(path: str | os.PathLike) -> Iterator[bytes]:
    """The records of an uncompressed TFRecord file, in file order.

    Raises:
        ValueError: the file ends inside a record (truncated), naming the file.
    """
    with open(path, "rb") as f:
        while header := f.read(_HEADER.size):
            if len(header) < _HEADER.size:
                raise ValueError(f"TFRecord file is truncated. Received: path={os.fspath(path)!r}")
            (length, _) = _HEADER.unpack(header)
            record = f.read(length)
            if len(record) < length or len(f.read(4)) < 4:
                raise ValueError(f"TFRecord file is truncated. Received: path={os.fspath(path)!r}")
            yield record


def shard_paths(split_info, suffix: str) -> list[str]:
    """The shard files of a split in file order, for the format with this file suffix."""
    template = split_info.filename_template.replace(filetype_suffix=suffix)
    n = len(split_info.shard_lengths)
    return [os.fspath(template.sharded_filepath(shard_index=i, num_shards=n)) for i in range(n)]


def example_ids(split_info, primary_suffix: str = "tfrecord") -> list[str]:
    """The `tfds_id` of every example of a split, as tf.data's `add_tfds_id` makes them.

    `<shard file name>__<position in the shard>`, named after the primary (TFRecord) shards,
    so that both readers give every example the same id.
    """
    paths = shard_paths(split_info, primary_suffix)
    return [
        f"{os.path.basename(path)}__{i}"
        for path, length in zip(paths, split_info.shard_lengths, strict=True)
        for i in range(length)
    ]


def has_copy(found) -> bool:
    """Whether a prepared builder lists an ArrayRecord copy (or is stored as ArrayRecord)."""
    # A code builder restores the formats into its proto only (TFDS 4.9 leaves the
    # `alternative_file_formats` list of a builder that read its info from disk empty).
    listed = [*found.info.as_proto.alternative_file_formats, *found.info.alternative_file_formats]
    formats = {str(getattr(f, "value", f)) for f in listed}
    return ARRAY_RECORD in formats or str(found.info.file_format.value) == ARRAY_RECORD


def _write_shard(source: str, target: str, expected: int) -> None:
    """Copy one TFRecord shard to ArrayRecord (written to a temporary name, then renamed)."""
    from etils import epath
    from tensorflow_datasets.core import file_adapters
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


def require_copy(found) -> None:
    """A one-line `DatasetNotReadyError` when a prepared builder has no ArrayRecord copy."""
    if has_copy(found):
        return
    from ferzoo.data.sources import DatasetNotReadyError, dataset_name

    name = dataset_name(found)
    raise DatasetNotReadyError(
        f"Dataset {name!r} in {found.data_dir} has no ArrayRecord copy, which reading without "
        f"TensorFlow needs: run `ferzoo data build {name} --data-dir {found.data_dir_root}` "
        "once to add it (no TensorFlow needed), or read it with TensorFlow installed."
    )


def damaged_copy(found, problem: str):
    """The `DamagedFileError` for a prepared builder whose ArrayRecord copy cannot be read."""
    from ferzoo.data.sources import dataset_name
    from ferzoo.files import DamagedFileError

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
        from ferzoo.files import DamagedFileError

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
    import tensorflow_datasets as tfds

    from ferzoo.data import sources

    require_copy(found)
    primary = str(found.info.file_format.value)
    for split_info in found.info.splits.values():
        for path in shard_paths(split_info, ARRAY_RECORD):
            if not os.path.isfile(path):
                raise damaged_copy(found, f"{os.path.basename(path)} is missing")
    try:  # a read-only builder of its own: `as_data_source` switches the builder's file format
        reader = tfds.builder_from_directory(os.fspath(found.data_dir))
    except Exception as error:  # it reads features.json, which the code builder did not
        problem = sources.metadata_problem(os.fspath(found.data_dir))
        if problem is None:
            raise
        raise sources.damaged(found, problem) from error
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


__all__ = [
    "ARRAY_RECORD",
    "damaged_copy",
    "ensure_copy",
    "example_ids",
    "has_copy",
    "read_examples",
    "read_tfrecord",
    "require_copy",
    "shard_paths",
    "split_sources",
]
