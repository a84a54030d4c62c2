"""Registers ferzoo's TFDS builders: `import ferzoo.datasets`, then `tfds.builder("jaffe")`.

The builders live in the repository's top-level `datasets/<name>/<name>_dataset_builder.py`, in
the `tfds new` layout. That folder is deliberately not a Python package (a package named
`datasets` would shadow Hugging Face's), so each file is loaded by path, under the module name
`<name>_dataset_builder`: TFDS names a class called `Builder` after its module, and this is also
the name pytest gives the module when it collects the builder's own test beside it, so the two
never register the same dataset twice.

The folder is found beside the `ferzoo` package (a checkout or an editable install), or where
the environment variable `FERZOO_BUILDERS_DIR` points.

Example:

    import ferzoo.datasets
    from etils import epath

    builder = tfds.builder("synthetic_faces", config="tiny", data_dir="/tmp/tfds")
    ferzoo.datasets.available()   # the builders found, e.g. ["ck_plus", ..., "image_folder"]

Each builder declares its split facts as `Builder.PROTOCOL_FACTS` (`ferzoo.datasets.facts`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from etils import epath

BUILDER_NAMES = (
    "ck_plus",
    "jaffe",
    "kdef",
    "fesr",
    "synthetic_faces",
    "fer2013",
    "raf_db",
    "affectnet",
    "image_folder",
)

_MODULE_SUFFIX = "_dataset_builder"
_LOADED: dict[str, type] = {}


def builders_dir() -> Path:
    """The folder holding `<name>/<name>_dataset_builder.py`."""
    env = os.environ.get("FERZOO_BUILDERS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "datasets"


def _builder_file(name: str) -> Path:
    return builders_dir() / name / f"{name}{_MODULE_SUFFIX}.py"


def available() -> list[str]:
    """The names in `BUILDER_NAMES` whose builder file exists."""
    return [name for name in BUILDER_NAMES if _builder_file(name).exists()]


def _imported_elsewhere(path: Path, module_name: str):
    """A module already imported from `path` under another name (e.g. by `tfds build`)."""
    for other_name, module in list(sys.modules.items()):
        found = getattr(module, "__file__", None)
        if other_name != module_name and found and Path(found).resolve() == path.resolve():
            return module
    return None


def builder_class(name: str) -> type:
    """Load (once) and return the TFDS builder class of one of `BUILDER_NAMES`.

    Args:
        name: the dataset name, e.g. "jaffe" (a "name/config" suffix is ignored).

    Returns:
        The `tfds.core.GeneratorBasedBuilder` subclass, registered with TFDS under `name`.

    Raises:
        ValueError: for a name that is not one of ferzoo's datasets.
        FileNotFoundError: when the builder file is missing.
        ImportError (or whatever the file raises): when the builder file fails to import.
    """
    name = name.split("/")[0].split(":")[0]
    if name not in BUILDER_NAMES:
        raise ValueError(f"name must be one of {list(BUILDER_NAMES)}. Received: name={name!r}")
    if name in _LOADED:
        return _LOADED[name]
    path = _builder_file(name).resolve()
    module_name = f"{name}{_MODULE_SUFFIX}"
    module = sys.modules.get(module_name) or _imported_elsewhere(path, module_name)
    if module is not None:
        found = getattr(module, "__file__", None)
        if found is None or Path(found).resolve() != path:
            raise ImportError(
                f"A module named {module_name!r} from {found} is already imported; ferzoo needs "
                f"that name for {path}."
            )
        if not hasattr(module, "Builder"):
            # Still being imported (`tfds build datasets/<name>` imports the file, which imports
            # ferzoo.datasets): it registers itself when done.
            raise ImportError(f"{path} is still being imported.")
    else:
        if not path.exists():
            raise FileNotFoundError(f"No builder for dataset {name!r}: {path} does not exist.")
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]
            raise
    cls = module.Builder
    if cls.__dict__.get("pkg_dir_path") is None:
        # TFDS reads README.md, CITATIONS.bib and TAGS.txt from the builder's package folder;
        # a module loaded by path has no package, so point it at the folder.
        cls.pkg_dir_path = epath.Path(path.parent)
    _LOADED[name] = cls
    return cls


def register() -> dict[str, type]:
    """Load every builder present.

    Folders not written yet are skipped, and so is a builder whose file is being imported right
    now under another name (it registers itself); any other import error raises.
    """
    loaded = {}
    for name in available():
        path = _builder_file(name).resolve()
        other = _imported_elsewhere(path, f"{name}{_MODULE_SUFFIX}")
        if other is not None and not hasattr(other, "Builder"):
            continue
        loaded[name] = builder_class(name)
    return loaded


register()

__all__ = ["BUILDER_NAMES", "available", "builder_class", "builders_dir", "register"]
