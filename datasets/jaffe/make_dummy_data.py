"""Writes datasets/jaffe/dummy_data/: random pixels in the real JAFFE layout, never real faces.

    python datasets/jaffe/make_dummy_data.py

The layout and quirks of the real download: a `jaffedbase/` folder of TIFFs named like
`KA.AN1.39.tiff` beside a README, one palette-mode TIFF, an upper-case `.TIFF` and a `.tif`, a
macOS `._` resource file, and one corrupt file that the builder must skip and report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ferzoo.datasets import dummy

HERE = Path(__file__).resolve().parent
SIZE = 32  # the real images are 256x256; tiny keeps the repository small

# (file name, Pillow mode): 7 readable images of 7 subjects, all 7 expressions.
IMAGES = [
    ("KA.AN1.39.tiff", "L"),
    ("KA.HA2.30.tiff", "P"),  # palette-mode TIFF, as some real ones are
    ("KL.NE1.155.TIFF", "L"),  # upper-case extension
    ("KM.SU3.16.tif", "L"),  # short extension
    ("NA.DI1.214.tiff", "L"),
    ("TM.FE2.191.tiff", "L"),
    ("YM.SA1.55.tiff", "L"),
]
CORRUPT = "UY.AN1.146.tiff"  # truncated: the builder skips and reports it


def main(out: Path = HERE / "dummy_data") -> None:
    rng = np.random.default_rng(0)
    folder = dummy.fresh(out) / "jaffedbase"
    for name, mode in IMAGES:
        image = Image.fromarray(dummy.noise(rng, (SIZE, SIZE)))
        if mode == "P":
            image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        dummy.write_image(folder / name, image)  # TIFF, by the extension
    dummy.write_bytes(folder / CORRUPT, dummy.CORRUPT_TIFF)
    (folder / "README").write_text("Dummy stand-in for the JAFFE README (random pixels only).\n")
    (folder / "._KA.AN1.39.tiff").write_bytes(b"\x00\x05\x16\x07")  # macOS AppleDouble file


if __name__ == "__main__":
    main()
