"""Writes datasets/ck_plus/dummy_data/ (CK+) and ck48/dummy_data/ (CK+48): random pixels in the
real layouts, never real faces.

    python datasets/ck_plus/make_dummy_data.py

CK+ quirks reproduced: `cohn-kanade-images/` and `Emotion/` side by side, labels as one float
("   3.0000000e+00") named after the sequence's last frame, an unlabelled sequence (its Emotion
folder is empty or absent), an RGB frame among grayscale ones, a `.DS_Store`, and a corrupt peak
frame that the builder must skip and report. CK+48: one folder per class of PNGs named like
`S010_004_00000017.png`, and a corrupt one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ferzoo.datasets import dummy

HERE = Path(__file__).resolve().parent
WIDTH, HEIGHT = 32, 24  # the real frames are mostly 640x490; tiny keeps the repository small

# (subject, sequence, number of frames, emotion code or None when unlabelled)
SEQUENCES = [
    ("S005", "001", 11, 3),  # disgust: the example of the dataset's documentation
    ("S010", "001", 5, None),  # unlabelled: must be ignored
    ("S010", "002", 6, 7),  # surprise; frame 5 is RGB
    ("S011", "001", 4, 1),  # anger; the last frame is corrupt
]
RGB_FRAME = "S010_002_00000005.png"
CORRUPT_FRAME = "S011_001_00000004.png"

# CK+48: (class folder, file name); one corrupt file.
CK48 = [
    ("anger", "S010_004_00000017.png"),
    ("contempt", "S138_008_00000007.png"),
    ("disgust", "S005_001_00000009.png"),
    ("fear", "S011_003_00000012.png"),
    ("happy", "S010_006_00000013.png"),
    ("happy", "S010_006_00000014.png"),
    ("sadness", "S011_002_00000021.png"),
    ("surprise", "S010_002_00000006.png"),
]
CK48_CORRUPT = ("surprise", "S011_001_00000016.png")


def make_ck(out: Path, rng: np.random.Generator) -> None:
    dummy.fresh(out)
    for subject, sequence, count, code in SEQUENCES:
        frames = out / "cohn-kanade-images" / subject / sequence
        for frame in range(1, count + 1):
            name = f"{subject}_{sequence}_{frame:08d}.png"
            if name == CORRUPT_FRAME:
                dummy.write_bytes(frames / name, dummy.CORRUPT_PNG)
            else:
                shape = (HEIGHT, WIDTH, 3) if name == RGB_FRAME else (HEIGHT, WIDTH)
                dummy.write_image(frames / name, dummy.noise(rng, shape))
        labels = out / "Emotion" / subject / sequence
        labels.mkdir(parents=True)  # the real Emotion/ has empty folders for unlabelled sequences
        if code is not None:
            (labels / f"{subject}_{sequence}_{count:08d}_emotion.txt").write_text(
                f"   {code:.7e}\n"
            )
    dummy.write_bytes(out / "cohn-kanade-images" / "S005" / ".DS_Store", dummy.DS_STORE)


def main() -> None:
    rng = np.random.default_rng(0)
    make_ck(HERE / "dummy_data", rng)
    dummy.write_layout(
        HERE / "ck48" / "dummy_data",
        [f"CK+48/{folder}/{name}" for folder, name in CK48],
        (48, 48),
        rng,
        corrupt="/".join(("CK+48", *CK48_CORRUPT)),
        corrupt_data=b"not a png",
    )


if __name__ == "__main__":
    main()
