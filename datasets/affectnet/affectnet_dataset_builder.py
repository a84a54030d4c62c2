"""AffectNet, its manually annotated part, read from a manual download.

AffectNet as distributed (the manually annotated archive and its file lists):

    Manually_Annotated_file_lists/training.csv     414,799 rows
    Manually_Annotated_file_lists/validation.csv     5,500 rows
    Manually_Annotated_Images/689/737db2483489148d783ef278f43f486c0a97e140fc4b6b61b84363ca.jpg

with the columns `subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,
expression,valence,arousal`: the image's path below `Manually_Annotated_Images/`, the face
rectangle in pixels, 68 landmarks as `x;y;...`, the expression code 0-10 (neutral, happy, sad,
surprise, fear, disgust, anger, contempt, none, uncertain, no-face), valence and arousal in
[-1, 1]. Web images of any size and format; stored as RGB.

Configs: `8` (default: the 8 emotions, rows coded none, uncertain or no-face dropped) and `7`
(contempt dropped too). The face box comes from the CSV (no detector): pixels `x, y, width,
height` become the normalised `[ymin, xmin, ymax, xmax]` clipped to the image. `valence` and
`arousal` are kept (float32). Splits: training.csv -> `train`; the distributed validation set
(validation.csv, the set on which AffectNet results are reported) -> `test`; ferzoo.data holds part
of `train` out for validation. The CSVs are read row by row and one image is decoded at a time,
so memory stays flat on the ~290k kept images. A missing or unreadable image, a malformed row or
a face box outside its image is skipped and reported. No subject ids (`subject_id` ""). `filename`
is `subDirectory_filePath`.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from ferzoo.datasets import facts, manual

logger = logging.getLogger("ferzoo.datasets")

CODES = (
    "neutral",
    "happy",
    "sad",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
    "none",
    "uncertain",
    "no-face",
)  # expression codes 0-10
CLASS_NAMES = CODES[:8]
COLUMNS = (
    "subDirectory_filePath",
    "face_x",
    "face_y",
    "face_width",
    "face_height",
    "facial_landmarks",
    "expression",
    "valence",
    "arousal",
)
LISTS = {"train": "training.csv", "test": "validation.csv"}
IMAGES_DIR = "manually_annotated_images"
EXPECTED_LISTS = (
    "AffectNet's file lists `Manually_Annotated_file_lists/training.csv` and `validation.csv` "
    f"(columns {','.join(COLUMNS)})"
)
EXPECTED_IMAGES = (
    "AffectNet's image folder `Manually_Annotated_Images/` (`689/737db2...ca.jpg`, ...)"
)


def is_lists_folder(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder holding both `training.csv` and `validation.csv` (any case)."""
    names = {f.name.lower() for f in tree.files(folder)}
    return set(LISTS.values()) <= names


def is_images_folder(tree: manual.Tree, folder: Path) -> bool:
    """True for the `Manually_Annotated_Images` folder (any case) with sub-folders."""
    return folder.name.lower() == IMAGES_DIR and bool(tree.dirs(folder))


def normalized_box(x: float, y: float, width: float, height: float, shape) -> np.ndarray | None:
    """AffectNet's pixel rectangle as `[ymin, xmin, ymax, xmax]` in [0, 1], clipped to the image.

    Args:
        x, y, width, height: the CSV's `face_x, face_y, face_width, face_height` (pixels).
        shape: the image's (height, width, ...).

    Returns:
        float32 box, or None when nothing of it lies inside the image.

    Example:
        >>> normalized_box(10, 20, 50, 40, (100, 200)).tolist()
        [0.20000000298023224, 0.05000000074505806, 0.6000000238418579, 0.30000001192092896]
    """
    rows, cols = shape[:2]
    box = np.array([y / rows, x / cols, (y + height) / rows, (x + width) / cols], np.float32)
    box = np.clip(box, 0.0, 1.0)
    if box[2] <= box[0] or box[3] <= box[1]:
        return None
    return box


@dataclasses.dataclass
class AffectNetConfig(tfds.core.BuilderConfig):
    """How many emotions to keep: 8 (with contempt) or 7 (without)."""

    num_classes: int = 8


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for AffectNet's manually annotated images (manual download)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "face_landmarks (five points, (y, x) in [0, 1], all -1 where none) beside "
        "face_box; faces found by YuNet unless built with --detector haar; the detector and "
        "its version in the metadata.",
    }
    BUILDER_CONFIGS = [
        AffectNetConfig(name="8", description="The 8 emotions (with contempt).", num_classes=8),
        AffectNetConfig(name="7", description="7 emotions (contempt dropped).", num_classes=7),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "8"
    PROTOCOL_FACTS = facts.ProtocolFacts(
        official_splits=True,
        carve_validation=0.1,
        has_subjects=False,
        source="AffectNet's training set; its distributed validation set is the test split",
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    AffectNet is licensed for research by its authors (Mollahosseini, Hasani and Mahoor,
    University of Denver): request it at http://mohammadmahoor.com/affectnet/. Put the manually
    annotated part as you receive it (its archives, or the extracted `Manually_Annotated_Images/`
    and `Manually_Annotated_file_lists/` with `training.csv` and `validation.csv`) anywhere in
    manual_dir. The automatically annotated part is not read.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        metadata = {k: tfds.features.Scalar(dtype=np.float32) for k in ("valence", "arousal")}
        homepage = "http://mohammadmahoor.com/affectnet/"
        return manual.dataset_info(
            self, self._class_names(), channels=3, metadata=metadata, homepage=homepage
        )

    def _class_names(self) -> tuple[str, ...]:
        count = self.builder_config.num_classes
        if count not in (7, 8):
            raise ValueError(f"num_classes must be 7 or 8. Received: num_classes={count!r}")
        return CLASS_NAMES[:count]

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        self._class_names()  # validates the config
        data = manual.ManualData.of(self, dl_manager)
        lists = data.find(is_lists_folder, expected=EXPECTED_LISTS)
        images = data.find(is_images_folder, expected=EXPECTED_IMAGES)
        by_name = {f.name.lower(): f for f in data.tree_for(lists).files(lists)}
        return {
            split: self._generate_examples(by_name[name], images) for split, name in LISTS.items()
        }

    def _rows(self, path: Path) -> Iterator[tuple[int, dict[str, str] | None]]:
        """(data row number, row as a dict or None when malformed), streamed."""
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            first = next(reader, None)
            if first is None:
                return
            header = [c.strip() for c in first]
            if manual.is_image_file(header[0].rsplit("/", 1)[-1]):
                # No header line (a data row first): the distributed column order.
                header, reader = list(COLUMNS), _chain(first, reader)
            elif not set(COLUMNS) <= set(header):
                raise manual.ManualDataError(
                    f"{self.name}: {path} does not have AffectNet's columns: expected "
                    f"{','.join(COLUMNS)}, found {','.join(header)}."
                )
            for number, row in enumerate(reader, start=1):
                if not row:
                    continue
                yield (
                    number,
                    dict(zip(header, row, strict=True)) if len(row) == len(header) else None,
                )

    def _generate_examples(self, path: Path, images: Path):
        report = manual.SkipReport(self.name)
        names = self._class_names()
        dropped: Counter = Counter()
        for number, row in self._rows(path):
            where = f"{path.name}:{number}"
            if row is None:
                report.skip(where, f"does not have the {len(COLUMNS)} columns")
                continue
            try:
                code = int(row["expression"])
                x, y, w, h = (float(row[k]) for k in COLUMNS[1:5])
                valence, arousal = float(row["valence"]), float(row["arousal"])
            except ValueError:
                report.skip(where, "a number column does not hold a number")
                continue
            if not 0 <= code < len(CODES):
                report.skip(where, f"expression {code} is not a code 0-10")
                continue
            if code >= len(names):
                dropped[CODES[code]] += 1
                continue
            relative = row["subDirectory_filePath"].strip()
            decoded = report.read(
                images / relative, 3, relative, "missing or cannot be decoded as an image"
            )
            if decoded is None:
                continue
            box = normalized_box(x, y, w, h, decoded.array.shape)
            if box is None:
                report.skip(relative, f"face box {x, y, w, h} lies outside the image")
                continue
            yield (
                relative,
                manual.example(  # AffectNet publishes no subject ids
                    decoded,
                    label=names[code],
                    filename=relative,
                    face_box=box,
                    valence=np.float32(valence),
                    arousal=np.float32(arousal),
                ),
            )
        if dropped:
            counts = ", ".join(f"{n} {name}" for name, n in sorted(dropped.items()))
            logger.info(
                "%s: %s: dropped the rows not kept by this config: %s", self.name, path.name, counts
            )
        report.summarize()


def _chain(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest
