"""Writes datasets/raf_db/dummy_data/: random pixels in RAF-DB basic's layout, never real faces.

    python datasets/raf_db/make_dummy_data.py

    basic/EmoLabel/list_patition_label.txt
    basic/Image/aligned/train_00001_aligned.jpg ... test_0003_aligned.jpg
    basic/Image/original/train_00001.jpg ... test_0003.jpg

Quirks reproduced: the file's own spelling (`patition`), train names of 5 digits and test names
of 4, Windows line endings, a listed image that is missing from both folders, and a corrupt JPEG
(the aligned and the original of the same name) that must be skipped and reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferzoo.datasets import dummy

HERE = Path(__file__).resolve().parent
ALIGNED = 32  # the real aligned faces are 100x100; tiny keeps the repository small
ORIGINAL = (40, 56)  # (height, width); the real photographs vary

LISTED = [  # (name, code 1-7)
    ("train_00001.jpg", 5),
    ("train_00002.jpg", 4),
    ("train_00003.jpg", 1),
    ("train_00004.jpg", 7),  # corrupt
    ("train_00005.jpg", 6),
    ("train_00006.jpg", 2),  # listed, no image
    ("test_0001.jpg", 1),
    ("test_0002.jpg", 3),
    ("test_0003.jpg", 7),
]
CORRUPT = "train_00004"
MISSING = "train_00006"


def main() -> None:
    rng = np.random.default_rng(0)
    basic = dummy.fresh(HERE / "dummy_data") / "basic"
    (basic / "EmoLabel").mkdir(parents=True)
    lines = "".join(f"{name} {code}\r\n" for name, code in LISTED)
    (basic / "EmoLabel" / "list_patition_label.txt").write_bytes(lines.encode())
    for folder in ("aligned", "original"):
        (basic / "Image" / folder).mkdir(parents=True)
    for name, _ in LISTED:
        stem = name[: -len(".jpg")]
        if stem == MISSING:
            continue
        aligned = basic / "Image" / "aligned" / f"{stem}_aligned.jpg"
        original = basic / "Image" / "original" / name
        if stem == CORRUPT:
            dummy.write_bytes(aligned, dummy.CORRUPT_JPEG)
            dummy.write_bytes(original, dummy.CORRUPT_JPEG)
            continue
        dummy.write_image(aligned, dummy.noise(rng, (ALIGNED, ALIGNED, 3)))
        dummy.write_image(original, dummy.noise(rng, (*ORIGINAL, 3)))


if __name__ == "__main__":
    main()
