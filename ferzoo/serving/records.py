"""Prediction records and their files: CSV (streamed row by row) or JSON, written atomically.

A record is a dict: `file`, `frame` and `time_s` (videos and cameras; None for still images),
then either a face (`face`, `box` = normalized [ymin, xmin, ymax, xmax], `label`, `score`,
`scores` = class -> score) or `error` ("no face found", "cannot read image", ...), and on both
how the crop was made: `detector` (its name, or "none" with `--no-detect`), `detector_version`
(the model file and packages) and `aligned`. A video frame without a face still gets its record. Scores are softmax probabilities, or capsule lengths for
capsule-head models (each in (0, 1); they need not sum to 1).

CSV columns: file, frame, time_s, face, ymin, xmin, ymax, xmax, label, score, one
`score_<class>` per class, detector, detector_version, aligned, error.

Example:

    from ferzoo.serving.records import RecordWriter

    with RecordWriter("faces.csv", class_names) as writer:
        writer.write({"file": "a.png", "frame": None, "time_s": None, "error": "no face found"})
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

OUTPUT_SUFFIXES = (".csv", ".json")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def readable(path: str) -> None:
    """Give a file written through a temporary file the permissions of a newly created one
    (`tempfile.mkstemp` makes its files 0600)."""
    os.chmod(path, 0o666 & ~_umask())


def check_output(path: str | None) -> str | None:
    """`path` when it ends in .csv or .json (or is None); else a ValueError naming it."""
    if path is not None and os.path.splitext(path)[1].lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"--output must end in .csv or .json. Received: output={path!r}")
    return path


#: How each record's crop was made (`ferzoo.Predictor.crop_facts`): the CSV's last columns
#: before `error`, filled on every row.
CROP_COLUMNS = ("detector", "detector_version", "aligned")


def header(class_names: Sequence[str]) -> list[str]:
    """The CSV header for these classes."""
    head = ["file", "frame", "time_s", "face", "ymin", "xmin", "ymax", "xmax", "label", "score"]
    return head + [f"score_{n}" for n in class_names] + [*CROP_COLUMNS, "error"]


def _blank(value: Any) -> Any:
    return "" if value is None else value


def csv_row(record: dict[str, Any], class_names: Sequence[str]) -> list[Any]:
    """One record as a CSV row (see `header`)."""
    row = [record["file"], _blank(record.get("frame")), _blank(record.get("time_s"))]
    crop = [_blank(record.get(k)) for k in CROP_COLUMNS]
    if "error" in record:
        return row + [""] * (7 + len(class_names)) + crop + [record["error"]]
    row += [record["face"], *record["box"], record["label"], f"{record['score']:.6f}"]
    return row + [f"{record['scores'][n]:.6f}" for n in class_names] + crop + [""]


class RecordWriter:
    """Write records to `.csv` (a row as each comes, flushed) or `.json` (at the end).

    The file is written under a temporary name beside `path` and renamed when the writer is
    closed, also after Ctrl-C, so `path` holds either the previous file or every record written
    so far, never half a row.
    """

    def __init__(self, path: str, class_names: Sequence[str]) -> None:
        check_output(path)
        self.path = path
        self.class_names = list(class_names)
        self.json = path.lower().endswith(".json")
        self.records: list[dict[str, Any]] = []
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(
            dir=folder, prefix=".tmp-", suffix=os.path.splitext(path)[1]
        )
        self._file = os.fdopen(fd, "w", encoding="utf-8", newline="")
        self._csv = None
        if not self.json:
            self._csv = csv.writer(self._file, lineterminator="\n")
            self._csv.writerow(header(self.class_names))

    def write(self, record: dict[str, Any]) -> None:
        if self.json:
            self.records.append(record)
        else:
            self._csv.writerow(csv_row(record, self.class_names))

    def write_all(self, records: Iterable[dict[str, Any]]) -> None:
        for record in records:
            self.write(record)
        if self._csv is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file.closed:
            return
        if self.json:
            json.dump(self.records, self._file, indent=2)
            self._file.write("\n")
        self._file.close()
        os.replace(self._tmp, self.path)
        readable(self.path)

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_records(records: list[dict[str, Any]], path: str, class_names: Sequence[str]) -> None:
    """Write records as JSON (`.json`) or CSV (`.csv`) in one go."""
    with RecordWriter(path, class_names) as writer:
        writer.write_all(records)
