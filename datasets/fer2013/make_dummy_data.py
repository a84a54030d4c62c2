"""Writes datasets/fer2013/dummy_data/ (the CSVs) and folders/dummy_data/ (the folder re-upload):
random pixels, never real faces.

    python datasets/fer2013/make_dummy_data.py

dummy_data/ is what `fer2013.tar.gz` extracts to (`fer2013/fer2013.csv` and its `README`) with
FER+'s `fer2013new.csv` beside it: 12 rows in the real columns, one with 2,303 pixels (must be
skipped and reported), and FER+ votes that exercise every rule: a clear winner, a tie, an empty
`Image name` (a non-face), `unknown` winning, and rows that the plurality keeps but FER+'s
majority mode drops. FER+ names count the named rows only, as in the real file (the empty-name
row takes no number). folders/dummy_data/ is the Kaggle `msambare/fer2013` layout:
`train/<class>/Training_<n>.jpg`, `test/<class>/PublicTest_<n>.jpg` and `PrivateTest_<n>.jpg`,
with a corrupt JPEG.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ferzoo.datasets import dummy

HERE = Path(__file__).resolve().parent
SIDE = 48

# (emotion, Usage, FER+ votes: neutral happiness surprise sadness anger disgust fear contempt
# unknown NF, FER+ named?) ; the comment says what each FER+ vote rule does with the row.
ROWS = [
    (0, "Training", (4, 0, 0, 1, 3, 2, 0, 0, 0, 0), True),  # plurality neutral; majority drops
    (3, "Training", (0, 10, 0, 0, 0, 0, 0, 0, 0, 0), True),  # happiness
    (6, "Training", (4, 0, 0, 4, 1, 0, 0, 0, 1, 0), True),  # tie: dropped
    (2, "Training", (0, 0, 0, 0, 0, 0, 7, 0, 3, 0), True),  # corrupt pixels: skipped
    (5, "Training", (0, 0, 0, 0, 0, 0, 0, 0, 0, 10), False),  # not a face: no Image name
    (4, "Training", (1, 0, 0, 2, 0, 0, 0, 0, 6, 1), True),  # unknown wins: dropped
    (1, "Training", (0, 0, 0, 0, 2, 7, 0, 1, 0, 0), True),  # disgust
    (5, "PublicTest", (0, 0, 9, 0, 0, 0, 1, 0, 0, 0), True),  # surprise
    (0, "PublicTest", (3, 0, 0, 0, 5, 0, 0, 2, 0, 0), True),  # plurality anger; majority drops
    (3, "PrivateTest", (0, 8, 0, 0, 0, 0, 0, 2, 0, 0), True),  # happiness
    (6, "PrivateTest", (0, 0, 0, 0, 0, 0, 0, 6, 0, 4), True),  # contempt
    (2, "PrivateTest", (2, 0, 0, 3, 0, 0, 5, 0, 0, 0), True),  # plurality fear; majority drops
]
CORRUPT_ROW = 3
FERPLUS_HEADER = (
    "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
)

FOLDER_FILES = [
    "train/angry/Training_3908.jpg",
    "train/angry/Training_10118481.jpg",
    "train/happy/Training_1206.jpg",
    "train/neutral/Training_2913.jpg",
    "train/surprise/Training_364963.jpg",
    "test/happy/PublicTest_94416517.jpg",
    "test/angry/PrivateTest_1054527.jpg",
    "test/disgust/PrivateTest_807646.jpg",
]
FOLDER_CORRUPT = "train/sad/Training_318555.jpg"


def make_csv(out: Path, rng: np.random.Generator) -> None:
    (dummy.fresh(out) / "fer2013").mkdir(parents=True)
    (out / "fer2013" / "README").write_text("Dummy FER2013 for ferzoo's tests: random pixels.\n")
    with open(out / "fer2013" / "fer2013.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["emotion", "pixels", "Usage"])
        for index, (emotion, usage, _, _) in enumerate(ROWS):
            count = SIDE * SIDE - (index == CORRUPT_ROW)
            pixels = " ".join(str(v) for v in rng.integers(0, 256, count).tolist())
            writer.writerow([emotion, pixels, usage])
    lines, number = [FERPLUS_HEADER], 0
    for _, usage, votes, named in ROWS:
        name = f"fer{number:07d}.png" if named else ""
        number += named
        lines.append(",".join([usage, name, *map(str, votes)]))
    (out / "fer2013new.csv").write_text("\n".join(lines) + "\n")


def main() -> None:
    rng = np.random.default_rng(0)
    make_csv(HERE / "dummy_data", rng)
    dummy.write_layout(
        HERE / "folders" / "dummy_data", FOLDER_FILES, (SIDE, SIDE), rng, corrupt=FOLDER_CORRUPT
    )


if __name__ == "__main__":
    main()
