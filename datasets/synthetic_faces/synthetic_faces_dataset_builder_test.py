"""TFDS's standard builder checks for synthetic_faces, on the `tiny` config (nothing to download)."""

import os

import pytest

pytest.importorskip("dill", reason="tfds.testing needs dill (pip install dill)")

import tensorflow_datasets as tfds  # noqa: E402

from ferzoo.datasets import builder_class  # noqa: E402

pytestmark = pytest.mark.tf_only


class SyntheticFacesTest(tfds.testing.DatasetBuilderTestCase):
    DATASET_CLASS = builder_class("synthetic_faces")
    BUILDER_CONFIG_NAMES_TO_TEST = ["tiny"]
    SPLITS = {"train": 10 * 7 * 2}
    SKIP_CHECKSUMS = True  # nothing is downloaded
    # The builder downloads nothing, so its own folder stands in for dummy_data/.
    EXAMPLE_DIR = os.path.dirname(os.path.abspath(__file__))


if __name__ == "__main__":
    tfds.testing.test_main()
