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
import tensorflow_datasets as tfds
from PIL import Image

from ferzoo.datasets import manual, testing

pytestmark = pytest.mark.tf_only

HERE = Path(__file__).resolve().parent
NAME = "ck_plus"
DUMMY = HERE / "dummy_data"
DUMMY_CK48 = HERE / "ck48" / "dummy_data"


ck = testing.builder_module(NAME)


if testing.HAS_DILL:

    class CkPlusPeak3Test(tfds.testing.DatasetBuilderTestCase):
        DATASET_CLASS = ck.Builder
        BUILDER_CONFIG_NAMES_TO_TEST = ["peak3"]
        SPLITS = {"train": 8}  # 3 labelled sequences x 3 peak frames, one corrupt
        SKIP_CHECKSUMS = True

    class CkPlusNeutralTest(tfds.testing.DatasetBuilderTestCase):
        DATASET_CLASS = ck.Builder
        BUILDER_CONFIG_NAMES_TO_TEST = ["peak3_neutral"]
        SPLITS = {"train": 11}  # + the first frame of each labelled sequence
        SKIP_CHECKSUMS = True

    class Ck48Test(tfds.testing.DatasetBuilderTestCase):
        DATASET_CLASS = ck.Builder
        EXAMPLE_DIR = str(DUMMY_CK48)
        BUILDER_CONFIG_NAMES_TO_TEST = ["peak3"]
        SPLITS = {"train": 8}  # 9 PNGs, one corrupt
        SKIP_CHECKSUMS = True

else:

    @pytest.mark.skip(reason="tfds.testing.DatasetBuilderTestCase needs `pip install dill`")
    def test_dataset_builder_test_case():
        pass


def _examples(tmp_path: Path, manual_dir: Path, config: str = "peak3"):
    builder = ck.Builder(data_dir=str(tmp_path / "data"), config=config)
    dl = testing.download_manager(tmp_path, manual_dir, ck.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS)
    return builder, dict(builder._split_generators(dl)["train"])


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
    summary = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(summary) == 1
    assert "skipped 1 file(s)" in summary[0] and "S011_001_00000004.png" in summary[0]


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
    config = ck.CkPlusConfig(name="peak1", peak_frames=1)
    builder = ck.Builder(data_dir=str(tmp_path / "data"), config=config)
    dl = testing.download_manager(tmp_path, DUMMY, "x")
    keys = sorted(k for k, _ in builder._split_generators(dl)["train"])
    assert keys == ["S005_001_00000011.png", "S010_002_00000006.png"]  # S011's last is corrupt


def test_ck48_is_recognised(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        _, examples = _examples(tmp_path, DUMMY_CK48)
    assert len(examples) == 8
    ex = examples["anger/S010_004_00000017.png"]
    assert (ex["label"], ex["subject_id"], ex["sequence"], ex["frame"]) == ("anger", "S010", 4, 17)
    assert ex["filename"] == "S010_004_00000017.png"
    np.testing.assert_array_equal(ex["face_box"], [0, 0, 1, 1])
    assert {e["label"] for e in examples.values()} == set(ck.EMOTIONS)
    assert "S011_001_00000016.png" in caplog.text and "skipped 1 file(s)" in caplog.text


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
    with pytest.raises(manual.ManualDataError) as info:
        _examples(tmp_path, manual_dir)
    message = str(info.value)
    assert "S005_001_00000011_emotion.txt" in message and "Emotion_labels.zip" in message
    assert "cohn-kanade-images/S005/" in message  # what was found


def test_missing_or_wrong_manual_dir(tmp_path):
    with pytest.raises(manual.ManualDataError) as info:
        _examples(tmp_path, tmp_path / "nowhere")
    assert "jeffcohn.net" in str(info.value) and "cohn-kanade-images" in str(info.value)
    wrong = tmp_path / "wrong"
    (wrong / "faces" / "happy").mkdir(parents=True)
    (wrong / "faces" / "happy" / "img1.png").write_bytes(b"x")
    with pytest.raises(manual.ManualDataError) as info:
        _examples(tmp_path, wrong)
    assert "could not find CK+" in str(info.value) and "faces/happy/" in str(info.value)


def test_ck48_with_an_unknown_class_folder_is_a_layout_error(tmp_path):
    manual_dir = tmp_path / "manual"
    shutil.copytree(DUMMY_CK48, manual_dir)
    shutil.copytree(manual_dir / "CK+48" / "happy", manual_dir / "CK+48" / "happiness")
    with pytest.raises(manual.ManualDataError) as info:
        _examples(tmp_path, manual_dir)
    assert "`happiness/`" in str(info.value) and "anger, contempt" in str(info.value)
