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

from ferzoo.datasets import manual, testing

pytestmark = pytest.mark.tf_only

HERE = Path(__file__).resolve().parent
NAME = "kdef"
DUMMY = HERE / "dummy_data"


kdef = testing.builder_module(NAME)


if testing.HAS_DILL:

    class KdefAllViewsTest(tfds.testing.DatasetBuilderTestCase):
        DATASET_CLASS = kdef.Builder
        BUILDER_CONFIG_NAMES_TO_TEST = ["all"]
        SPLITS = {"train": 8}  # 9 JPEGs, one corrupt
        SKIP_CHECKSUMS = True

    class KdefFrontalTest(tfds.testing.DatasetBuilderTestCase):
        DATASET_CLASS = kdef.Builder
        BUILDER_CONFIG_NAMES_TO_TEST = ["frontal"]
        SPLITS = {"train": 4}  # the straight (S) view; the corrupt one is an S view
        SKIP_CHECKSUMS = True

else:

    @pytest.mark.skip(reason="tfds.testing.DatasetBuilderTestCase needs `pip install dill`")
    def test_dataset_builder_test_case():
        pass


def _examples(tmp_path: Path, manual_dir: Path, config: str = "all", caplog=None):
    builder = kdef.Builder(data_dir=str(tmp_path / "data"), config=config)
    dl = testing.download_manager(tmp_path, manual_dir, kdef.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS)
    return builder, dict(builder._split_generators(dl)["train"])


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
    summary = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(summary) == 1 and "skipped 2 file(s)" in summary[0]
    assert "BM02SAS.JPG (cannot be decoded" in summary[0] and "AM03XX.JPG" in summary[0]
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
    with pytest.raises(manual.ManualDataError) as info:
        _examples(tmp_path, tmp_path / "nowhere")
    assert "kdef.se" in str(info.value) and "AF01ANS.JPG" in str(info.value)


def test_wrong_layout_says_what_was_expected_and_found(tmp_path):
    manual_dir = tmp_path / "manual"
    (manual_dir / "KDEF" / "person1").mkdir(parents=True)
    (manual_dir / "KDEF" / "person1" / "happy.jpg").write_bytes(b"x")
    with pytest.raises(manual.ManualDataError) as info:
        _examples(tmp_path, manual_dir)
    message = str(info.value)
    assert "could not find the KDEF folder" in message and "AF01ANS.JPG" in message
    assert "KDEF/person1/" in message
