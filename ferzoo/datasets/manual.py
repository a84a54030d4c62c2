"""Shared helpers for the manual-download TFDS builders (CK+, JAFFE, KDEF, FESR, FER2013, ...).

The licensed datasets cannot be downloaded by code: the user requests them, then puts the archive as
distributed (.zip, .tar, .tar.gz, .tgz, .tar.bz2) or its extracted folder anywhere below
`manual_dir`. A builder then:

    data = ManualData.of(self, dl_manager)      # self: the builder, in _split_generators
    root = data.find(is_jaffe_folder, expected="a folder of JAFFE TIFFs such as KA.AN1.39.tiff")
    report = SkipReport("jaffe")
    decoded = report.read(path, channels=1)     # None (and reported) for a corrupt file
    yield path.name, example(decoded, label="happy", filename=path.name, face_box="detect")
    ...
    report.summarize()

`dataset_info` is every builder's `_info`; `ferzoo.datasets.folders` reads class-folder layouts.

Bad input gives a short `ManualDataError` (an `AssertionError`, like the one TFDS raises for a
missing manual_dir) whose message holds the instructions, or says what was expected and what was
found; a corrupt image is skipped and reported, never fatal.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("ferzoo.datasets")

#: File extensions (lower case) read as images. Anything else in a dataset folder is ignored.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
#: Archive suffixes (lower case) that are extracted when the dataset is not found as a folder.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz")
#: The box of the whole image, for datasets that are face crops already (CK+48, FESR).
FULL_BOX = (0.0, 0.0, 1.0, 1.0)
# Folders that archives made on macOS or Windows add, and that never hold data.
_JUNK_DIRS = frozenset({"__macosx", ".ds_store", "@eadir"})
_MAX_DEPTH = 8  # how deep below manual_dir (or an extracted archive) the dataset is searched for
_MAX_ARCHIVE_DEPTH = 2  # archives inside archives are extracted too, this many levels deep


class ManualDataError(AssertionError):
    """The manual_dir is missing or empty, or does not hold the dataset in a layout we read.

    It subclasses `AssertionError` because TFDS raises that for a missing manual_dir; the message is
    one short paragraph (plus the instructions), meant to be read, not debugged.
    """


# ---------------------------------------------------------------------------------------------
# Finding the dataset below manual_dir
# ---------------------------------------------------------------------------------------------


def is_hidden(name: str) -> bool:
    """True for names that are never data: dot files, AppleDouble `._x`, `__MACOSX`, Thumbs.db."""
    return name.startswith(".") or name.lower() in _JUNK_DIRS or name.lower() == "thumbs.db"


def is_image_file(name: str) -> bool:
    """True for a file name with an image extension, in either case (`.JPG`, `.tiff`, ...)."""
    return not is_hidden(name) and Path(name).suffix.lower() in IMAGE_EXTENSIONS


def is_archive(name: str) -> bool:
    """True for a file name with an archive suffix, in either case."""
    return not is_hidden(name) and name.lower().endswith(ARCHIVE_SUFFIXES)


class Tree:
    """An index of the folders below a root: `dirs(path)` and `files(path)` without new I/O.

    Hidden entries (dot files, `__MACOSX`) are left out. Symbolic links are followed, so a
    manual_dir that links to a dataset elsewhere works.
    """

    def __init__(self, root: Path, max_depth: int = _MAX_DEPTH):
        self.root = Path(root)
        self._dirs: dict[Path, list[str]] = {}
        self._files: dict[Path, list[str]] = {}
        base_depth = len(self.root.parts)
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True):
            path = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
            if len(path.parts) - base_depth >= max_depth:
                dirnames[:] = []
            self._dirs[path] = list(dirnames)
            self._files[path] = sorted(f for f in filenames if not is_hidden(f))

    def folders(self) -> list[Path]:
        """Every indexed folder, shallowest first (then by path), so the first match wins."""
        return sorted(self._dirs, key=lambda p: (len(p.parts), str(p)))

    def dirs(self, path: Path) -> list[Path]:
        """The sub-folders of `path` (an indexed folder)."""
        return [path / d for d in self._dirs.get(Path(path), [])]

    def files(self, path: Path) -> list[Path]:
        """The files directly in `path` (an indexed folder)."""
        return [path / f for f in self._files.get(Path(path), [])]

    def archives(self) -> list[Path]:
        """Every archive file below the root."""
        return [p / f for p in self.folders() for f in self._files[p] if is_archive(f)]

    def listing(self, limit: int = 12, depth: int = 3) -> list[str]:
        """The first entries below the root (relative, folders ending in '/'), for error messages."""
        entries = []
        for folder in self.folders():
            rel_depth = len(folder.parts) - len(self.root.parts)
            if rel_depth >= depth:
                continue
            rel = folder.relative_to(self.root)
            for d in self._dirs[folder]:
                entries.append(f"{(rel / d).as_posix()}/")
            for f in self._files[folder]:
                entries.append((rel / f).as_posix())
        entries.sort(key=lambda e: (e.count("/") - e.endswith("/"), e))
        more = f" ... ({len(entries) - limit} more)" if len(entries) > limit else ""
        return entries[:limit] + ([more.strip()] if more else [])


Predicate = Callable[[Tree, Path], bool]


def manual_root(dl_manager: Any, *, name: str, instructions: str) -> Path:
    """Returns `dl_manager.manual_dir`, or raises a short `ManualDataError` with the instructions.

    Args:
        dl_manager: the `tfds.download.DownloadManager` given to `_split_generators`.
        name: the dataset name, for the message.
        instructions: the builder's `MANUAL_DOWNLOAD_INSTRUCTIONS`.

    Returns:
        The manual_dir, an existing non-empty folder.
    """
    try:
        return Path(os.fspath(dl_manager.manual_dir))
    except (AssertionError, OSError):
        # TFDS raises AssertionError for a missing/empty folder, NotADirectoryError for a file.
        path = getattr(dl_manager, "_manual_dir", None)
        raise ManualDataError(
            f"{name}: the manual_dir {path} does not exist, is empty or is not a folder. "
            f"{name} is a licensed dataset that cannot be downloaded automatically; request it "
            "and put it in the manual_dir, then pass that folder with "
            f"`ferzoo data build {name} --manual-dir DIR` (or `--manual-dir DIR` on any "
            "ferzoo command) or "
            f"`ferzoo.data.load('{name}', manual_dir=DIR)`.\n\n"
            f"{_dedent(instructions)}"
        ) from None


class ManualData:
    """The contents of a manual_dir: finds the dataset's folders, extracting archives if needed.

    Folders already below manual_dir are searched first; only when a folder is not found there
    are the archives below manual_dir extracted (once, into the download manager's extract
    folder, reused on the next build) and searched.

    Args:
        dl_manager: the `tfds.download.DownloadManager` given to `_split_generators`.
        name: the dataset name, for messages.
        instructions: the builder's `MANUAL_DOWNLOAD_INSTRUCTIONS`.
        root: use this folder instead of `dl_manager.manual_dir` (then dl_manager may be None).

    Example:
    ```python
    data = ManualData(dl_manager, name="kdef", instructions=MANUAL_DOWNLOAD_INSTRUCTIONS)
    kdef_dir = data.find(is_kdef_folder, expected="the KDEF folder (AF01/AF01ANS.JPG, ...)")
    ```
    """

    def __init__(self, dl_manager: Any, *, name: str, instructions: str, root: Path | None = None):
        self.name = name
        self.instructions = instructions
        self.root = (
            Path(root)
            if root is not None
            else manual_root(dl_manager, name=name, instructions=instructions)
        )
        self._dl_manager = dl_manager
        self._trees = [Tree(self.root)]
        self._opened = 0  # self._trees[:_opened] have had their archives extracted
        self._archive_depth = 0

    @classmethod
    def of(cls, builder: Any, dl_manager: Any) -> ManualData:
        """The manual_dir of `builder` (named after it, with its MANUAL_DOWNLOAD_INSTRUCTIONS)."""
        return cls(dl_manager, name=builder.name, instructions=builder.MANUAL_DOWNLOAD_INSTRUCTIONS)

    def find_optional(self, predicate: Predicate) -> Path | None:
        """The shallowest folder below manual_dir for which `predicate(tree, folder)` holds.

        The folders already there are searched first, then those of the archives below
        manual_dir, then those of archives inside the extracted archives (RAF-DB's
        `basic/Image/aligned.zip`, FER2013's `fer2013.tar.gz` inside the Kaggle zip), at most
        `_MAX_ARCHIVE_DEPTH` levels deep.
        """
        searched = 0
        while True:
            for tree in self._trees[searched:]:
                found = _first(tree, predicate)
                if found is not None:
                    return found
            searched = len(self._trees)
            if not self._extract_next_level():
                return None

    def find(self, predicate: Predicate, *, expected: str) -> Path:
        """Like `find_optional`, but raises a `ManualDataError` saying what was expected/found."""
        found = self.find_optional(predicate)
        if found is None:
            raise self.layout_error(expected)
        return found

    def tree_for(self, path: Path) -> Tree:
        """The index that holds `path` (a folder returned by `find`)."""
        for tree in self._trees:
            if Path(path) == tree.root or tree.root in Path(path).parents:
                return tree
        return Tree(path)

    def layout_error(self, expected: str) -> ManualDataError:
        """A `ManualDataError` naming what was expected and listing what manual_dir holds."""
        found = "\n".join(f"  {e}" for e in self._trees[0].listing()) or "  (nothing readable)"
        archives = [a.name for a in self._trees[0].archives()]
        tried = f" Archives extracted and searched too: {', '.join(archives)}." if archives else ""
        return ManualDataError(
            f"{self.name}: could not find {expected} below the manual_dir {self.root}.{tried}\n"
            f"Found instead:\n{found}\n\n{_dedent(self.instructions)}"
        )

    def _extract_next_level(self) -> bool:
        """Extracts the archives of the trees not opened yet; False when nothing new came out."""
        if self._archive_depth >= _MAX_ARCHIVE_DEPTH or self._opened == len(self._trees):
            return False
        self._archive_depth += 1
        sources = self._trees[self._opened :]
        self._opened = len(self._trees)
        base = _extract_base(self._dl_manager) / f"ferzoo_{self.name}"
        added = []
        for tree in sources:
            for archive in tree.archives():
                if tree is self._trees[0]:
                    target = base / _archive_stem(archive)
                else:  # an archive inside an extracted one: name it after its path there
                    inner = archive.relative_to(tree.root).with_name(_archive_stem(archive))
                    target = base / f"{tree.root.name}__{inner.as_posix().replace('/', '__')}"
                try:
                    _extract(archive, target)
                except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError) as err:
                    logger.warning(
                        "%s: could not extract %s (%s); skipped", self.name, archive, err
                    )
                    continue
                added.append(Tree(target))
        self._trees.extend(added)
        return bool(added)


def _first(tree: Tree, predicate: Predicate) -> Path | None:
    for folder in tree.folders():
        if predicate(tree, folder):
            return folder
    return None


def _extract_base(dl_manager: Any) -> Path:
    extract_dir = getattr(dl_manager, "_extract_dir", None)
    if extract_dir is not None:
        return Path(os.fspath(extract_dir))
    return Path(tempfile.gettempdir()) / "ferzoo_extracted"


def _archive_stem(archive: Path) -> str:
    name = archive.name
    for suffix in sorted(ARCHIVE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] + "_" + suffix.strip(".").replace(".", "_")
    return name


def _extract(archive: Path, target: Path) -> None:
    """Extracts `archive` into `target` once; a marker file makes the next build reuse it."""
    done = target / ".ferzoo_extracted"
    if done.exists():
        return
    if target.exists():
        shutil.rmtree(target)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    logger.info("Extracting %s into %s", archive, target)
    if archive.name.lower().endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                dest = (partial / member.filename).resolve()
                if partial.resolve() not in dest.parents and dest != partial.resolve():
                    continue  # no writing outside the target ("zip slip")
                zf.extract(member, partial)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(partial, filter="data")
    partial.rename(target)
    done.touch()


def _dedent(text: str) -> str:
    import textwrap

    return textwrap.dedent(text).strip()


# ---------------------------------------------------------------------------------------------
# Decoding images
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DecodedImage:
    """An image read by `read_image`.

    Attributes:
        array: uint8 (height, width, channels).
        encoded: the file's own bytes when TensorFlow decodes them to exactly `array` (a PNG or
            JPEG already in the wanted mode), else None; storing them avoids a lossy re-encode.
    """

    array: np.ndarray
    encoded: bytes | None = None

    @property
    def feature(self) -> np.ndarray | bytes:
        """What to give `tfds.features.Image`: the original bytes when possible, else the array."""
        return self.encoded if self.encoded is not None else self.array


def read_image(path: str | os.PathLike, channels: int) -> DecodedImage | None:
    """Decodes an image file with Pillow; returns None when it is unreadable or corrupt.

    Handles TIFF (including palette-mode and 16-bit), PNG, JPEG and BMP, whatever the case of the
    extension; converts grayscale, palette, RGBA, CMYK to `channels` (1: grayscale, 3: RGB).

    Args:
        path: the image file.
        channels: 1 or 3, the number of channels of the returned array.

    Returns:
        A `DecodedImage`, or None when Pillow cannot read the file.

    Example:
    ```python
    decoded = read_image("jaffedbase/KA.AN1.39.tiff", channels=1)
    decoded.array.shape  # (256, 256, 1)
    ```
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3. Received: channels={channels}")
    from PIL import Image, UnidentifiedImageError

    try:
        data = Path(path).read_bytes()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt = img.format
            array = _to_channels(img, channels)
    except (OSError, ValueError, SyntaxError, UnidentifiedImageError, Image.DecompressionBombError):
        return None
    if array is None or array.size == 0:
        return None
    wanted_mode = "L" if channels == 1 else "RGB"
    passthrough = fmt in ("PNG", "JPEG") and img.mode == wanted_mode
    return DecodedImage(array=array, encoded=data if passthrough else None)


def _to_channels(img: Any, channels: int) -> np.ndarray | None:
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        # 16/32-bit grayscale: scale to 8 bits by the range the mode can hold.
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        # Composite on black rather than dropping alpha silently into odd colours.
        background = Image.new("RGBA", img.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, img.convert("RGBA"))
    img = img.convert("L" if channels == 1 else "RGB")
    arr = np.asarray(img, dtype=np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    return np.ascontiguousarray(arr)


# ---------------------------------------------------------------------------------------------
# Reporting what was skipped
# ---------------------------------------------------------------------------------------------


class SkipReport:
    """Collects the files a build skipped, logs each, and logs a summary at the end.

    Args:
        name: the dataset name, for the messages.

    Example:
    ```python
    report = SkipReport("jaffe")
    report.skip("KA.AN1.39.tiff", "cannot be decoded")
    report.summarize()  # WARNING jaffe: skipped 1 file(s) ...: KA.AN1.39.tiff (cannot be decoded)
    ```
    """

    def __init__(self, name: str):
        self.name = name
        self.skipped: list[tuple[str, str]] = []

    def skip(self, filename: str, reason: str) -> None:
        """Records one skipped file and logs a warning."""
        self.skipped.append((str(filename), reason))
        logger.warning("%s: skipping %s: %s", self.name, filename, reason)

    def read(
        self,
        path: str | os.PathLike,
        channels: int,
        name: str | None = None,
        reason: str = "cannot be decoded as an image",
    ) -> DecodedImage | None:
        """`read_image(path, channels)`; when it fails, records `name` (default: the file's name)."""
        decoded = read_image(path, channels)
        if decoded is None:
            self.skip(Path(path).name if name is None else name, reason)
        return decoded

    def __len__(self) -> int:
        return len(self.skipped)

    def summarize(self, limit: int = 50) -> str | None:
        """Logs and returns the summary line, or returns None when nothing was skipped."""
        if not self.skipped:
            return None
        shown = ", ".join(f"{f} ({r})" for f, r in self.skipped[:limit])
        more = f", ... and {len(self.skipped) - limit} more" if len(self.skipped) > limit else ""
        message = (
            f"{self.name}: skipped {len(self.skipped)} file(s) that could not be used: "
            f"{shown}{more}"
        )
        logger.warning(message)
        return message


def sorted_images(paths: Iterable[Path]) -> list[Path]:
    """The image files among `paths`, sorted by name (non-image files are ignored)."""
    return sorted((p for p in paths if is_image_file(p.name)), key=lambda p: p.name)


def full_box() -> np.ndarray:
    """The whole-image box [0, 0, 1, 1] (float32), for datasets that are face crops already."""
    return np.asarray(FULL_BOX, dtype=np.float32)


def face_features(image: np.ndarray | None, face_box: str | np.ndarray) -> dict[str, np.ndarray]:
    """`face_box` and `face_landmarks` of one example (see `example`)."""
    from ferzoo import face

    if isinstance(face_box, str):
        if face_box not in ("full", "detect"):
            raise ValueError(
                f"face_box must be 'full' or 'detect'. Received: face_box={face_box!r}"
            )
        if face_box == "detect":
            found = face.largest_face(image)
            return {"face_box": found.box, "face_landmarks": found.landmarks}
        face_box = full_box()
    return {"face_box": np.asarray(face_box, np.float32), "face_landmarks": face.NO_LANDMARKS}


def face_metadata() -> Any:
    """The dataset's `info.metadata`: the detector that finds its faces (`ferzoo.face.using`
    sets it; `ferzoo data build --detector`), its version and the crop margin."""
    import tensorflow_datasets as tfds

    from ferzoo import face

    return tfds.core.MetadataDict(**face.describe(), crop_margin=face.CROP_MARGIN)


def example(
    decoded: DecodedImage,
    *,
    label: str,
    filename: str,
    subject_id: str = "",
    face_box: str | np.ndarray = "full",
    **metadata: Any,
) -> dict[str, Any]:
    """One example with the feature set every ferzoo builder shares (docs/design.md).

    Args:
        decoded: the image (`read_image`'s result, or `DecodedImage(array)`).
        label: the class name.
        filename: the source file (or CSV row) the example comes from.
        subject_id: the subject, "" where the dataset records none.
        face_box: "full" (the whole image, for face crops), "detect" (`ferzoo.face.largest_face`
            with the detector in use: the largest face and its landmarks, or the centre-crop
            fallback) or a float32 [ymin, xmin, ymax, xmax]. Only "detect" gives landmarks;
            the others store `ferzoo.face.NO_LANDMARKS` (all -1).
        **metadata: the dataset's own features.
    """
    return {
        "image": decoded.feature,
        "label": label,
        "subject_id": subject_id,
        **face_features(decoded.array, face_box),
        "filename": filename,
        **metadata,
    }


def dataset_info(
    builder: Any,
    class_names: Iterable[str],
    *,
    channels: int,
    metadata: dict[str, Any] | None = None,
    homepage: str | None = None,
) -> Any:
    """A builder's `_info()`: the feature set every ferzoo builder shares (docs/design.md).

    Args:
        builder: the builder (its `dataset_info_from_configs` adds the config's description).
        class_names: the dataset's own class names, in label order.
        channels: 1 (grayscale) or 3 (RGB).
        metadata: extra per-dataset features, name -> `tfds.features.FeatureConnector`.
        homepage: the dataset's web page.

    Returns:
        A `tfds.core.DatasetInfo`: image, label, subject_id, face_box, face_landmarks (float32
        `(5, 2)`, normalized `(y, x)`; all -1 where none), filename and the metadata, with
        ("image", "label") as supervised keys, and `face_metadata()` as `info.metadata`.
    """
    import tensorflow_datasets as tfds

    features = {
        "image": tfds.features.Image(shape=(None, None, channels), dtype=np.uint8),
        "label": tfds.features.ClassLabel(names=list(class_names)),
        "subject_id": tfds.features.Text(),
        "face_box": tfds.features.Tensor(shape=(4,), dtype=np.float32),
        "face_landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
        "filename": tfds.features.Text(),
        **(metadata or {}),
    }
    return builder.dataset_info_from_configs(
        features=tfds.features.FeaturesDict(features),
        supervised_keys=("image", "label"),
        homepage=homepage,
        metadata=face_metadata(),
    )
