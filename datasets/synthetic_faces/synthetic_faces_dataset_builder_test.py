"""TFDS's standard builder checks for synthetic_faces, on the `tiny` config (nothing to download)."""

from pathlib import Path

import pytest
import tensorflow_datasets as tfds

from ferzoo.datasets import builder_class, testing

pytestmark = pytest.mark.tf_only

# The builder downloads nothing, so its own folder stands in for dummy_data/.
SyntheticFacesTest = testing.builder_test_case(
    "SyntheticFacesTest",
    builder_class("synthetic_faces"),
    {"train": 10 * 7 * 2},
    config="tiny",
    example_dir=Path(__file__).resolve().parent,
)


if __name__ == "__main__":
    tfds.testing.test_main()
