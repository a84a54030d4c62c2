"""Any folder of labelled face images: `<class>/<image>` or `<split>/<class>/<image>`.

    config = config_for("~/my_faces", subject_pattern=r"^(P\\d+)_")
    builder = tfds.builder("image_folder", config=config, data_dir=...)
    builder.download_and_prepare()

The classes are the names of the class folders that hold at least one image (sorted, so
`angry, happy, sad`); images may sit deeper inside a class folder (`happy/session1/a.jpg`).
When the folder's sub-folders include split folders (`train`/`training`, `val`/`valid`/
`validation`, `test`/`testing`, any case), each is a split of class folders; otherwise the class
folders make one `train` split. Images (PNG, JPEG, BMP, TIFF) are stored as RGB.

Each folder gets its own BuilderConfig, made by `config_for(folder, subject_pattern)`: its name is
the folder's name plus a hash of the resolved path, the pattern, the face-box rule, the layout and
the class names, so two folders (or patterns) never share a prepared copy, and a class folder
added later gives a new one. The ClassLabel names come from the config. A prepared copy can be
reopened without the folder as `tfds.builder("image_folder/<config name>", data_dir=...)`.

`subject_pattern` (a regular expression searched in each file's name; its first group, or the
whole match when it has no group, is the `subject_id`) gives subject ids, so that the subject
protocol applies; a file whose name does not match is skipped and reported. Without a pattern,
`subject_id` is "". `face_box` is OpenCV's Haar detection with the center-crop fallback
(`face_box="detect"`, the default, as for JAFFE and KDEF) or the whole image (`"full"`, for
folders of face crops). `filename` is the path below the folder. Unreadable images are skipped
and reported.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import tensorflow_datasets as tfds

from ferzoo.datasets import facts, folders, manual

FACE_BOXES = ("detect", "full")


def images_below(tree: manual.Tree, folder: Path) -> list[Path]:
    """Every image file in `folder` and its sub-folders, sorted by path."""
    found = manual.sorted_images(tree.files(folder))
    for sub in tree.dirs(folder):
        found.extend(images_below(tree, sub))
    return sorted(found)


def scan(tree: manual.Tree, root: Path) -> tuple[str, dict[str, list[Path]], list[str]]:
    """The layout of a folder: ("splits" or "classes", split -> class folders, class names).

    Raises:
        ValueError: when the folder mixes split and class folders, or has fewer than 2 classes.
    """
    subs = tree.dirs(root)
    split_dirs = [d for d in subs if folders.split_of(d.name)]
    if split_dirs:
        others = [d.name for d in subs if not folders.split_of(d.name) and images_below(tree, d)]
        if others:
            raise ValueError(
                f"The folder holds split folders ({', '.join(d.name for d in split_dirs)}) and "
                f"also other folders with images ({', '.join(others[:5])}); expected either "
                f"<class>/<image> or <split>/<class>/<image>. Received: folder={str(root)!r}"
            )
        layout = "splits"
        by_split = {
            split: [c for d in dirs for c in tree.dirs(d) if images_below(tree, c)]
            for split, dirs in folders.split_folders(tree, root).items()
        }
    else:
        layout = "classes"
        by_split = {"train": [d for d in subs if images_below(tree, d)]}
    names = sorted({c.name for dirs in by_split.values() for c in dirs})
    if len(names) < 2:
        raise ValueError(
            "The folder must hold at least 2 class folders of images (<class>/<image> or "
            f"<split>/<class>/<image>); found {names or 'none'}. Received: folder={str(root)!r}"
        )
    return layout, by_split, names


def _compile(subject_pattern: str | None) -> re.Pattern | None:
    if subject_pattern is None:
        return None
    try:
        return re.compile(subject_pattern)
    except (re.error, TypeError) as err:
        raise ValueError(
            f"subject_pattern must be a regular expression ({err}). "
            f"Received: subject_pattern={subject_pattern!r}"
        ) from None


def subject_of(pattern: re.Pattern | None, filename: str) -> str | None:
    """The subject id in a file name: "" without a pattern, None when the pattern misses."""
    if pattern is None:
        return ""
    match = pattern.search(filename)
    if match is None:
        return None
    return (match.group(1) if pattern.groups else match.group(0)) or None


@dataclasses.dataclass
class ImageFolderConfig(tfds.core.BuilderConfig):
    """One folder of images, as scanned by `config_for` (which fills every field).

    Attributes:
        folder: the folder's resolved path.
        subject_pattern: the regular expression giving subject ids, or None.
        face_box: "detect" or "full".
        layout: "splits" or "classes".
        class_names: the class folder names, sorted.
    """

    folder: str = ""
    subject_pattern: str | None = None
    face_box: str = "detect"
    layout: str = ""
    class_names: tuple[str, ...] = ()


def config_for(
    folder: str | os.PathLike, subject_pattern: str | None = None, *, face_box: str = "detect"
) -> ImageFolderConfig:
    """The BuilderConfig of one folder of labelled images (scans the folder, reads no image).

    Args:
        folder: a `<class>/<image>` or `<split>/<class>/<image>` tree.
        subject_pattern: a regular expression searched in each file name; its first group (or
            the whole match) is the subject id. None: no subject ids.
        face_box: "detect" (Haar detector, center-crop fallback) or "full" (the whole image).

    Returns:
        An `ImageFolderConfig` named `<folder name>-<hash>`, for
        `tfds.builder("image_folder", config=...)`.

    Raises:
        ValueError: for a folder that does not exist or has no classes, a bad pattern, a bad
            face_box.

    Example:
    ```python
    config = config_for("faces", subject_pattern=r"^(P[0-9]+)_")
    config.name, config.class_names   # ('faces-3f2a9c1e07b4', ('angry', 'happy', 'sad'))
    ```
    """
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"folder must be an existing folder. Received: folder={str(folder)!r}")
    _compile(subject_pattern)
    if face_box not in FACE_BOXES:
        raise ValueError(f"face_box must be one of {FACE_BOXES}. Received: face_box={face_box!r}")
    layout, _, names = scan(manual.Tree(path), path)
    key = json.dumps([str(path), subject_pattern, face_box, layout, names])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9]+", "_", path.name.lower()).strip("_")[:32] or "folder"
    subjects = f"; subject ids from {subject_pattern!r}" if subject_pattern else ""
    return ImageFolderConfig(
        name=f"{slug}-{digest}",
        description=f"Images below {path} ({len(names)} classes{subjects}).",
        folder=str(path),
        subject_pattern=subject_pattern,
        face_box=face_box,
        layout=layout,
        class_names=tuple(names),
    )


def _explicit_manual_dir(dl_manager) -> Path | None:
    """The manual_dir the user gave, or None (none given, or TFDS's default downloads/manual)."""
    try:
        given = Path(os.fspath(dl_manager.manual_dir))
    except (AssertionError, OSError, ValueError):
        return None
    default = getattr(dl_manager, "_download_dir", None)
    if default is not None and given == Path(os.fspath(default)) / "manual":
        return None
    return given


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for a user's folder of labelled images (a config per folder)."""

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
        carve_validation=0.1,
        has_subjects=False,  # an instance made with a subject_pattern says True
        source="the folder's split folders when it has them, else ferzoo's 8:1:1",
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    Sort your images into one folder per class (`happy/img1.jpg`, `sad/img2.png`, ...), or into
    split folders of class folders (`train/happy/...`, `test/happy/...`; `val/` or
    `validation/` too), and pass that folder: `ferzoo ... --dataset image_folder --manual-dir
    DIR`, or in Python `tfds.builder("image_folder", config=config_for(DIR))` with
    `config_for` from datasets/image_folder/image_folder_dataset_builder.py.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if getattr(self.builder_config, "subject_pattern", None):
            self.PROTOCOL_FACTS = dataclasses.replace(type(self).PROTOCOL_FACTS, has_subjects=True)

    def _info(self) -> tfds.core.DatasetInfo:
        names = getattr(self.builder_config, "class_names", ())
        return manual.dataset_info(self, names, channels=3)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        if not getattr(config, "folder", ""):
            raise ValueError(
                "image_folder needs a config made from your folder: "
                "tfds.builder('image_folder', config=config_for(folder, subject_pattern)) "
                "(config_for is in datasets/image_folder/image_folder_dataset_builder.py). "
                f"Received: config={config}"
            )
        folder = Path(config.folder)
        given = _explicit_manual_dir(dl_manager)
        if given is not None and given.resolve() != folder:
            raise ValueError(
                f"manual_dir {given} is not the folder of config {config.name!r} ({folder}); make "
                f"the config with config_for(manual_dir). Received: manual_dir={str(given)!r}"
            )
        if not folder.is_dir():
            raise manual.ManualDataError(f"{self.name}: the folder {folder} no longer exists.")
        tree = manual.Tree(folder)
        layout, by_split, names = scan(tree, folder)
        if (layout, tuple(names)) != (config.layout, tuple(config.class_names)):
            raise manual.ManualDataError(
                f"{self.name}: {folder} now has the {layout} layout with classes {names}, not "
                f"the {config.layout} layout with {list(config.class_names)} of config "
                f"{config.name!r}; make a new config with config_for(folder)."
            )
        pattern = _compile(config.subject_pattern)
        self._check_pattern_matches(tree, folder, pattern)
        outside = manual.sorted_images(tree.files(folder))
        if layout == "splits":
            outside += [f for d in tree.dirs(folder) for f in manual.sorted_images(tree.files(d))]
        report = manual.SkipReport(self.name)
        for path in outside:
            report.skip(path.relative_to(folder).as_posix(), "not inside a class folder")
        report.summarize()
        return {  # train, validation, test: in this order
            split: self._generate_examples(tree, folder, class_dirs, pattern)
            for split, class_dirs in by_split.items()
        }

    def _check_pattern_matches(self, tree: manual.Tree, folder: Path, pattern) -> None:
        if pattern is None:
            return
        files = images_below(tree, folder)
        if not any(subject_of(pattern, f.name) for f in files):
            examples = ", ".join(f.name for f in files[:5])
            raise manual.ManualDataError(
                f"{self.name}: subject_pattern {pattern.pattern!r} matches none of the "
                f"{len(files)} file names below {folder} (e.g. {examples})."
            )

    def _generate_examples(self, tree: manual.Tree, root: Path, class_dirs: list[Path], pattern):
        report = manual.SkipReport(self.name)
        for class_dir in class_dirs:
            for path in images_below(tree, class_dir):
                relative = path.relative_to(root).as_posix()
                subject = subject_of(pattern, path.name)
                if subject is None:
                    report.skip(
                        relative, f"name does not match subject_pattern {pattern.pattern!r}"
                    )
                    continue
                decoded = report.read(path, channels=3, name=relative)
                if decoded is None:
                    continue
                yield (
                    relative,
                    manual.example(
                        decoded,
                        label=class_dir.name,
                        filename=relative,
                        subject_id=subject,
                        face_box=self.builder_config.face_box,  # "detect" or "full"
                    ),
                )
        report.summarize()
