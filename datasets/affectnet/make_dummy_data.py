"""Writes datasets/affectnet/dummy_data/: random pixels in AffectNet's layout, never real faces.

    python datasets/affectnet/make_dummy_data.py

    Manually_Annotated_file_lists/training.csv, validation.csv
    Manually_Annotated_Images/<n>/<56 hex digits>.jpg

Quirks reproduced: the documented example path (`689/737db...ca.jpg`), the real columns with
the landmarks as 136 `;`-separated numbers, rows coded none (8), uncertain (9) and no-face (10)
with valence and arousal -2 as in the real lists, a `.png` and an upper-case `.JPG`, a face
rectangle reaching past the image (must be clipped), a listed image missing from the folder and
a corrupt JPEG (both skipped and reported).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ferzoo.datasets import dummy

HERE = Path(__file__).resolve().parent
HEADER = (
    "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,"
    "valence,arousal"
).split(",")
SIZE = (30, 40)  # (height, width); the real images vary, from about 130 px up

# (path, (x, y, w, h), expression, valence, arousal, what the builder does with it)
TRAINING = [
    (
        "689/737db2483489148d783ef278f43f486c0a97e140fc4b6b61b84363ca.jpg",
        (5, 4, 20, 22),
        1,
        0.785714,
        -0.055556,
    ),  # happy
    (
        "12/0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5.jpg",
        (8, 2, 24, 24),
        0,
        -0.017,
        0.004,
    ),  # neutral
    (
        "12/1f2e3d4c5b6a79880796a5b4c3d2e1f01f2e3d4c5b6a79880796a5b4.png",
        (0, 0, 40, 30),
        4,
        -0.35,
        0.82,
    ),  # fear, a PNG
    (
        "305/a9b8c7d6e5f40312a9b8c7d6e5f40312a9b8c7d6e5f40312a9b8c7d6.JPG",
        (30, 20, 20, 20),
        3,
        0.2,
        0.9,
    ),  # surprise; the box reaches past the right and bottom edges
    (
        "305/b1c2d3e4f5061728b1c2d3e4f5061728b1c2d3e4f5061728b1c2d3e4.jpg",
        (2, 2, 30, 25),
        7,
        -0.5,
        0.4,
    ),  # contempt (dropped by config 7)
    (
        "48/c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00.jpg",
        (4, 4, 20, 20),
        8,
        -2,
        -2,
    ),  # none: dropped
    (
        "48/d00dfeedd00dfeedd00dfeedd00dfeedd00dfeedd00dfeedd00dfeed.jpg",
        (4, 4, 20, 20),
        9,
        -2,
        -2,
    ),  # uncertain: dropped
    (
        "48/e1e2e3e4e5e6e7e8e1e2e3e4e5e6e7e8e1e2e3e4e5e6e7e8e1e2e3e4.jpg",
        (0, 0, 0, 0),
        10,
        -2,
        -2,
    ),  # no-face: dropped
    (
        "689/f00f00f00f00f00f00f00f00f00f00f00f00f00f00f00f00f00f00f0.jpg",
        (3, 3, 20, 20),
        6,
        -0.6,
        0.7,
    ),  # anger, corrupt
    (
        "689/0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de.jpg",
        (3, 3, 20, 20),
        2,
        -0.7,
        -0.2,
    ),  # sad, listed but missing
]
VALIDATION = [
    (
        "1024/1234abcd1234abcd1234abcd1234abcd1234abcd1234abcd1234abcd.jpg",
        (6, 3, 22, 22),
        2,
        -0.62,
        -0.12,
    ),  # sad
    (
        "1024/5678ef015678ef015678ef015678ef015678ef015678ef015678ef01.jpg",
        (1, 1, 28, 28),
        5,
        -0.66,
        0.41,
    ),  # disgust
    (
        "77/9abc23459abc23459abc23459abc23459abc23459abc23459abc2345.jpg",
        (4, 2, 25, 26),
        7,
        -0.3,
        0.2,
    ),  # contempt
]
CORRUPT = "689/f00f00f00f00f00f00f00f00f00f00f00f00f00f00f00f00f00f00f0.jpg"
MISSING = "689/0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de0badc0de.jpg"


def _landmarks(rng: np.random.Generator) -> str:
    return ";".join(f"{v:.2f}" for v in rng.uniform(0, 30, 136))


def _write(path: Path, rows: list, images: Path, rng: np.random.Generator) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for relative, (x, y, w, h), code, valence, arousal in rows:
            writer.writerow([relative, x, y, w, h, _landmarks(rng), code, valence, arousal])
            if relative == CORRUPT:
                dummy.write_bytes(images / relative, dummy.CORRUPT_JPEG)
            elif relative != MISSING:
                dummy.write_image(images / relative, dummy.noise(rng, (*SIZE, 3)))


def main() -> None:
    rng = np.random.default_rng(0)
    out = dummy.fresh(HERE / "dummy_data")
    lists = out / "Manually_Annotated_file_lists"
    lists.mkdir(parents=True)
    images = out / "Manually_Annotated_Images"
    _write(lists / "training.csv", TRAINING, images, rng)
    _write(lists / "validation.csv", VALIDATION, images, rng)


if __name__ == "__main__":
    main()
