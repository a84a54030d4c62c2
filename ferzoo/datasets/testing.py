"""Helpers shared by the builder tests in `datasets/<name>/<name>_dataset_builder_test.py`.

A builder test file then holds only what is particular to its dataset:

    jaffe = testing.builder_module("jaffe")
    JaffeTest = testing.builder_test_case("JaffeTest", jaffe.Builder, {"train": 7})

    def test_corrupt_file_is_skipped(tmp_path, caplog):
        with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
            _, splits = testing.split_examples(jaffe.Builder, tmp_path, DUMMY)
        testing.assert_skipped(caplog, 1, "UY.AN1.146.tiff")

`tfds.testing.DatasetBuilderTestCase` needs dill, which the `test` extra installs.
"""

from __future__ import annotations

import inspect
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import tensorflow_datasets as tfds

from ferzoo.datasets import builder_class, manual


def builder_module(name: str) -> ModuleType:
    """The module of a ferzoo builder (its `Builder` and its constants), loaded once.

    Example:
        jaffe = builder_module("jaffe"); jaffe.Builder, jaffe.CLASS_NAMES
    """
    return sys.modules[builder_class(name).__module__]


def builder_test_case(
    name: str,
    builder: type,
    splits: Mapping[str, int],
    *,
    config: Any = None,
    example_dir: str | Path | None = None,
) -> type:
    """TFDS's standard builder checks for one config on one dummy_data folder, as a test class.

    Assign the class to a module-level name of the test file (pytest collects it from there).
    Nothing is downloaded, so checksums are not checked.

    Args:
        name: the class name, as it is assigned (pytest and unittest report it).
        builder: the builder class.
        splits: the number of examples expected in each split.
        config: the config (name or `BuilderConfig`) to build; None: the builder's default.
        example_dir: the folder given as manual_dir; None: `dummy_data/` beside the builder.

    Returns:
        A `tfds.testing.DatasetBuilderTestCase` subclass.

    Example:
        KdefFrontalTest = builder_test_case("KdefFrontalTest", kdef.Builder, {"train": 4},
                                            config="frontal")
    """
    attributes = {"DATASET_CLASS": builder, "SPLITS": dict(splits), "SKIP_CHECKSUMS": True}
    if config is not None:
        attributes["BUILDER_CONFIG_NAMES_TO_TEST"] = [config]
    # TFDS looks for dummy_data/ beside `code_path`, which it derives from the module's dotted
    # name below the top package: in a checkout that is not where the builder's folder is.
    if example_dir is None:
        example_dir = Path(inspect.getfile(builder)).parent / "dummy_data"
    attributes["EXAMPLE_DIR"] = str(example_dir)
    # Named after the test module that assigns it, as a class written there would be.
    attributes["__module__"] = sys._getframe(1).f_globals.get("__name__", __name__)
    attributes["__qualname__"] = name
    return type(name, (tfds.testing.DatasetBuilderTestCase,), attributes)


def download_manager(
    tmp_path: Path, manual_dir: Path, instructions: str
) -> tfds.download.DownloadManager:
    """A download manager over `manual_dir` (nothing is downloaded), for `_split_generators`."""
    return tfds.download.DownloadManager(
        download_dir=tmp_path / "dl",
        manual_dir=manual_dir,
        manual_dir_instructions=instructions,
    )


def split_examples(
    builder: type, tmp_path: Path, manual_dir: str | Path, config: Any = None
) -> tuple[Any, dict[str, dict]]:
    """Runs a builder's `_split_generators` on `manual_dir`, without writing a dataset.

    Args:
        builder: the builder class.
        tmp_path: a scratch folder (the builder's data_dir and download folder go there).
        manual_dir: the folder to read.
        config: the config (name or `BuilderConfig`); None: the builder's default.

    Returns:
        `(builder instance, {split: {key: example}})`, the splits in the builder's order.
    """
    instance = builder(data_dir=str(tmp_path / "data"), config=config)
    dl = download_manager(tmp_path, Path(manual_dir), builder.MANUAL_DOWNLOAD_INSTRUCTIONS)
    return instance, {split: dict(gen) for split, gen in instance._split_generators(dl).items()}


def assert_skipped(caplog: pytest.LogCaptureFixture, count: int, *names: str) -> str:
    """Asserts that one summary of `count` skipped files was logged, naming each of `names`.

    Returns:
        The summary line.
    """
    summary = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(summary) == 1, summary
    assert f"skipped {count} file(s)" in summary[0], summary[0]
    for name in names:
        assert name in summary[0], (name, summary[0])
    return summary[0]


def manual_error(make: Callable[..., Any], *args: Any) -> str:
    """Asserts that `make(*args)` raises a `ManualDataError`; returns its message."""
    with pytest.raises(manual.ManualDataError) as info:
        make(*args)
    return str(info.value)


def assert_missing_manual_dir(
    make: Callable[[Path, Path], Any], tmp_path: Path, *fragments: str, empty: bool = False
) -> None:
    """Asserts that a missing (or empty) manual_dir gives the short error with the instructions.

    Args:
        make: called as `make(tmp_path, manual_dir)`; builds or generates the splits.
        tmp_path: a scratch folder.
        *fragments: text the message must hold (the download address, a file name).
        empty: make the manual_dir an empty folder instead of leaving it out.
    """
    manual_dir = tmp_path / "manual"
    if empty:
        manual_dir.mkdir()
    with pytest.raises(manual.ManualDataError) as info:
        make(tmp_path, manual_dir)
    message = str(info.value)
    assert "does not exist, is empty" in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def copy_with_folder(source: Path, target: Path, folder: str, copy_as: str) -> Path:
    """Copies the dummy data `source` to `target`, then its `folder` again beside it as `copy_as`.

    For the layout errors of a class folder the builder does not know (`happy/` beside `joy/`).

    Example:
        copy_with_folder(DUMMY_FLAT, tmp_path / "manual", "FESR/Joy", "happy")  # FESR/happy/
    """
    shutil.copytree(source, target)
    copied = Path(target) / folder
    shutil.copytree(copied, copied.with_name(copy_as))
    return Path(target)


def write_files(root: Path, *relative: str, data: bytes = b"x") -> Path:
    """Writes a few bytes at each relative path below `root` (a manual_dir in a wrong layout)."""
    for name in relative:
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return Path(root)
