"""The Real-world Affective Faces Database (RAF-DB), basic subset, read from a manual download.

RAF-DB basic as distributed (the `basic/` folder, or its archive):

    basic/EmoLabel/list_patition_label.txt       lines like `train_00001.jpg 5`, `test_0001.jpg 1`
    basic/Image/aligned/train_00001_aligned.jpg  100x100 aligned faces (also as `aligned.zip`)
    basic/Image/original/train_00001.jpg         the original photographs (also `original.zip`)

15,339 images of faces from the web labelled by about 40 annotators each with one of seven basic
expressions, codes 1-7 = surprise, fear, disgust, happiness, sadness, anger, neutral (the label
order here). The name's prefix is the distributed split, kept as the `train` (12,271) and `test`
(3,068) splits. The image folders are found anywhere below manual_dir, also inside the zips
(archives within archives are extracted too).

Configs: `aligned` (default; `face_box` is the whole image) and `original` (the photographs;
`face_box` from OpenCV's Haar detector, or the center-crop fallback, as for JAFFE and KDEF).
Images are stored as RGB; a listed image that is missing or unreadable, or a line that is not
`<name> <code 1-7>`, is skipped and reported. RAF-DB publishes no subject ids: `subject_id` is "".
`filename` is the image file's name (`train_00001_aligned.jpg`); the key is the listed name.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import tensorflow_datasets as tfds

from ferzoo.datasets import facts, manual

CLASS_NAMES = ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral")
LABEL_FILE = "list_patition_label.txt"  # sic: the distributed spelling
CODES = frozenset("1234567")  # the label codes, one character each
LISTED_NAME = re.compile(r"^(train|test)_(\d+)\.jpg$", re.IGNORECASE)
IMAGE_FILES = {
    "aligned": re.compile(r"^(train|test)_\d+_aligned\.jpg$", re.IGNORECASE),
    "original": re.compile(r"^(train|test)_\d+\.jpg$", re.IGNORECASE),
}
EXPECTED_LABELS = f"RAF-DB basic's label list `basic/EmoLabel/{LABEL_FILE}`"


def is_label_folder(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder holding `list_patition_label.txt` (any case)."""
    return any(f.name.lower() == LABEL_FILE for f in tree.files(folder))


def image_folder_predicate(images: str):
    """A predicate for the folder of `aligned` or `original` images."""
    pattern = IMAGE_FILES[images]
    return lambda tree, folder: any(pattern.match(f.name) for f in tree.files(folder))


def image_name(listed: str, images: str) -> str:
    """The image file of a listed name: `train_00001.jpg` -> `train_00001_aligned.jpg`."""
    if images == "aligned":
        return listed[: -len(".jpg")] + "_aligned.jpg"
    return listed


@dataclasses.dataclass
class RafDbConfig(tfds.core.BuilderConfig):
    """Which images to store: "aligned" (100x100 faces) or "original" (the photographs)."""

    images: str = "aligned"


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for RAF-DB basic (manual download)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "face_landmarks (five points, (y, x) in [0, 1], all -1 where none) beside "
        "face_box; faces found by YuNet unless built with --detector haar; the detector and "
        "its version in the metadata.",
    }
    BUILDER_CONFIGS = [
        RafDbConfig(name="aligned", description="The 100x100 aligned faces.", images="aligned"),
        RafDbConfig(
            name="original",
            description="The original photographs, face box from the Haar detector.",
            images="original",
        ),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "aligned"
    PROTOCOL_FACTS = facts.ProtocolFacts(
        official_splits=True,
        carve_validation=0.1,
        has_subjects=False,
        source="RAF-DB's distributed train/test split (12,271 / 3,068)",
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    RAF-DB is free for non-commercial research; request it from its authors at
    http://www.whdeng.cn/RAF/model1.html (Shan Li and Weihong Deng, Beijing University of Posts
    and Telecommunications; an agreement signed by a supervisor is asked for). Put the `basic`
    folder, or the archive as you receive it, anywhere in manual_dir: the builder reads
    `basic/EmoLabel/list_patition_label.txt` and the images in `basic/Image/aligned/`
    (`train_00001_aligned.jpg`; config `original`: `basic/Image/original/train_00001.jpg`),
    extracting `aligned.zip` / `original.zip` when they are still zipped.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        return manual.dataset_info(
            self, CLASS_NAMES, channels=3, homepage="http://www.whdeng.cn/RAF/model1.html"
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        images = self.builder_config.images
        if images not in IMAGE_FILES:
            raise ValueError(
                f"images must be one of {sorted(IMAGE_FILES)}. Received: images={images!r}"
            )
        data = manual.ManualData.of(self, dl_manager)
        labels_dir = data.find(is_label_folder, expected=EXPECTED_LABELS)
        label_file = next(
            f for f in data.tree_for(labels_dir).files(labels_dir) if f.name.lower() == LABEL_FILE
        )
        example = "train_00001_aligned.jpg" if images == "aligned" else "train_00001.jpg"
        image_dir = data.find(
            image_folder_predicate(images),
            expected=f"RAF-DB's {images} images (`basic/Image/{images}/{example}`)",
        )
        files = {f.name.lower(): f for f in data.tree_for(image_dir).files(image_dir)}
        return {
            split: self._generate_examples(label_file, files, split) for split in ("train", "test")
        }

    def _generate_examples(self, label_file: Path, files: dict[str, Path], split: str):
        report = manual.SkipReport(self.name)
        images = self.builder_config.images
        text = label_file.read_text(encoding="utf-8-sig", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            match = LISTED_NAME.match(fields[0])
            where = f"{LABEL_FILE}:{number}"
            if len(fields) != 2 or match is None or fields[1] not in CODES:
                if split == "train":  # report each bad line once, in the first split
                    report.skip(where, f"not `<train|test>_<n>.jpg <code 1-7>`: {line.strip()!r}")
                continue
            if match.group(1).lower() != split:
                continue
            path = files.get(image_name(fields[0], images).lower())
            if path is None:
                report.skip(image_name(fields[0], images), f"listed in {where}, no such file")
                continue
            decoded = report.read(path, channels=3)
            if decoded is None:
                continue
            yield (
                fields[0],
                manual.example(  # RAF-DB publishes no subject ids
                    decoded,
                    label=CLASS_NAMES[int(fields[1]) - 1],
                    filename=path.name,
                    face_box="full" if images == "aligned" else "detect",
                ),
            )
        report.summarize()
