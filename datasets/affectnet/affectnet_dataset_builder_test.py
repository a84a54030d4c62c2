"""Tests for the AffectNet builder on dummy data (random pixels in the real layout, see
make_dummy_data.py): 10 training rows (3 of them none/uncertain/no-face, one corrupt image, one
missing) and 3 validation rows."""

from __future__ import annotations

import functools
import logging
import shutil
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from ferzoo.datasets import manual, testing

pytestmark = pytest.mark.tf_only

affectnet = testing.builder_module("affectnet")
HERE = Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"
HAPPY = "689/737db2483489148d783ef278f43f486c0a97e140fc4b6b61b84363ca.jpg"


AffectNet8Test = testing.builder_test_case(
    "AffectNet8Test", affectnet.Builder, {"train": 5, "test": 3}, config="8"
)
AffectNet7Test = testing.builder_test_case(  # contempt dropped
    "AffectNet7Test", affectnet.Builder, {"train": 4, "test": 2}, config="7"
)


# _splits(tmp_path, manual_dir, config=None) -> (builder, {split: {key: example}})
_splits = functools.partial(testing.split_examples, affectnet.Builder)


def test_eight_emotions_boxes_and_affect(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="ferzoo.datasets"):
        builder, splits = _splits(tmp_path, DUMMY)
    assert builder.info.features["label"].names == list(affectnet.CLASS_NAMES)
    labels = {k: ex["label"] for k, ex in splits["train"].items()}
    assert sorted(labels.values()) == ["contempt", "fear", "happy", "neutral", "surprise"]
    assert sorted(ex["label"] for ex in splits["test"].values()) == ["contempt", "disgust", "sad"]
    ex = splits["train"][HAPPY]
    assert ex["filename"] == HAPPY and ex["subject_id"] == ""
    # x=5, y=4, w=20, h=22 in a 40x30 (width x height) image.
    np.testing.assert_allclose(ex["face_box"], [4 / 30, 5 / 40, 26 / 30, 25 / 40], 1e-6)
    assert ex["valence"] == np.float32(0.785714) and ex["arousal"] == np.float32(-0.055556)
    assert ex["image"] == (DUMMY / "Manually_Annotated_Images" / HAPPY).read_bytes()
    clipped = next(e for e in splits["train"].values() if e["label"] == "surprise")
    np.testing.assert_allclose(clipped["face_box"], [20 / 30, 30 / 40, 1.0, 1.0], 1e-6)
    assert "1 no-face, 1 none, 1 uncertain" in caplog.text
    testing.assert_skipped(caplog, 2, "f00f00f00", "0badc0de")


def test_seven_emotions_drop_contempt(tmp_path):
    builder, splits = _splits(tmp_path, DUMMY, config="7")
    assert builder.info.features["label"].names == list(affectnet.CLASS_NAMES[:7])
    assert {s: len(v) for s, v in splits.items()} == {"train": 4, "test": 2}
    assert all(ex["label"] != "contempt" for s in splits.values() for ex in s.values())


def test_normalized_box():
    box = affectnet.normalized_box
    np.testing.assert_allclose(box(10, 20, 50, 40, (100, 200)), [0.2, 0.05, 0.6, 0.3], 1e-6)
    np.testing.assert_allclose(box(-10, -10, 30, 30, (40, 40, 3)), [0, 0, 0.5, 0.5], 1e-6)
    assert box(50, 10, 10, 10, (40, 40)) is None  # right of the image
    assert box(5, 5, 0, 10, (40, 40)) is None  # empty


def test_headerless_list_and_bad_rows(tmp_path, caplog):
    manual_dir = tmp_path / "manual"
    shutil.copytree(DUMMY, manual_dir)
    lists = manual_dir / "Manually_Annotated_file_lists"
    text = (lists / "validation.csv").read_text().splitlines()
    (lists / "validation.csv").write_text(
        "\n".join(text[1:] + ["77/x.jpg,1,2", "a,b,c,d,e,f,g,h,i"])
    )
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        _, splits = _splits(tmp_path, manual_dir)
    assert len(splits["test"]) == 3
    assert "validation.csv:4 (does not have the 9 columns)" in caplog.text
    assert "validation.csv:5 (a number column does not hold a number)" in caplog.text


def test_rows_are_streamed(tmp_path):
    # 20,000 more rows (coded none, so dropped): memory must not grow with the row count.
    manual_dir = tmp_path / "manual"
    shutil.copytree(DUMMY, manual_dir)
    path = manual_dir / "Manually_Annotated_file_lists" / "training.csv"
    landmarks = ";".join(["1.0"] * 136)
    with open(path, "a") as handle:
        for i in range(20_000):
            handle.write(f"9/{i:056x}.jpg,1,1,10,10,{landmarks},8,-2,-2\n")
    builder = affectnet.Builder(data_dir=str(tmp_path / "data"))
    tracemalloc.start()
    try:
        kept = sum(1 for _ in builder._generate_examples(path, DUMMY / "Manually_Annotated_Images"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept == 5
    assert peak < 2_000_000, peak  # the rows are ~15 MB as text, more as parsed rows


def test_missing_or_wrong_manual_dir(tmp_path):
    testing.assert_missing_manual_dir(_splits, tmp_path, "mohammadmahoor.com/affectnet")
    wrong = tmp_path / "wrong"
    shutil.copytree(DUMMY / "Manually_Annotated_file_lists", wrong / "lists")
    message = testing.manual_error(_splits, tmp_path, wrong)
    assert "Manually_Annotated_Images/" in message and "lists/training.csv" in message
    (wrong / "lists" / "training.csv").write_text("path,label\n")
    (wrong / "Manually_Annotated_Images" / "1").mkdir(parents=True)
    with pytest.raises(manual.ManualDataError, match="does not have AffectNet's columns"):
        _splits(tmp_path, wrong)
