"""Registers ferzoo's TFDS builders: `import ferzoo.datasets`, then `tfds.builder("jaffe")`.

The builders are the modules `ferzoo.datasets.builders.<name>.<name>_dataset_builder` (the
repository's `datasets/<name>/` folders, shipped inside the wheel: see
`ferzoo.datasets.builders`). TFDS names a class called `Builder` after its module
(`<name>_dataset_builder`) and reads README.md, CITATIONS.bib and TAGS.txt beside it.

Example:

    import ferzoo.datasets
    import tensorflow_datasets as tfds

    builder = tfds.builder("synthetic_faces", config="tiny", data_dir="/tmp/tfds")
    ferzoo.datasets.available()   # the builders found, e.g. ["ck_plus", ..., "image_folder"]

Each builder declares its split facts as `Builder.PROTOCOL_FACTS` (`ferzoo.datasets.facts`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect

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

_PACKAGE = "ferzoo.datasets.builders"


def module_name(name: str) -> str:
    """The module of dataset `name`'s builder, e.g. `ferzoo.datasets.builders.jaffe.jaffe_dataset_builder`."""
    return f"{_PACKAGE}.{name}.{name}_dataset_builder"


def available() -> list[str]:
    """The names in `BUILDER_NAMES` whose builder module is installed."""
    return [name for name in BUILDER_NAMES if importlib.util.find_spec(module_name(name))]


def builder_class(name: str) -> type:
    """Import (once) and return the TFDS builder class of one of `BUILDER_NAMES`.

    Args:
        name: the dataset name, e.g. "jaffe" (a "name/config" suffix is ignored).

    Returns:
        The `tfds.core.GeneratorBasedBuilder` subclass, registered with TFDS under `name`.

    Raises:
        ValueError: for a name that is not one of ferzoo's datasets.
        ModuleNotFoundError: when the builder is not installed.
    """
    name = name.split("/")[0].split(":")[0]
    if name not in BUILDER_NAMES:
        raise ValueError(f"name must be one of {list(BUILDER_NAMES)}. Received: name={name!r}")
    cls = importlib.import_module(module_name(name)).Builder
    if cls.__dict__.get("pkg_dir_path") is None:
        # TFDS would look for README.md, CITATIONS.bib and TAGS.txt below the top package's
        # resource path, which in a checkout is not where the builder's folder is.
        cls.pkg_dir_path = epath.Path(inspect.getfile(cls)).parent
    return cls


def register() -> dict[str, type]:
    """Import every builder present (TFDS registers each class as it is defined)."""
    return {name: builder_class(name) for name in available()}


register()

__all__ = ["BUILDER_NAMES", "available", "builder_class", "module_name", "register"]
