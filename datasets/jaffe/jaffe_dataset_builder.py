"""The Japanese Female Facial Expression (JAFFE) dataset, read from a manual download.

213 grayscale 256x256 TIFFs of 10 subjects posing 7 expressions, named like `KA.AN1.39.tiff`:
subject `KA`, expression `AN` with its repeat number `1`, image number `39`. The images sit in a
folder usually named `jaffedbase` (found anywhere below manual_dir, or inside the archive as
distributed). Some are palette-mode TIFFs; TensorFlow cannot decode TIFF at all, so the files are
decoded with Pillow and stored as PNG. Everything in the folder that is not an image (the README,
the semantic ratings) is ignored; an image that cannot be decoded is skipped and reported.

Every example has the ferzoo feature set (docs/design.md): `image` (uint8, 1 channel, full frame),
`label`, `subject_id` (`KA`), `face_box` (Haar detector or the center-crop fallback), `filename`,
plus `repeat` and `image_number` from the file name. One `train` split: ferzoo.data makes the
`paper` (7:3) and `subject` (leave-one-subject-out with 10 folds) protocols.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from ferzoo.datasets import facts, manual

# Expression codes in the file names, in label order, and the class names they become.
EMOTION_CODES = ("AN", "DI", "FE", "HA", "NE", "SA", "SU")
CLASS_NAMES = ("anger", "disgust", "fear", "happy", "neutral", "sadness", "surprise")
# KA.AN1.39.tiff: subject, expression + repeat, image number; .tif/.tiff in either case.
FILE_PATTERN = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d+)\.(\d+)\.tiff?$", re.IGNORECASE)
EXPECTED = (
    "a JAFFE folder (usually `jaffedbase/`) of TIFF images named like `KA.AN1.39.tiff` "
    "(subject.EXPRESSIONrepeat.number.tiff)"
)


def is_jaffe_folder(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder that holds JAFFE-named TIFFs."""
    return any(FILE_PATTERN.match(f.name) for f in tree.files(folder))


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for JAFFE (manual download)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "face_landmarks (five points, (y, x) in [0, 1], all -1 where none) beside "
        "face_box; faces found by YuNet unless built with --detector haar; the detector and "
        "its version in the metadata.",
    }
    PROTOCOL_FACTS = facts.ProtocolFacts(
        fractions=(0.63, 0.07, 0.30),
        has_subjects=True,
        source="the WAMF paper: a random 7:3 train:test split, 10 % of train for validation",
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    JAFFE is free for non-commercial research but must be requested from its authors:
    https://zenodo.org/record/3451524 (Lyons, Kamachi and Gyoba). Put the archive as you receive it
    (e.g. jaffedbase.zip / .tar / .tar.gz) or its extracted folder anywhere in manual_dir. The
    builder looks for the folder of 213 TIFFs named like `KA.AN1.39.tiff` (usually `jaffedbase/`;
    `.tif`/`.tiff` in either case); other files in it are ignored.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        metadata = {k: tfds.features.Scalar(dtype=np.int32) for k in ("repeat", "image_number")}
        homepage = "https://zenodo.org/record/3451524"
        return manual.dataset_info(
            self, CLASS_NAMES, channels=1, metadata=metadata, homepage=homepage
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        data = manual.ManualData.of(self, dl_manager)
        folder = data.find(is_jaffe_folder, expected=EXPECTED)
        files = data.tree_for(folder).files(folder)
        return {"train": self._generate_examples(files)}

    def _generate_examples(self, files: list[Path]):
        report = manual.SkipReport(self.name)
        for path in manual.sorted_images(files):
            match = FILE_PATTERN.match(path.name)
            if match is None:
                report.skip(path.name, "name does not follow SUBJECT.EXPRESSIONn.NUMBER.tiff")
                continue
            subject, code, repeat, number = match.groups()
            if code.upper() not in EMOTION_CODES:
                report.skip(path.name, f"unknown expression code {code!r}")
                continue
            decoded = report.read(path, channels=1)
            if decoded is None:
                continue
            yield (
                path.name,
                manual.example(
                    decoded,
                    label=CLASS_NAMES[EMOTION_CODES.index(code.upper())],
                    filename=path.name,
                    subject_id=subject.upper(),
                    face_box="detect",
                    repeat=int(repeat),
                    image_number=int(number),
                ),
            )
        report.summarize()
