"""Writes datasets/image_folder/dummy_data/ (split folders) and flat/dummy_data/ (class folders
only): random pixels, never real faces.

    python datasets/image_folder/make_dummy_data.py

The split layout uses `train/`, `val/` and `test/` with three classes, an image one level deeper
inside a class folder (`happy/session2/`), PNG and JPEG in either case, a corrupt JPEG, a file
whose name the subject pattern `^(P[0-9]+)_` does not match, an image outside any class folder
(reported), a `.DS_Store` and a non-image file (ignored). Subjects P01-P05 appear in the names.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferzoo.datasets import dummy

HERE = Path(__file__).resolve().parent
SHAPE = (36, 28, 3)  # (height, width, channels)

SPLIT_LAYOUT = [
    "train/angry/P01_a.jpg",
    "train/angry/P02_b.PNG",
    "train/happy/P01_c.jpg",
    "train/happy/session2/P03_d.jpg",
    "train/sad/P02_e.JPG",
    "val/happy/P04_f.jpg",
    "val/sad/P04_g.jpg",
    "test/angry/P05_h.jpg",
    "test/happy/P05_i.png",
    "test/sad/IMG_0001.jpg",  # no subject in the name
    "train/P09_unsorted.jpg",  # not inside a class folder
]
SPLIT_CORRUPT = "train/sad/P03_corrupt.jpg"
FLAT_LAYOUT = [
    "angry/S1_1.jpg",
    "angry/S2_2.jpg",
    "happy/S1_3.jpg",
    "happy/S3_4.png",
    "sad/S2_5.jpg",
    "sad/S3_6.jpg",
]
FLAT_CORRUPT = "sad/S1_7.jpg"


def main() -> None:
    rng = np.random.default_rng(0)
    split_out = dummy.write_layout(
        HERE / "dummy_data", SPLIT_LAYOUT, SHAPE, rng, corrupt=SPLIT_CORRUPT
    )
    (split_out / "README.txt").write_text("Dummy image folder for ferzoo's tests.\n")
    dummy.write_bytes(split_out / "train" / ".DS_Store", dummy.DS_STORE)
    dummy.write_layout(HERE / "flat" / "dummy_data", FLAT_LAYOUT, SHAPE, rng, corrupt=FLAT_CORRUPT)


if __name__ == "__main__":
    main()
