"""Tests for the FESR builder on dummy data (random pixels, see make_dummy_data.py): the split
layout in dummy_data/ and the class-folders-only layout in flat/dummy_data/, with mixed-case
folder names and a corrupt image in each."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from ferzoo.datasets import testing

pytestmark = pytest.mark.tf_only

fesr = testing.builder_module("fesr")
HERE = Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"
DUMMY_FLAT = HERE / "flat" / "dummy_data"


FesrSplitLayoutTest = testing.builder_test_case(  # one corrupt train image
    "FesrSplitLayoutTest", fesr.Builder, {"train": 6, "validation": 2, "test": 2}
)
FesrClassFoldersTest = testing.builder_test_case(  # one corrupt image
    "FesrClassFoldersTest", fesr.Builder, {"train": 6}, example_dir=DUMMY_FLAT
)


def _splits(tmp_path: Path, manual_dir: Path):
    return testing.split_examples(fesr.Builder, tmp_path, manual_dir)[1]


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
    testing.assert_skipped(caplog, 1, "train/upset/0006.jpg")


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
    manual_dir = testing.copy_with_folder(DUMMY_FLAT, tmp_path / "manual", "FESR/Joy", "happy")
    message = testing.manual_error(_splits, tmp_path, manual_dir)
    assert "surprise, joy, neutral, bored, upset" in message and "`happy/`" in message


def test_missing_or_wrong_manual_dir(tmp_path):
    testing.assert_missing_manual_dir(_splits, tmp_path, "kaggle.com/datasets/daniellam2000")
    wrong = testing.write_files(tmp_path / "wrong", "images/a.jpg")
    message = testing.manual_error(_splits, tmp_path, wrong)
    assert "could not find FESR's class folders" in message and "images/a.jpg" in message
