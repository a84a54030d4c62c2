"""The Extended Cohn-Kanade dataset (CK+), or its 48x48 derivative CK+48, from a manual download.

CK+ as distributed (`extended-cohn-kanade-images.zip`, `Emotion_labels.zip`):

    cohn-kanade-images/S005/001/S005_001_00000001.png ... S005_001_00000011.png
    Emotion/S005/001/S005_001_00000011_emotion.txt      one float, e.g. "   3.0000000e+00"

593 sequences of 123 subjects run from a neutral face (first frame) to the peak of an expression
(last frame); 327 of them carry an emotion label (0 neutral, 1 anger, 2 contempt, 3 disgust,
4 fear, 5 happy, 6 sadness, 7 surprise). As in the WAMF paper, the last `peak_frames` (3) frames
of each labelled sequence are kept: 981 images of 7 classes. Frames are mostly 640x490 grayscale;
the few RGB ones are converted to grayscale. Unlabelled sequences are ignored.

CK+48 (one folder per class, anger ... surprise, of 48x48 grayscale face crops named like
`S010_004_00000017.png`: subject, sequence, frame) is recognised automatically when manual_dir
holds it instead; it is already the three peak frames of each labelled sequence, so `peak_frames`
does not apply, and it is already cropped to the face, so `face_box` is the whole image.

Configs: `peak3` (default: 7 classes, anger ... surprise, as in the papers) and `peak3_neutral`
(8 classes: the first frame of each labelled sequence is added as `neutral`; CK+48 needs a
`neutral` folder for it). Another number of peak frames is a custom config:
`tfds.builder("ck_plus", config=CkPlusConfig(name="peak5", peak_frames=5))`.

Features: the ferzoo set (docs/design.md): `image` (uint8, 1 channel, full frame), `label`,
`subject_id` ("S005"), `face_box`, `filename`, plus `sequence` and `frame` (ints from the name).
One `train` split; ferzoo.data makes the protocols.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from ferzoo.datasets import facts, manual

EMOTIONS = ("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")  # codes 1-7
SUBJECT_DIR = re.compile(r"^S\d{3}$", re.IGNORECASE)
SEQUENCE_DIR = re.compile(r"^\d{3}$")
FRAME_FILE = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})\.png$", re.IGNORECASE)
LABEL_FILE = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})_emotion\.txt$", re.IGNORECASE)
EXPECTED_CK = (
    "CK+ (`cohn-kanade-images/S005/001/S005_001_00000001.png` and "
    "`Emotion/S005/001/S005_001_00000011_emotion.txt`) or CK+48 (class folders anger, contempt, "
    "disgust, fear, happy, sadness, surprise of PNGs named like `S010_004_00000017.png`)"
)
EXPECTED_EMOTION = (
    "the CK+ emotion labels (`Emotion/S005/001/S005_001_00000011_emotion.txt`, from "
    "Emotion_labels.zip) beside the images that were found"
)


def _has_sequences(tree: manual.Tree, folder: Path, pattern: re.Pattern) -> bool:
    for subject in tree.dirs(folder):
        if SUBJECT_DIR.match(subject.name):
            for sequence in tree.dirs(subject):
                if SEQUENCE_DIR.match(sequence.name) and any(
                    pattern.match(f.name) for f in tree.files(sequence)
                ):
                    return True
    return False


def is_images_folder(tree: manual.Tree, folder: Path) -> bool:
    """True for CK+'s `cohn-kanade-images/` (S005/001/S005_001_00000001.png, ...)."""
    return _has_sequences(tree, folder, FRAME_FILE)


def is_emotion_folder(tree: manual.Tree, folder: Path) -> bool:
    """True for CK+'s `Emotion/` (S005/001/S005_001_00000011_emotion.txt, ...)."""
    return _has_sequences(tree, folder, LABEL_FILE)


def is_ck48_folder(tree: manual.Tree, folder: Path) -> bool:
    """True for a CK+48 folder: at least 4 class folders, holding frames named like CK+'s."""
    classes = [d for d in tree.dirs(folder) if d.name.lower() in EMOTIONS]
    return len(classes) >= 4 and any(
        FRAME_FILE.match(f.name) for d in classes for f in tree.files(d)
    )


@dataclasses.dataclass
class CkPlusConfig(tfds.core.BuilderConfig):
    """Which frames of each labelled sequence to keep.

    Attributes:
        peak_frames: how many of the last frames of each labelled sequence (full CK+ only).
        include_neutral: add the first frame of each labelled sequence as class `neutral`.
    """

    peak_frames: int = 3
    include_neutral: bool = False


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for CK+ and CK+48 (manual download)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "face_landmarks (five points, (y, x) in [0, 1], all -1 where none) beside "
        "face_box; faces found by YuNet unless built with --detector haar; the detector and "
        "its version in the metadata.",
    }
    BUILDER_CONFIGS = [
        CkPlusConfig(
            name="peak3",
            description="Last 3 frames of each labelled sequence; 7 classes (anger ... surprise).",
        ),
        CkPlusConfig(
            name="peak3_neutral",
            description="Also the first frame of each labelled sequence as neutral; 8 classes.",
            include_neutral=True,
        ),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "peak3"
    PROTOCOL_FACTS = facts.ProtocolFacts(
        fractions=(0.63, 0.07, 0.30),
        has_subjects=True,
        source="the WAMF paper: a random 7:3 train:test split, 10 % of train for validation",
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    CK+ is free for non-commercial research; request it at
    https://www.jeffcohn.net/Resources/ (University of Pittsburgh / Carnegie Mellon, agreement
    form). Put the archives as you receive them (`extended-cohn-kanade-images.zip` and
    `Emotion_labels.zip`) or their extracted folders `cohn-kanade-images/` and `Emotion/`
    anywhere in manual_dir. The 48x48 derivative CK+48 (class folders anger, contempt, disgust,
    fear, happy, sadness, surprise of PNGs named like `S010_004_00000017.png`) is read instead when
    manual_dir holds that.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        metadata = {k: tfds.features.Scalar(dtype=np.int32) for k in ("sequence", "frame")}
        homepage = "https://www.jeffcohn.net/Resources/"
        return manual.dataset_info(
            self, self._class_names(), channels=1, metadata=metadata, homepage=homepage
        )

    def _class_names(self) -> tuple[str, ...]:
        neutral = ("neutral",) if self.builder_config.include_neutral else ()
        return neutral + EMOTIONS

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        peak = self.builder_config.peak_frames
        if not isinstance(peak, int) or peak < 1:
            raise ValueError(f"peak_frames must be an int >= 1. Received: peak_frames={peak!r}")
        data = manual.ManualData.of(self, dl_manager)
        images = data.find_optional(is_images_folder)
        if images is not None:
            emotion = data.find(is_emotion_folder, expected=EXPECTED_EMOTION)
            sources = (data.tree_for(images), images, data.tree_for(emotion), emotion)
            return {"train": self._generate_examples("ck+", sources)}
        ck48 = data.find_optional(is_ck48_folder)
        if ck48 is None:
            raise data.layout_error(EXPECTED_CK)
        tree = data.tree_for(ck48)
        folders = {d.name.lower(): d for d in tree.dirs(ck48)}
        if self.builder_config.include_neutral and "neutral" not in folders:
            raise manual.ManualDataError(
                f"{self.name}: config {self.builder_config.name!r} needs neutral frames, but the "
                f"CK+48 folder {ck48} has no `neutral` folder (found: {sorted(folders)}). Use the "
                "`peak3` config, or the full CK+ (cohn-kanade-images/ and Emotion/)."
            )
        unknown = sorted(set(folders) - set(self._class_names()) - {"neutral"})
        for name in unknown:
            if any(FRAME_FILE.match(f.name) for f in tree.files(folders[name])):
                raise data.layout_error(
                    f"a CK+48 folder holding only the class folders "
                    f"{', '.join(self._class_names())} ({ck48} also holds `{name}/`)"
                )
        return {"train": self._generate_examples("ck+48", (tree, folders))}

    def _generate_examples(self, layout: str, sources: tuple):
        """Yields (key, example) from CK+ (`layout="ck+"`) or CK+48 (`layout="ck+48"`)."""
        if layout == "ck+":
            yield from self._generate_ck(*sources)
        else:
            yield from self._generate_ck48(*sources)

    def _generate_ck(self, tree: manual.Tree, images: Path, label_tree: manual.Tree, labels: Path):
        report = manual.SkipReport(self.name)
        config = self.builder_config
        names = self._class_names()
        for subject in tree_dirs(label_tree, labels, SUBJECT_DIR):
            for sequence in tree_dirs(label_tree, subject, SEQUENCE_DIR):
                label_files = [f for f in label_tree.files(sequence) if LABEL_FILE.match(f.name)]
                if not label_files:
                    continue  # an unlabelled sequence
                label_file = label_files[-1]
                code = _read_label(label_file)
                if code is None or not (0 if config.include_neutral else 1) <= code <= 7:
                    report.skip(label_file.name, f"emotion label is not a valid code: {code!r}")
                    continue
                frame_dir = _child(tree, _child(tree, images, subject.name), sequence.name)
                frames = sorted(
                    (f for f in tree.files(frame_dir) if FRAME_FILE.match(f.name))
                    if frame_dir is not None
                    else [],
                    key=lambda f: int(FRAME_FILE.match(f.name).group(3)),
                )
                if not frames:
                    report.skip(label_file.name, "no frames for this labelled sequence")
                    continue
                label = names[code - 1 + config.include_neutral]
                chosen = [(f, label) for f in frames[-config.peak_frames :]]
                if config.include_neutral and len(frames) > config.peak_frames:
                    chosen.insert(0, (frames[0], "neutral"))
                for path, frame_label in chosen:
                    example = self._example(path, frame_label, report, detect=True)
                    if example is not None:
                        yield path.name, example
        report.summarize()

    def _generate_ck48(self, tree: manual.Tree, folders: dict[str, Path]):
        report = manual.SkipReport(self.name)
        for label in self._class_names():
            if label not in folders:
                continue
            for path in manual.sorted_images(tree.files(folders[label])):
                example = self._example(path, label, report, detect=False)
                if example is not None:
                    yield f"{label}/{path.name}", example
        report.summarize()

    def _example(self, path: Path, label: str, report: manual.SkipReport, detect: bool):
        match = FRAME_FILE.match(path.name)
        if match is None:
            report.skip(path.name, "name does not follow S005_001_00000001.png")
            return None
        decoded = report.read(path, channels=1)
        if decoded is None:
            return None
        subject, sequence, frame = match.groups()
        return manual.example(
            decoded,
            label=label,
            filename=path.name,
            subject_id=subject.upper(),
            # CK+48 is cropped to the face already: the box is the whole image.
            face_box="detect" if detect else "full",
            sequence=int(sequence),
            frame=int(frame),
        )


def tree_dirs(tree: manual.Tree, folder: Path, pattern: re.Pattern) -> list[Path]:
    """The sub-folders of `folder` whose names match `pattern`, sorted."""
    return sorted(d for d in tree.dirs(folder) if pattern.match(d.name))


def _child(tree: manual.Tree, folder: Path | None, name: str) -> Path | None:
    """The sub-folder `name` of `folder`, matched case-insensitively (s005 vs S005)."""
    if folder is None:
        return None
    for d in tree.dirs(folder):
        if d.name.lower() == name.lower():
            return d
    return None


def _read_label(path: Path) -> int | None:
    """The code in an `_emotion.txt` file ("   3.0000000e+00" -> 3), or None if unreadable."""
    try:
        value = float(path.read_text().split()[0])
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None
    return int(round(value)) if abs(value - round(value)) < 1e-3 else None
