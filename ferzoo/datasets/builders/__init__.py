"""ferzoo's TFDS builders, as the package `ferzoo.datasets.builders.<name>`.

The builders live in the repository's top-level `datasets/<name>/` folders, in the `tfds new`
layout (`<name>_dataset_builder.py`, README.md, CITATIONS.bib, TAGS.txt, dummy_data/). The wheel
ships each folder as the subpackage `ferzoo.datasets.builders.<name>` (setuptools' package-dir
mapping in pyproject.toml); in a checkout (an editable install, or the source tree on
`sys.path`) this package's path is extended to the top-level folder, so the same modules load
under the same names either way. `datasets/` itself is never a Python package: a top-level
package named `datasets` would shadow Hugging Face's.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent
_CHECKOUT = _HERE.parents[2] / "datasets"  # <repo>/datasets beside <repo>/ferzoo

if (
    not (_HERE / "synthetic_faces").is_dir()
    and (_CHECKOUT / "synthetic_faces" / "synthetic_faces_dataset_builder.py").is_file()
):
    __path__.append(str(_CHECKOUT))  # noqa: F821  (a package's __path__)
