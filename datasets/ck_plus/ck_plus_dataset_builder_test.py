"""Tests for the CK+ builder on dummy data (random pixels in the real layouts, see
make_dummy_data.py): CK+ with an RGB frame, an unlabelled sequence and a corrupt peak frame in
dummy_data/, and CK+48 with a corrupt file in ck48/dummy_data/."""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ferzoo.datasets import manual, testing

pytestmark = pytest.mark.tf_only

ck = testing.builder_module("ck_plus")
HERE = Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"
DUMMY_CK48 = HERE / "ck48" / "dummy_data"


CkPlusPeak3Test = testing.builder_test_case(  # 3 labelled sequences x 3 peak frames, 1 corrupt
    "CkPlusPeak3Test", ck.Builder, {"train": 8}, config="peak3"
)
CkPlusNeutralTest = testing.builder_test_case(  # + the first frame of each labelled sequence
    "CkPlusNeutralTest", ck.Builder, {"train": 11}, config="peak3_neutral"
)
Ck48Test = testing.builder_test_case(  # 9 PNGs, one corrupt
    "Ck48Test", ck.Builder, {"train": 8}, config="peak3", example_dir=DUMMY_CK48
)


def _examples(tmp_path: Path, manual_dir: Path, config="peak3"):
    builder, splits = testing.split_examples(ck.Builder, tmp_path, manual_dir, config)
    return builder, splits["train"]


def test_peak_frames_of_labelled_sequences(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        builder, examples = _examples(tmp_path, DUMMY)
    assert builder.info.features["label"].names == list(ck.EMOTIONS)
    assert sorted(examples) == [
        "S005_001_00000009.png",
        "S005_001_00000010.png",
        "S005_001_00000011.png",
        "S010_002_00000004.png",
        "S010_002_00000005.png",
        "S010_002_00000006.png",
        "S011_001_00000002.png",
        "S011_001_00000003.png",
    ]  # none of the unlabelled S010/001; S011_001_00000004.png is corrupt
    ex = examples["S005_001_00000011.png"]
    assert (ex["label"], ex["subject_id"], ex["sequence"], ex["frame"]) == (
        "disgust",
        "S005",
        1,
        11,
    )
    assert examples["S010_002_00000004.png"]["label"] == "surprise"
    assert examples["S011_001_00000002.png"]["label"] == "anger"
    testing.assert_skipped(caplog, 1, "S011_001_00000004.png")


def test_rgb_frame_becomes_grayscale(tmp_path):
    _, examples = _examples(tmp_path, DUMMY)
    rgb = examples["S010_002_00000005.png"]["image"]
    assert isinstance(rgb, np.ndarray) and rgb.shape == (24, 32, 1)  # re-encoded from RGB
    path = DUMMY / "cohn-kanade-images" / "S010" / "002" / "S010_002_00000005.png"
    np.testing.assert_array_equal(rgb[..., 0], np.asarray(Image.open(path).convert("L")))
    # Grayscale frames are stored as the original PNG bytes.
    gray = DUMMY / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000011.png"
    assert examples["S005_001_00000011.png"]["image"] == gray.read_bytes()


def test_neutral_config_adds_first_frames(tmp_path):
    builder, examples = _examples(tmp_path, DUMMY, config="peak3_neutral")
    assert builder.info.features["label"].names == ["neutral", *ck.EMOTIONS]
    neutral = sorted(k for k, ex in examples.items() if ex["label"] == "neutral")
    assert neutral == ["S005_001_00000001.png", "S010_002_00000001.png", "S011_001_00000001.png"]
    assert examples["S005_001_00000011.png"]["label"] == "disgust"
    assert len(examples) == 11


def test_custom_peak_frames(tmp_path):
    _, examples = _examples(tmp_path, DUMMY, ck.CkPlusConfig(name="peak1", peak_frames=1))
    # S011's last frame is corrupt.
    assert sorted(examples) == ["S005_001_00000011.png", "S010_002_00000006.png"]


def test_ck48_is_recognised(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        _, examples = _examples(tmp_path, DUMMY_CK48)
    assert len(examples) == 8
    ex = examples["anger/S010_004_00000017.png"]
    assert (ex["label"], ex["subject_id"], ex["sequence"], ex["frame"]) == ("anger", "S010", 4, 17)
    assert ex["filename"] == "S010_004_00000017.png"
    np.testing.assert_array_equal(ex["face_box"], [0, 0, 1, 1])
    assert {e["label"] for e in examples.values()} == set(ck.EMOTIONS)
    testing.assert_skipped(caplog, 1, "S011_001_00000016.png")


def test_ck48_neutral_config_needs_a_neutral_folder(tmp_path):
    with pytest.raises(manual.ManualDataError, match="no `neutral` folder"):
        _examples(tmp_path, DUMMY_CK48, config="peak3_neutral")


def test_reads_the_two_zips_as_distributed(tmp_path):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    for archive, folder in [
        ("extended-cohn-kanade-images.zip", "cohn-kanade-images"),
        ("Emotion_labels.zip", "Emotion"),
    ]:
        with zipfile.ZipFile(manual_dir / archive, "w") as zf:
            for path in sorted((DUMMY / folder).rglob("*")):
                zf.write(path, path.relative_to(DUMMY).as_posix())
    _, examples = _examples(tmp_path, manual_dir)
    assert len(examples) == 8


def test_images_without_labels_say_what_is_missing(tmp_path):
    manual_dir = tmp_path / "manual"
    shutil.copytree(DUMMY / "cohn-kanade-images", manual_dir / "cohn-kanade-images")
    message = testing.manual_error(_examples, tmp_path, manual_dir)
    assert "S005_001_00000011_emotion.txt" in message and "Emotion_labels.zip" in message
    assert "cohn-kanade-images/S005/" in message  # what was found


def test_missing_or_wrong_manual_dir(tmp_path):
    testing.assert_missing_manual_dir(_examples, tmp_path, "jeffcohn.net", "cohn-kanade-images")
    wrong = testing.write_files(tmp_path / "wrong", "faces/happy/img1.png")
    message = testing.manual_error(_examples, tmp_path, wrong)
    assert "could not find CK+" in message and "faces/happy/" in message


def test_ck48_with_an_unknown_class_folder_is_a_layout_error(tmp_path):
    manual_dir = testing.copy_with_folder(
        DUMMY_CK48, tmp_path / "manual", "CK+48/happy", "happiness"
    )
    message = testing.manual_error(_examples, tmp_path, manual_dir)
    assert "`happiness/`" in message and "anger, contempt" in message
