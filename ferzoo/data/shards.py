"""The shard files of a prepared dataset: their paths, the TFRecord framing, the example ids.

TFDS prepares ferzoo's datasets as TFRecord shards; `ferzoo.data.preparation` adds an
ArrayRecord copy beside them (same examples, same order) and lists `array_record` in
dataset_info.json's `alternative_file_formats` (`has_copy`). Both readers
(`ferzoo.data.tfrecord_reader`, `ferzoo.data.array_record_reader`) and the preparation find
the files here, and both readers name every example as tf.data's `add_tfds_id` does
(`example_ids`).

The TFRecord shards are read with a few lines of Python (the framing is a length, its CRC, the
record and its CRC), so writing the copy, or finding which shard is damaged, needs no
TensorFlow; the CRCs are not checked (the files are TFDS's own, written on this machine).

Imports nothing from ferzoo.
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


__all__ = ["ARRAY_RECORD", "example_ids", "has_copy", "read_tfrecord", "shard_paths"]
