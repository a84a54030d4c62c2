"""Writes datasets/fesr/dummy_data/ (split layout) and flat/dummy_data/ (class folders only):
random pixels, never real faces.

    python datasets/fesr/make_dummy_data.py

FESR's Kaggle layout is not documented, so both accepted layouts are covered, with split and
class folder names in mixed case (`val`, `Test`, `Joy`, `BORED`), JPEG and PNG, the same file
name in two class folders, and one corrupt image that must be skipped and reported.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
SIZE = 32  # the real crops are 224x224; tiny keeps the repository small

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


def _write(out: Path, names: list[str], corrupt: str, rng: np.random.Generator) -> None:
    if out.exists():
        shutil.rmtree(out)
    for name in names:
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(
            path, format="PNG" if name.lower().endswith(".png") else "JPEG"
        )
    (out / corrupt).write_bytes(b"\xff\xd8\xff\xdb truncated")


def main() -> None:
    rng = np.random.default_rng(0)
    _write(HERE / "dummy_data", SPLIT_LAYOUT, SPLIT_CORRUPT, rng)
    _write(HERE / "flat" / "dummy_data", FLAT_LAYOUT, FLAT_CORRUPT, rng)


if __name__ == "__main__":
    main()
