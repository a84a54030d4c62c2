"""Tests for the FER2013 builder on dummy data (random pixels, see make_dummy_data.py): the CSVs
in dummy_data/ (fer2013.csv as in fer2013.tar.gz, FER+'s fer2013new.csv beside it) and the
folder re-upload in folders/dummy_data/."""

from __future__ import annotations

import csv
import functools
import logging
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ferzoo.datasets import manual, testing

pytestmark = pytest.mark.tf_only

fer2013 = testing.builder_module("fer2013")
HERE = Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"
DUMMY_FOLDERS = HERE / "folders" / "dummy_data"


def _case(name: str, config: str, train: int, validation: int, test: int, example_dir=None):
    splits = {"train": train, "validation": validation, "test": test}
    return testing.builder_test_case(
        name, fer2013.Builder, splits, config=config, example_dir=example_dir
    )


Fer2013CsvTest = _case("Fer2013CsvTest", "original", 6, 2, 3)  # one corrupt Training row
FerPlusTest = _case("FerPlusTest", "ferplus", 3, 2, 3)
FerPlusMajorityTest = _case("FerPlusMajorityTest", "ferplus_majority", 2, 1, 2)
Fer2013FolderTest = _case("Fer2013FolderTest", "original", 5, 1, 2, DUMMY_FOLDERS)  # 1 corrupt


# _splits(tmp_path, manual_dir, config=None) -> (builder, {split: {key: example}})
_splits = functools.partial(testing.split_examples, fer2013.Builder)


def test_csv_keeps_the_three_usages_and_skips_a_corrupt_row(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        builder, splits = _splits(tmp_path, DUMMY)
    assert list(splits) == ["train", "validation", "test"]
    assert sorted(splits["train"]) == [0, 1, 2, 4, 5, 6]  # data row 3 has 2,303 pixels
    assert sorted(splits["validation"]) == [7, 8] and sorted(splits["test"]) == [9, 10, 11]
    ex = splits["train"][1]
    assert ex["label"] == "happy" and ex["usage"] == "Training"
    assert ex["image"].shape == (48, 48, 1) and ex["image"].dtype == np.uint8
    assert ex["filename"] == "fer2013.csv:1" and ex["subject_id"] == ""
    np.testing.assert_array_equal(ex["face_box"], [0, 0, 1, 1])
    assert splits["train"][6]["label"] == "disgust" and splits["test"][10]["label"] == "neutral"
    assert builder.info.features["label"].names == list(fer2013.CLASS_NAMES)
    with open(DUMMY / "fer2013" / "fer2013.csv") as handle:
        pixels = list(csv.reader(handle))[2][1]
    np.testing.assert_array_equal(ex["image"].ravel(), np.array(pixels.split(), np.uint8))
    assert "fer2013.csv:3 (pixels are not 2304 values" in caplog.text


def test_ferplus_vote_rules():
    label = fer2013.ferplus_label
    assert label([4, 0, 0, 1, 3, 2, 0, 0, 0, 0]) == 0
    assert label([4, 0, 0, 4, 1, 0, 0, 0, 1, 0]) is None  # a tie is dropped
    assert label([1, 0, 0, 2, 0, 0, 0, 0, 6, 1]) is None  # unknown wins
    assert label([0, 0, 0, 0, 0, 0, 0, 0, 0, 10]) is None  # not a face
    assert label([3, 0, 0, 0, 3, 0, 0, 0, 0, 4]) is None  # NF wins
    assert label([0, 0, 0, 0, 0, 0, 0, 6, 0, 4]) == 7  # contempt
    # FER+'s majority mode: single votes removed, then more than half of the rest.
    assert label([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], vote="majority") is None  # 4 of 9
    assert label([5, 1, 1, 1, 1, 1, 0, 0, 0, 0], vote="majority") == 0  # 5 of 5
    assert label([3, 0, 0, 0, 5, 0, 0, 2, 0, 0], vote="majority") is None  # 5 of 10
    assert label([0, 0, 0, 0, 0, 0, 0, 0, 7, 3], vote="majority") is None
    with pytest.raises(ValueError, match="vote="):
        label([1] * 10, vote="mean")
    with pytest.raises(ValueError, match="counts="):
        label([1] * 8)


def test_ferplus_labels_votes_and_names(tmp_path):
    builder, splits = _splits(tmp_path, DUMMY, config="ferplus")
    assert builder.info.features["label"].names == list(fer2013.FERPLUS_NAMES)
    assert {s: sorted(v) for s, v in splits.items()} == {
        "train": [0, 1, 6],
        "validation": [7, 8],
        "test": [9, 10, 11],
    }
    ex = splits["train"][0]
    assert (ex["label"], ex["filename"]) == ("neutral", "fer0000000.png")
    np.testing.assert_allclose(ex["votes"], [0.4, 0, 0, 0.1, 0.3, 0.2, 0, 0])
    assert ex["votes"].dtype == np.float32
    np.testing.assert_array_equal(ex["vote_counts"], [4, 0, 0, 1, 3, 2, 0, 0, 0, 0])
    # Names count FER+'s named rows: data row 6 comes after the unnamed row 4.
    assert splits["train"][6]["filename"] == "fer0000005.png"
    contempt = splits["test"][10]
    assert contempt["label"] == "contempt"
    np.testing.assert_allclose(contempt["votes"], [0, 0, 0, 0, 0, 0, 0, 1])
    _, majority = _splits(tmp_path / "m", DUMMY, config="ferplus_majority")
    assert {s: sorted(v) for s, v in majority.items()} == {
        "train": [1, 6],
        "validation": [7],
        "test": [9, 10],
    }


def test_ferplus_refuses_misaligned_files(tmp_path):
    manual_dir = tmp_path / "manual"
    shutil.copytree(DUMMY, manual_dir)
    path = manual_dir / "fer2013new.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # one row lost: Usages shift
    with pytest.raises(manual.ManualDataError, match="aligned row by row"):
        _splits(tmp_path, manual_dir, config="ferplus")


def test_ferplus_needs_the_csv_and_the_votes(tmp_path):
    only_csv = tmp_path / "only_csv"
    shutil.copytree(DUMMY / "fer2013", only_csv / "fer2013")
    with pytest.raises(manual.ManualDataError, match="fer2013new.csv"):
        _splits(tmp_path, only_csv, config="ferplus")
    with pytest.raises(manual.ManualDataError, match="folder form cannot be matched"):
        _splits(tmp_path, DUMMY_FOLDERS, config="ferplus")


def test_folder_form_restores_the_three_usages(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        builder, splits = _splits(tmp_path, DUMMY_FOLDERS)
    assert sorted(splits["validation"]) == ["test/happy/PublicTest_94416517.jpg"]
    assert sorted(splits["test"]) == [
        "test/angry/PrivateTest_1054527.jpg",
        "test/disgust/PrivateTest_807646.jpg",
    ]
    assert len(splits["train"]) == 5
    ex = splits["train"]["train/neutral/Training_2913.jpg"]
    assert (ex["label"], ex["usage"]) == ("neutral", "Training")
    assert ex["image"] == (DUMMY_FOLDERS / "train/neutral/Training_2913.jpg").read_bytes()
    assert "train/sad/Training_318555.jpg (cannot be decoded" in caplog.text


def test_kaggle_competition_zip_with_the_tar_inside(tmp_path):
    # The competition zip holds icml_face_data.csv (" Usage", " pixels") and fer2013.tar.gz.
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    with open(DUMMY / "fer2013" / "fer2013.csv") as handle:
        rows = list(csv.reader(handle))
    icml = "emotion, Usage, pixels\n" + "".join(f"{e},{u},{p}\n" for e, p, u in rows[1:])
    tar_path = tmp_path / "fer2013.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tf:
        tf.add(DUMMY / "fer2013", arcname="fer2013")
    zip_path = manual_dir / "challenges-in-representation-learning-facial-expression.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("icml_face_data.csv", icml)
        zf.write(tar_path, "fer2013.tar.gz")
    _, splits = _splits(tmp_path, manual_dir)
    assert {s: len(v) for s, v in splits.items()} == {"train": 6, "validation": 2, "test": 3}
    # Only the tar inside the zip: found by extracting the archive in the archive.
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.write(tar_path, "fer2013.tar.gz")
    _, splits = _splits(tmp_path / "nested", manual_dir)
    assert splits["validation"][7]["filename"] == "fer2013.csv:7"


def test_wrong_layout_says_what_was_expected_and_found(tmp_path):
    testing.assert_missing_manual_dir(
        _splits, tmp_path, "kaggle.com/c/challenges-in-representation-learning"
    )
    wrong = testing.write_files(tmp_path / "wrong", "fer2013.csv", data=b"label,image\n1,2\n")
    message = testing.manual_error(_splits, tmp_path, wrong)
    assert "emotion,pixels,Usage" in message and "label,image" in message
    (wrong / "fer2013.csv").unlink()
    testing.write_files(wrong, "faces/happy/a.jpg")
    message = testing.manual_error(_splits, tmp_path, wrong)
    assert "could not find `fer2013.csv`" in message and "faces/happy/" in message
