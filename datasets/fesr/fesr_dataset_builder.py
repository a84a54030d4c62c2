"""Facial Expression of Students in Real-class (FESR), read from a manual download (Kaggle).

6,809 face crops of 224x224 taken from videos of real university classes (the MsC/wCA paper,
"seed 003"), labelled with five classes: surprise, joy, neutral, bored, upset; distributed as
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

from ferzoo.datasets import facts, manual

CLASS_NAMES = ("surprise", "joy", "neutral", "bored", "upset")  # the paper's order
SPLIT_ALIASES = {
    "train": ("train", "training"),
    "validation": ("val", "valid", "validation"),
    "test": ("test", "testing"),
}
EXPECTED = (
    "FESR's class folders (surprise, joy, neutral, bored, upset; any case), either inside split "
    "folders (train/, val/ or validation/, test/) or directly in one folder"
)


def split_of(name: str) -> str | None:
    """The split a folder name stands for ("Val" -> "validation"), or None."""
    for split, aliases in SPLIT_ALIASES.items():
        if name.lower() in aliases:
            return split
    return None


def class_dirs(tree: manual.Tree, folder: Path) -> list[Path]:
    """The sub-folders of `folder` named after a FESR class, in any case."""
    return [d for d in tree.dirs(folder) if d.name.lower() in CLASS_NAMES]


def is_split_root(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder holding split folders that hold class folders."""
    return any(split_of(d.name) and class_dirs(tree, d) for d in tree.dirs(folder))


def is_class_root(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder holding at least two class folders."""
    return len(class_dirs(tree, folder)) >= 2


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for FESR (manual download from Kaggle)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}
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
        return self.dataset_info_from_configs(
            features=manual.common_features(CLASS_NAMES, channels=3),
            supervised_keys=("image", "label"),
            homepage=(
                "https://www.kaggle.com/datasets/daniellam2000/"
                "facial-expression-of-students-in-real-class-fesr"
            ),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        data = manual.ManualData(
            dl_manager, name=self.name, instructions=self.MANUAL_DOWNLOAD_INSTRUCTIONS
        )
        root = data.find_optional(is_split_root)
        if root is not None:
            tree = data.tree_for(root)
            splits: dict[str, list[Path]] = {}
            for folder in tree.dirs(root):
                split = split_of(folder.name)
                if split is not None:
                    splits.setdefault(split, []).append(folder)
        else:
            root = data.find(is_class_root, expected=EXPECTED)
            tree = data.tree_for(root)
            splits = {"train": [root]}
        generators = {}
        for split in SPLIT_ALIASES:  # train, validation, test: in this order
            pairs = [(d, c) for f in splits.get(split, []) for d, c in self._classes(data, tree, f)]
            if pairs:
                generators[split] = self._generate_examples(tree, root, pairs)
        return generators

    def _classes(self, data: manual.ManualData, tree: manual.Tree, folder: Path):
        """(class folder, class name) in `folder`; an unknown folder of images is an error."""
        for sub in tree.dirs(folder):
            if sub.name.lower() in CLASS_NAMES:
                yield sub, sub.name.lower()
            elif manual.sorted_images(tree.files(sub)):
                raise data.layout_error(
                    f"FESR folders holding only the class folders {', '.join(CLASS_NAMES)} "
                    f"({folder} also holds `{sub.name}/` with images)"
                )

    def _generate_examples(self, tree: manual.Tree, root: Path, pairs: list[tuple[Path, str]]):
        report = manual.SkipReport(self.name)
        for folder, label in pairs:
            for path in manual.sorted_images(tree.files(folder)):
                relative = path.relative_to(root).as_posix()
                decoded = manual.read_image(path, channels=3)
                if decoded is None:
                    report.skip(relative, "cannot be decoded as an image")
                    continue
                yield (
                    relative,
                    {
                        "image": decoded.feature,
                        "label": label,
                        "subject_id": "",  # FESR publishes no subject ids
                        "face_box": manual.full_box(),  # already face crops
                        "filename": relative,
                    },
                )
        report.summarize()
