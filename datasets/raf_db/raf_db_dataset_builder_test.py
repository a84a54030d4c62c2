"""Tests for the RAF-DB builder on dummy data (random pixels in RAF-DB basic's layout, see
make_dummy_data.py): 6 train and 3 test lines, one listed image missing, one corrupt."""

from __future__ import annotations

import functools
import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ferzoo.datasets import testing

pytestmark = pytest.mark.tf_only

raf_db = testing.builder_module("raf_db")
HERE = Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"
IMAGES = DUMMY / "basic" / "Image"


RafDbTest = testing.builder_test_case(  # 6 train lines: one corrupt, one without an image
    "RafDbTest", raf_db.Builder, {"train": 4, "test": 3}
)


# _splits(tmp_path, manual_dir, config=None) -> (builder, {split: {key: example}})
_splits = functools.partial(testing.split_examples, raf_db.Builder)


def test_aligned_faces_labels_and_splits(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        builder, splits = _splits(tmp_path, DUMMY)
    assert builder.info.features["label"].names == list(raf_db.CLASS_NAMES)
    assert sorted(splits["train"]) == [
        "train_00001.jpg",
        "train_00002.jpg",
        "train_00003.jpg",
        "train_00005.jpg",
    ]
    assert sorted(splits["test"]) == ["test_0001.jpg", "test_0002.jpg", "test_0003.jpg"]
    # Codes 1-7 = surprise, fear, disgust, happiness, sadness, anger, neutral.
    labels = {k: ex["label"] for split in splits.values() for k, ex in split.items()}
    assert labels["train_00001.jpg"] == "sadness" and labels["train_00002.jpg"] == "happiness"
    assert labels["train_00003.jpg"] == "surprise" and labels["train_00005.jpg"] == "anger"
    assert labels["test_0002.jpg"] == "disgust" and labels["test_0003.jpg"] == "neutral"
    ex = splits["train"]["train_00001.jpg"]
    assert ex["filename"] == "train_00001_aligned.jpg" and ex["subject_id"] == ""
    assert ex["image"] == (IMAGES / "aligned" / "train_00001_aligned.jpg").read_bytes()
    np.testing.assert_array_equal(ex["face_box"], [0, 0, 1, 1])
    testing.assert_skipped(
        caplog,
        2,
        "train_00004_aligned.jpg (cannot be decoded",
        "train_00006_aligned.jpg (listed in list_patition_label.txt:6",
    )


def test_original_config_detects_the_face(tmp_path):
    _, splits = _splits(tmp_path, DUMMY, config="original")
    assert {s: len(v) for s, v in splits.items()} == {"train": 4, "test": 3}
    ex = splits["test"]["test_0001.jpg"]
    assert ex["filename"] == "test_0001.jpg" and ex["label"] == "surprise"
    # Random pixels hold no face: the center-crop fallback of a 40x56 image.
    np.testing.assert_allclose(ex["face_box"], [0.1, 0.5 - 16 / 56, 0.9, 0.5 + 16 / 56], 1e-6)


def test_zipped_images_inside_the_zipped_basic_folder(tmp_path):
    # `basic/Image/aligned.zip` inside the archive as received.
    staged = tmp_path / "staged"
    shutil.copytree(DUMMY, staged)
    aligned = staged / "basic" / "Image" / "aligned"
    with zipfile.ZipFile(aligned.with_suffix(".zip"), "w") as zf:
        for path in sorted(aligned.iterdir()):
            zf.write(path, f"aligned/{path.name}")
    shutil.rmtree(aligned)
    shutil.rmtree(staged / "basic" / "Image" / "original")
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    with zipfile.ZipFile(manual_dir / "basic.zip", "w") as zf:
        for path in sorted(staged.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(staged).as_posix())
    _, splits = _splits(tmp_path, manual_dir)
    assert {s: len(v) for s, v in splits.items()} == {"train": 4, "test": 3}
    # The originals are not there: the `original` config says what it looked for.
    message = testing.manual_error(_splits, tmp_path / "again", manual_dir, "original")
    assert "basic/Image/original/train_00001.jpg" in message


def test_bad_lines_are_reported(tmp_path, caplog):
    manual_dir = tmp_path / "manual"
    shutil.copytree(DUMMY, manual_dir)
    label_file = manual_dir / "basic" / "EmoLabel" / "list_patition_label.txt"
    label_file.write_text(label_file.read_text() + "train_00007.jpg 8\nnotes.txt\n\n")
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        _, splits = _splits(tmp_path, manual_dir)
    assert len(splits["train"]) == 4
    assert "list_patition_label.txt:10" in caplog.text and "'train_00007.jpg 8'" in caplog.text
    assert "list_patition_label.txt:11" in caplog.text


def test_missing_or_wrong_manual_dir(tmp_path):
    testing.assert_missing_manual_dir(_splits, tmp_path, "whdeng.cn/RAF")
    wrong = testing.write_files(tmp_path / "wrong", "RAF/aligned/train_00001_aligned.jpg")
    message = testing.manual_error(_splits, tmp_path, wrong)
    assert "basic/EmoLabel/list_patition_label.txt" in message and "RAF/aligned/" in message
