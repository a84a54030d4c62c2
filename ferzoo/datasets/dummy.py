"""Helpers for the `datasets/<name>/make_dummy_data.py` scripts: random pixels in a real layout.

Each script writes the `dummy_data/` folders that its builder's tests read: the real archive's
folder layout and file names, random pixels (never faces), and the real quirks (odd formats, a
corrupt file). The helpers here write the files; the layout and the quirks stay in the script.
Pixels are drawn from the generator passed in, in call order, so a script's output is fixed by
its seed and its file list (change neither, or the files change).

Example:
```python
rng = np.random.default_rng(0)
out = dummy.fresh(HERE / "dummy_data")
dummy.write_image(out / "happy" / "a.png", dummy.noise(rng, (32, 32)))
dummy.write_bytes(out / "happy" / "b.jpg", dummy.CORRUPT_JPEG)
```
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

#: A JPEG start-of-image and quantisation marker, then nothing decodable.
CORRUPT_JPEG = b"\xff\xd8\xff\xdb truncated"
#: The PNG signature followed by an empty, invalid chunk.
CORRUPT_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 8
#: A TIFF header and nothing else.
CORRUPT_TIFF = b"II*\x00" + b"\x00" * 12
#: The start of a macOS Finder `.DS_Store` file (never data; the builders must ignore it).
DS_STORE = b"\x00\x00\x00\x01Bud1"

_FORMATS = {".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}


def fresh(out: Path) -> Path:
    """Removes the folder `out` if it exists (a script rewrites its folders whole); returns it."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    return out


def noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random uint8 pixels of `shape`: (height, width) for grayscale, (height, width, 3) for RGB."""
    return rng.integers(0, 256, shape, dtype=np.uint8)


def format_of(name: str) -> str:
    """The Pillow format for a file name, by its extension in any case (JPEG when unknown)."""
    return _FORMATS.get(Path(name).suffix.lower(), "JPEG")


def write_image(path: Path, image: np.ndarray | Any, **params: Any) -> Path:
    """Saves pixels (or a Pillow image) at `path`, creating its folders; returns the path.

    Args:
        path: the file to write; its extension picks the format (`format_of`).
        image: a uint8 array or a `PIL.Image.Image`.
        **params: Pillow save options (e.g. `quality=75`).
    """
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    image.save(path, format=format_of(path.name), **params)
    return path


def write_bytes(path: Path, data: bytes) -> Path:
    """Writes raw bytes (a corrupt image, a junk file) at `path`, creating its folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def write_layout(
    out: Path,
    names: Iterable[str],
    shape: tuple[int, ...],
    rng: np.random.Generator,
    *,
    corrupt: str | None = None,
    corrupt_data: bytes = CORRUPT_JPEG,
) -> Path:
    """Rewrites the folder `out`: a random image of `shape` per name, then one corrupt file.

    Args:
        out: the folder, removed first if it exists.
        names: file paths relative to `out`, written in this order.
        shape: the pixel shape of every image.
        rng: the generator the pixels are drawn from.
        corrupt: a path relative to `out` for an undecodable file, or None.
        corrupt_data: that file's bytes.

    Returns:
        `out`.
    """
    out = fresh(out)
    for name in names:
        write_image(out / name, noise(rng, shape))
    if corrupt is not None:
        write_bytes(out / corrupt, corrupt_data)
    return out
