"""Tests for the KDEF builder on dummy data (random pixels in the real layout, see
make_dummy_data.py): both sessions of two people, several views, `.JPG` and `.jpg`, a Thumbs.db
and a corrupt JPEG."""

from __future__ import annotations

import logging
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from ferzoo.datasets import testing

pytestmark = pytest.mark.tf_only

kdef = testing.builder_module("kdef")
HERE = Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"


KdefAllViewsTest = testing.builder_test_case(  # 9 JPEGs, one corrupt
    "KdefAllViewsTest", kdef.Builder, {"train": 8}, config="all"
)
KdefFrontalTest = testing.builder_test_case(  # the S view; the corrupt one is an S view
    "KdefFrontalTest", kdef.Builder, {"train": 4}, config="frontal"
)


def _examples(tmp_path: Path, manual_dir: Path, config: str = "all"):
    builder, splits = testing.split_examples(kdef.Builder, tmp_path, manual_dir, config)
    return builder, splits["train"]


def test_subjects_merge_sessions_and_views_parse(tmp_path):
    builder, examples = _examples(tmp_path, DUMMY)
    assert sorted(examples) == sorted(
        [
            "AF01ANS.JPG",
            "AF01ANHL.JPG",
            "AF01HAFR.JPG",
            "BF01ANS.JPG",
            "BF01NEFL.jpg",
            "AM02SUS.JPG",
            "AM02AFHR.jpg",
            "BM02DIS.JPG",
        ]
    )
    a, b = examples["AF01ANS.JPG"], examples["BF01NEFL.jpg"]
    assert (a["subject_id"], a["session"], a["view"], a["label"]) == ("F01", "A", "S", "angry")
    assert (b["subject_id"], b["session"], b["view"], b["label"]) == ("F01", "B", "FL", "neutral")
    hl = examples["AF01ANHL.JPG"]
    assert (hl["view"], hl["label"]) == ("HL", "angry")
    assert (examples["AM02AFHR.jpg"]["label"], examples["AM02AFHR.jpg"]["view"]) == ("afraid", "HR")
    assert {ex["subject_id"] for ex in examples.values()} == {"F01", "M02"}
    assert builder.info.features["label"].names == list(kdef.CLASS_NAMES)
    # The original JPEG bytes are stored unchanged.
    path = DUMMY / "KDEF_and_AKDEF" / "KDEF" / "AF01" / "AF01ANS.JPG"
    assert a["image"] == path.read_bytes()
    assert a["face_box"].dtype == np.float32 and a["face_box"].shape == (4,)


def test_frontal_config_keeps_the_straight_view(tmp_path):
    _, examples = _examples(tmp_path, DUMMY, config="frontal")
    assert sorted(examples) == ["AF01ANS.JPG", "AM02SUS.JPG", "BF01ANS.JPG", "BM02DIS.JPG"]


def test_corrupt_and_misnamed_files_are_skipped_and_reported(tmp_path, caplog):
    manual_dir = tmp_path / "manual"
    (manual_dir / "KDEF").mkdir(parents=True)
    kdef_dir = DUMMY / "KDEF_and_AKDEF" / "KDEF"
    for sub in kdef_dir.iterdir():
        (manual_dir / "KDEF" / sub.name).symlink_to(sub)
    (manual_dir / "KDEF" / "AM03").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(manual_dir / "KDEF" / "AM03" / "AM03XX.JPG")
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        _, examples = _examples(tmp_path, manual_dir)
    assert len(examples) == 8
    testing.assert_skipped(caplog, 2, "BM02SAS.JPG (cannot be decoded", "AM03XX.JPG")
    assert "Thumbs.db" not in caplog.text


def test_reads_the_tar_gz_and_builds(tmp_path):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    with tarfile.open(manual_dir / "KDEF_and_AKDEF.tar.gz", "w:gz") as tf:
        tf.add(DUMMY / "KDEF_and_AKDEF", arcname="KDEF_and_AKDEF")
    builder = kdef.Builder(data_dir=str(tmp_path / "data"), config="frontal")
    builder.download_and_prepare(
        download_dir=str(tmp_path / "downloads"),
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)),
    )
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    assert len(examples) == 4
    assert all(ex["image"].shape == (32, 24, 3) for ex in examples)
    assert sorted(ex["subject_id"] for ex in examples) == [b"F01", b"F01", b"M02", b"M02"]


def test_missing_manual_dir_gives_the_instructions(tmp_path):
    testing.assert_missing_manual_dir(_examples, tmp_path, "kdef.se", "AF01ANS.JPG")


def test_wrong_layout_says_what_was_expected_and_found(tmp_path):
    manual_dir = testing.write_files(tmp_path / "manual", "KDEF/person1/happy.jpg")
    message = testing.manual_error(_examples, tmp_path, manual_dir)
    assert "could not find the KDEF folder" in message and "AF01ANS.JPG" in message
    assert "KDEF/person1/" in message
