"""FER2013 (and its FER+ relabelling), read from a manual download.

FER2013 as distributed by Kaggle (`fer2013.tar.gz` -> `fer2013/fer2013.csv`; the competition's
zip holds the same rows as `icml_face_data.csv`, columns `emotion, Usage, pixels`):

    emotion,pixels,Usage
    0,70 80 82 72 58 58 60 63 54 58 60 48 89 115 121 ...,Training

35,887 rows: `emotion` 0-6 (angry, disgust, fear, happy, sad, surprise, neutral), `pixels` the
2,304 values of a 48x48 grayscale face in row-major order, `Usage` Training (28,709), PublicTest
(3,589) or PrivateTest (3,589). The three are kept as the `train`, `validation` and `test`
splits. The widespread folder re-upload (Kaggle `msambare/fer2013`:
`train/<class>/Training_3908.jpg`, `test/<class>/PublicTest_94416517.jpg` and
`PrivateTest_...jpg`, class folders angry, disgust, fear, happy, neutral, sad, surprise) is read
when no CSV is found: `train/` is the `train` split and `test/` is divided back by the file
name's prefix (PublicTest -> `validation`, PrivateTest or no prefix -> `test`), so both forms
give the distributed three splits.

Config `ferplus`: Microsoft's FER+ labels, `fer2013new.csv` (columns `Usage,Image name,neutral,
happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF`; ten crowd votes per row, the
rows in fer2013.csv's order). The label is the column with the most votes; a row is dropped when
its `Image name` is empty (FER+'s non-faces), when `unknown` or `NF` has the most votes, or when
two or more columns tie for the most votes (no order-based tie break: it would favour neutral,
the first column and the largest class). Config `ferplus_majority` uses FER+'s own "majority"
mode instead (`src/ferplus.py` of microsoft/FERPlus: single votes removed, then the top emotion
needs more than half of the remaining votes). Both keep `votes` (the 8 emotions' vote shares) and
`vote_counts` (the 10 raw counts) for soft-label training.

Faces are 48x48 crops already: `face_box` is the whole image. No subject ids (`subject_id` "").
`filename` is `fer2013.csv:<row>` (0-based data row), FER+'s `Image name` (`fer0000000.png`) in
the FER+ configs, or the path below the folder form's root. `usage` keeps the row's Usage.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from ferzoo.datasets import facts, folders, manual

logger = logging.getLogger("ferzoo.datasets")

CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # codes 0-6
FERPLUS_NAMES = (
    "neutral",
    "happiness",
    "surprise",
    "sadness",
    "anger",
    "disgust",
    "fear",
    "contempt",
)
FERPLUS_COLUMNS = ("Usage", "Image name", *FERPLUS_NAMES, "unknown", "NF")
USAGE_SPLITS = {"Training": "train", "PublicTest": "validation", "PrivateTest": "test"}
CSV_NAMES = ("fer2013.csv", "icml_face_data.csv")
FERPLUS_CSV = "fer2013new.csv"
SIDE = 48
USAGE_PREFIX = re.compile(r"^(Training|PublicTest|PrivateTest)_", re.IGNORECASE)
EXPECTED = (
    "`fer2013.csv` (columns emotion,pixels,Usage; or the competition's `icml_face_data.csv`), or "
    "the folder form `train/<class>/*.jpg` and `test/<class>/*.jpg` with class folders angry, "
    "disgust, fear, happy, neutral, sad, surprise"
)


@dataclasses.dataclass
class Fer2013Config(tfds.core.BuilderConfig):
    """Which labels to use.

    Attributes:
        labels: "fer2013" (the 7 original classes) or "ferplus" (FER+'s 8 classes).
        vote: FER+ only: "plurality" (the most votes, ties dropped) or "majority" (FER+'s own
            majority mode).
    """

    labels: str = "fer2013"
    vote: str = "plurality"


def ferplus_label(counts: Sequence[float], vote: str = "plurality") -> int | None:
    """The FER+ class of one row of votes (index into `FERPLUS_NAMES`), or None to drop it.

    Args:
        counts: the 10 vote counts in fer2013new.csv's column order (8 emotions, unknown, NF).
        vote: "plurality": the column with the most votes wins; a tie for the most votes, or
            `unknown`/`NF` winning, drops the row. "majority": FER+'s `_process_data` in
            majority mode: counts of 1 are removed as outliers, then the top column needs more
            than half of the remaining votes, and must be an emotion.

    Returns:
        The class index (0-7), or None when the row is dropped.

    Example:
        >>> ferplus_label([4, 0, 0, 1, 3, 2, 0, 0, 0, 0])  # neutral has the most votes
        0
        >>> ferplus_label([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], vote="majority")  # 4 of 9 votes
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.shape != (len(FERPLUS_NAMES) + 2,):
        raise ValueError(f"counts must hold 10 vote counts. Received: counts={counts.tolist()}")
    if vote == "majority":
        kept = np.where(counts > 1, counts, 0.0)
        top = int(np.argmax(kept))
        if kept[top] <= 0.5 * kept.sum() or top >= len(FERPLUS_NAMES):
            return None
        return top
    if vote != "plurality":
        raise ValueError(f"vote must be 'plurality' or 'majority'. Received: vote={vote!r}")
    winners = np.flatnonzero(counts == counts.max())
    if counts.max() <= 0 or len(winners) != 1 or winners[0] >= len(FERPLUS_NAMES):
        return None
    return int(winners[0])


def parse_pixels(text: str) -> np.ndarray | None:
    """A 48x48x1 uint8 face from FER2013's space-separated pixels, or None when malformed."""
    try:
        values = np.array(text.split(), dtype=np.int64)
    except ValueError:
        return None
    if values.size != SIDE * SIDE or values.min() < 0 or values.max() > 255:
        return None
    return values.astype(np.uint8).reshape(SIDE, SIDE, 1)


def _file_folder(names: Sequence[str]):
    wanted = {n.lower() for n in names}
    return lambda tree, folder: any(f.name.lower() in wanted for f in tree.files(folder))


def _find_file(data: manual.ManualData, names: Sequence[str]) -> Path | None:
    folder = data.find_optional(_file_folder(names))
    if folder is None:
        return None
    by_name = {f.name.lower(): f for f in data.tree_for(folder).files(folder)}
    return next(by_name[n.lower()] for n in names if n.lower() in by_name)


def is_folder_form(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder holding `train/` and `test/` folders of class folders."""
    splits = {
        folders.split_of(d.name)
        for d in tree.dirs(folder)
        if len(folders.class_dirs(tree, d, CLASS_NAMES)) >= 2
    }
    return {"train", "test"} <= splits


def _open_csv(path: Path) -> Iterator[list[str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        yield from csv.reader(handle)


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for FER2013 and FER+ (manual download)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "face_landmarks (five points, (y, x) in [0, 1], all -1 where none) beside "
        "face_box; faces found by YuNet unless built with --detector haar; the detector and "
        "its version in the metadata.",
    }
    BUILDER_CONFIGS = [
        Fer2013Config(name="original", description="FER2013's own 7 classes."),
        Fer2013Config(
            name="ferplus",
            description="FER+ labels, 8 classes by the most votes (ties and unknown/NF dropped).",
            labels="ferplus",
        ),
        Fer2013Config(
            name="ferplus_majority",
            description="FER+ labels, 8 classes by FER+'s own majority mode.",
            labels="ferplus",
            vote="majority",
        ),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "original"
    PROTOCOL_FACTS = facts.ProtocolFacts(
        official_splits=True,
        carve_validation=0.1,
        has_subjects=False,
        source="FER2013's Usage column: Training / PublicTest / PrivateTest",
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    FER2013 is on Kaggle (a free account is needed):
    https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge/data
    Put `fer2013.tar.gz` (or the extracted `fer2013/fer2013.csv`, or the competition zip with
    `icml_face_data.csv`) anywhere in manual_dir. The folder re-upload
    https://www.kaggle.com/datasets/msambare/fer2013 (`archive.zip` with `train/<class>/` and
    `test/<class>/` JPEGs) is read too, for the `original` config only. For the FER+ configs
    also put `fer2013new.csv` from https://github.com/microsoft/FERPlus in manual_dir.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        metadata = {"usage": tfds.features.Text()}
        names = CLASS_NAMES
        if self.builder_config.labels == "ferplus":
            names = FERPLUS_NAMES
            metadata["votes"] = tfds.features.Tensor(shape=(8,), dtype=np.float32)
            metadata["vote_counts"] = tfds.features.Tensor(shape=(10,), dtype=np.int32)
        homepage = (
            "https://www.kaggle.com/c/challenges-in-representation-learning-facial-"
            "expression-recognition-challenge"
        )
        return manual.dataset_info(self, names, channels=1, metadata=metadata, homepage=homepage)

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        config = self.builder_config
        if config.labels not in ("fer2013", "ferplus"):
            raise ValueError(f"labels must be 'fer2013' or 'ferplus'. Received: {config.labels!r}")
        data = manual.ManualData.of(self, dl_manager)
        csv_path = _find_file(data, CSV_NAMES)
        if csv_path is None and config.labels == "ferplus":
            raise data.layout_error(
                "`fer2013.csv` (FER+'s `fer2013new.csv` rows are aligned with its rows; the "
                "folder form cannot be matched to them)"
            )
        if csv_path is None:
            root = data.find(is_folder_form, expected=EXPECTED)
            return self._folder_generators(data, data.tree_for(root), root)
        votes = None
        if config.labels == "ferplus":
            votes = _find_file(data, [FERPLUS_CSV])
            if votes is None:
                raise data.layout_error(
                    f"FER+'s `{FERPLUS_CSV}` (https://github.com/microsoft/FERPlus) beside "
                    f"{csv_path.name}"
                )
        self._check_header(data, csv_path)
        return {
            split: self._generate_examples(csv_path, usage, votes)
            for usage, split in USAGE_SPLITS.items()
        }

    def _check_header(self, data: manual.ManualData, path: Path) -> None:
        header = [c.strip() for c in next(iter(_open_csv(path)), [])]
        if not {"emotion", "pixels", "Usage"} <= set(header):
            raise data.layout_error(
                f"a FER2013 CSV with the columns emotion,pixels,Usage ({path.name} has "
                f"{','.join(header) or 'no header'})"
            )

    def _generate_examples(self, path: Path, usage: str, votes: Path | None):
        """Yields the rows of one Usage from fer2013.csv (with FER+'s votes when given)."""
        report = manual.SkipReport(self.name)
        rows = _open_csv(path)
        header = [c.strip() for c in next(rows)]
        column = {name: header.index(name) for name in ("emotion", "pixels", "Usage")}
        vote_rows = self._vote_rows(votes) if votes is not None else None
        dropped = 0
        for index, row in enumerate(rows):
            vote_row = next(vote_rows, None) if vote_rows is not None else None
            if vote_rows is not None and vote_row is None:
                raise manual.ManualDataError(
                    f"{self.name}: {FERPLUS_CSV} has fewer rows than {path.name} (it ends "
                    f"before data row {index}); the two files must be aligned row by row."
                )
            row_usage = row[column["Usage"]].strip() if len(row) == len(header) else None
            if row_usage not in USAGE_SPLITS:
                if usage == "Training":  # report each bad row once, in the first split
                    reason = (
                        f"has {len(row)} fields, not {len(header)}"
                        if row_usage is None
                        else f"unknown Usage {row_usage!r}"
                    )
                    report.skip(f"{path.name}:{index}", reason)
                continue
            if vote_row is not None:
                self._check_aligned(vote_row, row_usage, path, index)
            if row_usage != usage:
                continue
            example = self._example(path, index, row, column, report)
            if example is None:
                continue
            if vote_row is not None and not self._add_votes(example, vote_row):
                dropped += 1
                continue
            yield index, example
        if vote_rows is not None and next(vote_rows, None) is not None:
            raise manual.ManualDataError(
                f"{self.name}: {FERPLUS_CSV} has more rows than {path.name}; the two files "
                "must be aligned row by row."
            )
        if dropped:
            logger.info("%s: %s: %d FER+ rows dropped by the vote", self.name, usage, dropped)
        report.summarize()

    def _example(self, path: Path, index: int, row: list[str], column: dict, report):
        name = f"{path.name}:{index}"
        try:
            code = int(row[column["emotion"]].strip())
        except ValueError:
            code = -1
        if not 0 <= code < len(CLASS_NAMES):
            report.skip(name, f"emotion {row[column['emotion']]!r} is not a code 0-6")
            return None
        image = parse_pixels(row[column["pixels"]])
        if image is None:
            report.skip(name, f"pixels are not {SIDE * SIDE} values in 0-255")
            return None
        return manual.example(  # no subject ids; already 48x48 face crops: the full box
            manual.DecodedImage(image),
            label=CLASS_NAMES[code],
            filename=name,
            usage=row[column["Usage"]].strip(),
        )

    def _vote_rows(self, path: Path) -> Iterator[list[str]]:
        rows = _open_csv(path)
        header = [c.strip() for c in next(rows, [])]
        if tuple(header) != FERPLUS_COLUMNS:
            raise manual.ManualDataError(
                f"{self.name}: {path} does not look like FER+'s {FERPLUS_CSV}: expected the "
                f"columns {','.join(FERPLUS_COLUMNS)}, found {','.join(header) or 'nothing'}."
            )
        yield from rows

    def _check_aligned(self, vote_row: list[str], usage: str, path: Path, index: int) -> None:
        if len(vote_row) != len(FERPLUS_COLUMNS) or vote_row[0].strip() != usage:
            raise manual.ManualDataError(
                f"{self.name}: {FERPLUS_CSV} data row {index} ({','.join(vote_row)[:80]}) does "
                f"not match {path.name} data row {index} (Usage {usage}): the files must be "
                "aligned row by row, as distributed."
            )

    def _add_votes(self, example: dict, vote_row: list[str]) -> bool:
        """Sets the FER+ label and votes on `example`; False when the vote drops the row."""
        image_name = vote_row[1].strip()
        try:
            counts = np.array([float(v) for v in vote_row[2:]], dtype=np.float64)
        except ValueError:
            counts = np.zeros(len(FERPLUS_COLUMNS) - 2)
        label = ferplus_label(counts, self.builder_config.vote)
        if not image_name or label is None:
            return False
        emotions = counts[: len(FERPLUS_NAMES)]
        example["label"] = FERPLUS_NAMES[label]
        example["filename"] = image_name
        example["votes"] = (emotions / emotions.sum()).astype(np.float32)
        example["vote_counts"] = counts.round().astype(np.int32)
        return True

    def _folder_generators(self, data: manual.ManualData, tree: manual.Tree, root: Path):
        files: dict[str, list[tuple[Path, str, str]]] = {}
        for split, split_dirs in folders.split_folders(tree, root).items():
            for folder in split_dirs:
                classes = folders.class_folders(
                    data,
                    tree,
                    folder,
                    sorted(CLASS_NAMES),
                    holder="FER2013 split folders",
                    where=f"{folder.name}/",
                )
                for class_dir, label in classes:
                    for path in manual.sorted_images(tree.files(class_dir)):
                        match = USAGE_PREFIX.match(path.name)
                        usage = match.group(1) if match else ""
                        target = split
                        if split == "test" and usage.lower() == "publictest":
                            target = "validation"  # the folder form merged PublicTest into test/
                        files.setdefault(target, []).append((path, label, usage))
        return {
            split: self._generate_folder_examples(root, files[split])
            for split in folders.SPLIT_ALIASES
            if split in files
        }

    def _generate_folder_examples(self, root: Path, files: list[tuple[Path, str, str]]):
        report = manual.SkipReport(self.name)
        for path, label, usage in files:
            relative = path.relative_to(root).as_posix()
            decoded = report.read(path, channels=1, name=relative)
            if decoded is not None:
                yield relative, manual.example(decoded, label=label, filename=relative, usage=usage)
        report.summarize()
