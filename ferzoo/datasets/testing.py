"""Helpers shared by the builder tests in `datasets/<name>/<name>_dataset_builder_test.py`."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import tensorflow_datasets as tfds

from ferzoo.datasets import builder_class

# `tfds.testing.DatasetBuilderTestCase` imports dill, an optional dependency.
HAS_DILL = importlib.util.find_spec("dill") is not None


def builder_module(name: str) -> ModuleType:
    """The module of a ferzoo builder (its `Builder` and its constants), loaded once.

    Example:
        jaffe = builder_module("jaffe"); jaffe.Builder, jaffe.CLASS_NAMES
    """
    return sys.modules[builder_class(name).__module__]


def download_manager(
    tmp_path: Path, manual_dir: Path, instructions: str
) -> tfds.download.DownloadManager:
    """A download manager over `manual_dir` (nothing is downloaded), for `_split_generators`."""
    return tfds.download.DownloadManager(
        download_dir=tmp_path / "dl",
        manual_dir=manual_dir,
        manual_dir_instructions=instructions,
    )
