"""Writes datasets/kdef/dummy_data/: random pixels in the real KDEF layout, never real faces.

    python datasets/kdef/make_dummy_data.py

The layout and quirks of the real download: `KDEF_and_AKDEF/KDEF/<session+person>/` folders,
both sessions of two people (AF01/BF01, AM02/BM02), views with one letter (S) and two (HL, FR,
FL, HR), `.JPG` and `.jpg`, a `Thumbs.db`, and one corrupt JPEG that must be skipped and reported.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferzoo.datasets import dummy

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 24, 32  # the real images are 562x762 (portrait); tiny keeps the repository small

IMAGES = [  # 8 readable images, 4 of them straight (S)
    "AF01/AF01ANS.JPG",
    "AF01/AF01ANHL.JPG",
    "AF01/AF01HAFR.JPG",
    "BF01/BF01ANS.JPG",
    "BF01/BF01NEFL.jpg",  # lower-case extension
    "AM02/AM02SUS.JPG",
    "AM02/AM02AFHR.jpg",
    "BM02/BM02DIS.JPG",
]
CORRUPT = "BM02/BM02SAS.JPG"  # a JPEG header and nothing else


def main(out: Path = HERE / "dummy_data") -> None:
    rng = np.random.default_rng(0)
    kdef = dummy.fresh(out) / "KDEF_and_AKDEF" / "KDEF"
    for name in IMAGES:
        dummy.write_image(kdef / name, dummy.noise(rng, (HEIGHT, WIDTH, 3)), quality=75)
    (kdef / CORRUPT).write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    (kdef / "AF01" / "Thumbs.db").write_bytes(b"\x00" * 8)  # Windows thumbnail cache


if __name__ == "__main__":
    main()
