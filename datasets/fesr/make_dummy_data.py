"""Writes datasets/fesr/dummy_data/ (split layout) and flat/dummy_data/ (class folders only):
random pixels, never real faces.

    python datasets/fesr/make_dummy_data.py

FESR's Kaggle layout is not documented, so both accepted layouts are covered, with split and
class folder names in mixed case (`val`, `Test`, `Joy`, `BORED`), JPEG and PNG, the same file
name in two class folders, and one corrupt image that must be skipped and reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferzoo.datasets import dummy

HERE = Path(__file__).resolve().parent
SHAPE = (32, 32, 3)  # the real crops are 224x224 RGB; tiny keeps the repository small

SPLIT_LAYOUT = [  # 6 / 2 / 2 readable images
    "FESR/train/Joy/0001.jpg",
    "FESR/train/Joy/0002.jpg",
    "FESR/train/surprise/0001.jpg",  # same name as in Joy/
    "FESR/train/neutral/0003.PNG",
    "FESR/train/BORED/0004.jpg",
    "FESR/train/upset/0005.jpg",
    "FESR/val/joy/0101.jpg",
    "FESR/val/Bored/0102.jpg",
    "FESR/Test/neutral/0201.jpg",
    "FESR/Test/Surprise/0202.jpg",
]
SPLIT_CORRUPT = "FESR/train/upset/0006.jpg"
FLAT_LAYOUT = [  # 6 readable images
    "FESR/Joy/0001.jpg",
    "FESR/Joy/0002.jpg",
    "FESR/surprise/0003.jpg",
    "FESR/Neutral/0004.png",
    "FESR/bored/0005.jpg",
    "FESR/UPSET/0006.jpg",
]
FLAT_CORRUPT = "FESR/bored/0007.jpg"


def main() -> None:
    rng = np.random.default_rng(0)
    dummy.write_layout(HERE / "dummy_data", SPLIT_LAYOUT, SHAPE, rng, corrupt=SPLIT_CORRUPT)
    dummy.write_layout(HERE / "flat" / "dummy_data", FLAT_LAYOUT, SHAPE, rng, corrupt=FLAT_CORRUPT)


if __name__ == "__main__":
    main()
