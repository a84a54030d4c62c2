"""Facial Expression of Students in Real-class (FESR), read from a manual download (Kaggle).

6,809 face crops of 224x224 taken from videos of real university classes (the MsC-wCA paper,
Liu et al., Sci. Rep. 2025), labelled with five classes: surprise, joy, neutral, bored, upset; distributed as
5,438 / 685 / 686 train / validation / test images. Its folder layout is not documented, so the
builder accepts both

    <split>/<class>/<image>     split folders train|training, val|valid|validation, test|testing
    <class>/<image>             a single `train` split

found anywhere below manual_dir (or inside the Kaggle archive), with split and class folder names
in any case (`Joy`, `BORED`). The distributed split is kept as the `train`, `validation` and
`test` splits when there is one. Images (JPEG or PNG) are stored as RGB.

FESR has no subject ids: `subject_id` is "" for every example, and ferzoo.data refuses the
subject-independent protocol for it (its own split is the `paper` protocol). The images are face
crops already (RetinaFace), so `face_box` is the whole image [0, 0, 1, 1]. `filename` is the path
relative to the dataset folder (`train/joy/...`), because file names may repeat across folders.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow_datasets as tfds

from ferzoo.datasets import facts, folders, manual

CLASS_NAMES = ("surprise", "joy", "neutral", "bored", "upset")  # the paper's order
EXPECTED = (
    "FESR's class folders (surprise, joy, neutral, bored, upset; any case), either inside split "
    "folders (train/, val/ or validation/, test/) or directly in one folder"
)


def is_split_root(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder holding split folders that hold class folders."""
    return any(
        folders.split_of(d.name) and folders.class_dirs(tree, d, CLASS_NAMES)
        for d in tree.dirs(folder)
    )


def is_class_root(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder holding at least two class folders."""
    return len(folders.class_dirs(tree, folder, CLASS_NAMES)) >= 2


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for FESR (manual download from Kaggle)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "face_landmarks (five points, (y, x) in [0, 1], all -1 where none) beside "
        "face_box; faces found by YuNet unless built with --detector haar; the detector and "
        "its version in the metadata.",
    }
    PROTOCOL_FACTS = facts.ProtocolFacts(
        official_splits=True,
        fractions=(0.8, 0.1, 0.1),
        has_subjects=False,
        source="FESR's distributed train/validation/test split; 8:1:1 (MsC/wCA) without one",
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Download FESR from Kaggle (a free account is needed):
    https://www.kaggle.com/datasets/daniellam2000/facial-expression-of-students-in-real-class-fesr
    (e.g. `kaggle datasets download daniellam2000/facial-expression-of-students-in-real-class-fesr`).
    Put the archive as downloaded (`archive.zip` or the named zip) or its extracted folder anywhere
    in manual_dir. The builder looks for class folders surprise, joy, neutral, bored, upset (any
    case), inside train/, val/ (or validation/) and test/ folders when the download is split.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        homepage = (
            "https://www.kaggle.com/datasets/daniellam2000/"
            "facial-expression-of-students-in-real-class-fesr"
        )
        return manual.dataset_info(self, CLASS_NAMES, channels=3, homepage=homepage)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        data = manual.ManualData.of(self, dl_manager)
        root = data.find_optional(is_split_root)
        if root is not None:
            tree = data.tree_for(root)
            splits = folders.split_folders(tree, root)  # train, validation, test: in this order
        else:
            root = data.find(is_class_root, expected=EXPECTED)
            tree = data.tree_for(root)
            splits = {"train": [root]}
        generators = {}
        for split, split_dirs in splits.items():
            pairs = [
                pair
                for folder in split_dirs
                for pair in folders.class_folders(
                    data, tree, folder, CLASS_NAMES, holder="FESR folders", where=str(folder)
                )
            ]
            if pairs:
                generators[split] = self._generate_examples(tree, root, pairs)
        return generators

    def _generate_examples(self, tree: manual.Tree, root: Path, pairs: list[tuple[Path, str]]):
        report = manual.SkipReport(self.name)
        for folder, label in pairs:
            for path in manual.sorted_images(tree.files(folder)):
                relative = path.relative_to(root).as_posix()
                decoded = report.read(path, channels=3, name=relative)
                if decoded is not None:  # no subject ids; face crops already: the full box
                    yield relative, manual.example(decoded, label=label, filename=relative)
        report.summarize()
