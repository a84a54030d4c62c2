"""Tests for the FESR builder on dummy data (random pixels, see make_dummy_data.py): the split
layout in dummy_data/ and the class-folders-only layout in flat/dummy_data/, with mixed-case
folder names and a corrupt image in each."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ferzoo.datasets import manual, testing

pytestmark = pytest.mark.tf_only

HERE = Path(__file__).resolve().parent
NAME = "fesr"
DUMMY = HERE / "dummy_data"
DUMMY_FLAT = HERE / "flat" / "dummy_data"


fesr = testing.builder_module(NAME)


if testing.HAS_DILL:

    class FesrSplitLayoutTest(tfds.testing.DatasetBuilderTestCase):
        DATASET_CLASS = fesr.Builder
        SPLITS = {"train": 6, "validation": 2, "test": 2}  # one corrupt train image
        SKIP_CHECKSUMS = True

    class FesrClassFoldersTest(tfds.testing.DatasetBuilderTestCase):
        DATASET_CLASS = fesr.Builder
        EXAMPLE_DIR = str(DUMMY_FLAT)
        SPLITS = {"train": 6}  # one corrupt image
        SKIP_CHECKSUMS = True

else:

    @pytest.mark.skip(reason="tfds.testing.DatasetBuilderTestCase needs `pip install dill`")
    def test_dataset_builder_test_case():
        pass


def _splits(tmp_path: Path, manual_dir: Path):
    builder = fesr.Builder(data_dir=str(tmp_path / "data"))
    dl = testing.download_manager(tmp_path, manual_dir, fesr.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS)
    return {split: dict(gen) for split, gen in builder._split_generators(dl).items()}


def test_split_layout_keeps_the_distributed_split(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        splits = _splits(tmp_path, DUMMY)
    assert list(splits) == ["train", "validation", "test"]
    assert sorted(splits["validation"]) == ["val/Bored/0102.jpg", "val/joy/0101.jpg"]
    assert sorted(splits["test"]) == ["Test/Surprise/0202.jpg", "Test/neutral/0201.jpg"]
    train = splits["train"]
    assert len(train) == 6
    # The same file name in two class folders stays two examples.
    assert train["train/Joy/0001.jpg"]["label"] == "joy"
    assert train["train/surprise/0001.jpg"]["label"] == "surprise"
    assert train["train/BORED/0004.jpg"]["label"] == "bored"
    for split in splits.values():
        for ex in split.values():
            assert ex["subject_id"] == ""
            np.testing.assert_array_equal(ex["face_box"], [0, 0, 1, 1])
    assert "train/upset/0006.jpg" in caplog.text and "skipped 1 file(s)" in caplog.text


def test_class_folders_only_make_one_train_split(tmp_path):
    splits = _splits(tmp_path, DUMMY_FLAT)
    assert list(splits) == ["train"]
    labels = sorted(ex["label"] for ex in splits["train"].values())
    assert labels == ["bored", "joy", "joy", "neutral", "surprise", "upset"]
    assert splits["train"]["Neutral/0004.png"]["filename"] == "Neutral/0004.png"


def test_split_folder_spellings(tmp_path):
    manual_dir = tmp_path / "manual" / "kaggle" / "fesr"
    for src, dst in [("train", "Training"), ("val", "VALIDATION"), ("Test", "testing")]:
        shutil.copytree(DUMMY / "FESR" / src, manual_dir / dst)
    splits = _splits(tmp_path, tmp_path / "manual")
    assert {k: len(v) for k, v in splits.items()} == {"train": 6, "validation": 2, "test": 2}


def test_unknown_class_folder_is_a_layout_error(tmp_path):
    manual_dir = tmp_path / "manual"
    shutil.copytree(DUMMY_FLAT, manual_dir)
    shutil.copytree(manual_dir / "FESR" / "Joy", manual_dir / "FESR" / "happy")
    with pytest.raises(manual.ManualDataError) as info:
        _splits(tmp_path, manual_dir)
    message = str(info.value)
    assert "surprise, joy, neutral, bored, upset" in message and "`happy/`" in message


def test_missing_or_wrong_manual_dir(tmp_path):
    with pytest.raises(manual.ManualDataError) as info:
        _splits(tmp_path, tmp_path / "nowhere")
    assert "kaggle.com/datasets/daniellam2000" in str(info.value)
    wrong = tmp_path / "wrong"
    (wrong / "images").mkdir(parents=True)
    (wrong / "images" / "a.jpg").write_bytes(b"x")
    with pytest.raises(manual.ManualDataError) as info:
        _splits(tmp_path, wrong)
    assert "could not find FESR's class folders" in str(info.value)
    assert "images/a.jpg" in str(info.value)
