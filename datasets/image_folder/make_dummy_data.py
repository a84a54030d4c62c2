"""Writes datasets/image_folder/dummy_data/ (split folders) and flat/dummy_data/ (class folders
only): random pixels, never real faces.

    python datasets/image_folder/make_dummy_data.py

The split layout uses `train/`, `val/` and `test/` with three classes, an image one level deeper
inside a class folder (`happy/session2/`), PNG and JPEG in either case, a corrupt JPEG, a file
whose name the subject pattern `^(P[0-9]+)_` does not match, an image outside any class folder
(reported), a `.DS_Store` and a non-image file (ignored). Subjects P01-P05 appear in the names.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = (36, 28)  # (height, width)

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


def _write(out: Path, names: list[str], corrupt: str, rng: np.random.Generator) -> None:
    if out.exists():
        shutil.rmtree(out)
    for name in names:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (*SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(
            path, format="PNG" if name.lower().endswith(".png") else "JPEG"
        )
    (out / corrupt).write_bytes(b"\xff\xd8\xff\xdb truncated")


def main() -> None:
    rng = np.random.default_rng(0)
    split_out = HERE / "dummy_data"
    _write(split_out, SPLIT_LAYOUT, SPLIT_CORRUPT, rng)
    (split_out / "README.txt").write_text("Dummy image folder for ferzoo's tests.\n")
    (split_out / "train" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    _write(HERE / "flat" / "dummy_data", FLAT_LAYOUT, FLAT_CORRUPT, rng)


if __name__ == "__main__":
    main()
