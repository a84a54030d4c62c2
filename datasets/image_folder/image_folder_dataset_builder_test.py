"""Tests for the image_folder builder on dummy data (random pixels, see make_dummy_data.py): the
split layout in dummy_data/ and the class-folders-only layout in flat/dummy_data/."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ferzoo.datasets import facts, manual, testing

pytestmark = pytest.mark.tf_only

image_folder = testing.builder_module("image_folder")
HERE = Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"
DUMMY_FLAT = HERE / "flat" / "dummy_data"
PATTERN = r"^(P[0-9]+)_"


# One corrupt train image; IMG_0001.jpg has no subject in its name.
ImageFolderSplitsTest = testing.builder_test_case(
    "ImageFolderSplitsTest",
    image_folder.Builder,
    {"train": 5, "validation": 2, "test": 2},
    config=image_folder.config_for(DUMMY, PATTERN),
)
ImageFolderClassesTest = testing.builder_test_case(  # one corrupt image
    "ImageFolderClassesTest",
    image_folder.Builder,
    {"train": 6},
    config=image_folder.config_for(DUMMY_FLAT, face_box="full"),
    example_dir=DUMMY_FLAT,
)


def _splits(tmp_path: Path, config, manual_dir: Path | None = None):
    return testing.split_examples(
        image_folder.Builder, tmp_path, manual_dir or config.folder, config
    )


def test_config_for_scans_classes_and_names_by_folder_and_pattern(tmp_path):
    config = image_folder.config_for(DUMMY, PATTERN)
    assert config.class_names == ("angry", "happy", "sad") and config.layout == "splits"
    assert config.folder == str(DUMMY.resolve()) and config.subject_pattern == PATTERN
    assert config.name.startswith("dummy_data-") and len(config.name) == len("dummy_data-") + 12
    assert image_folder.config_for(DUMMY, PATTERN).name == config.name  # deterministic
    others = [
        image_folder.config_for(DUMMY),
        image_folder.config_for(DUMMY, r"^(P\d)"),
        image_folder.config_for(DUMMY, PATTERN, face_box="full"),
        image_folder.config_for(DUMMY_FLAT, PATTERN),
    ]
    assert len({config.name, *(c.name for c in others)}) == 5
    # A copy elsewhere is another folder; a new class folder there changes the name again.
    copy = tmp_path / "dummy_data"
    shutil.copytree(DUMMY, copy)
    moved = image_folder.config_for(copy, PATTERN)
    assert moved.name != config.name and moved.name.startswith("dummy_data-")
    shutil.copytree(copy / "train" / "sad", copy / "train" / "surprised")
    grown = image_folder.config_for(copy, PATTERN)
    assert grown.class_names[-1] == "surprised" and grown.name != moved.name


def test_config_for_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="folder="):
        image_folder.config_for(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="subject_pattern="):
        image_folder.config_for(DUMMY, "(P[0-9]+")
    with pytest.raises(ValueError, match="face_box="):
        image_folder.config_for(DUMMY, face_box="haar")
    with pytest.raises(ValueError, match="at least 2 class folders"):
        image_folder.config_for(DUMMY_FLAT / "happy")  # one level too deep: images, no classes
    mixed = tmp_path / "mixed"
    shutil.copytree(DUMMY, mixed)
    shutil.copytree(DUMMY_FLAT / "happy", mixed / "happy")
    with pytest.raises(ValueError, match=r"split folders \(test, train, val\).*happy"):
        image_folder.config_for(mixed)


def test_split_layout_with_subjects(tmp_path, caplog):
    config = image_folder.config_for(DUMMY, PATTERN)
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        builder, splits = _splits(tmp_path, config)
    assert builder.info.features["label"].names == ["angry", "happy", "sad"]
    assert facts.of(builder).has_subjects and not facts.of(image_folder.Builder).has_subjects
    assert sorted(splits["validation"]) == ["val/happy/P04_f.jpg", "val/sad/P04_g.jpg"]
    train = splits["train"]
    assert sorted(train) == [
        "train/angry/P01_a.jpg",
        "train/angry/P02_b.PNG",
        "train/happy/P01_c.jpg",
        "train/happy/session2/P03_d.jpg",
        "train/sad/P02_e.JPG",
    ]
    nested = train["train/happy/session2/P03_d.jpg"]
    assert (nested["label"], nested["subject_id"]) == ("happy", "P03")
    assert {ex["subject_id"] for split in splits.values() for ex in split.values()} == {
        "P01",
        "P02",
        "P03",
        "P04",
        "P05",
    }
    assert "test/sad/IMG_0001.jpg (name does not match subject_pattern" in caplog.text
    assert "train/sad/P03_corrupt.jpg (cannot be decoded" in caplog.text
    assert "train/P09_unsorted.jpg (not inside a class folder)" in caplog.text
    ymin, xmin, ymax, xmax = nested["face_box"]  # random pixels: the center-crop fallback
    assert 0 < ymin < ymax < 1 and 0 <= xmin < xmax <= 1


def test_without_pattern_every_image_counts_and_subject_is_empty(tmp_path):
    builder, splits = _splits(tmp_path, image_folder.config_for(DUMMY))
    assert {s: len(v) for s, v in splits.items()} == {"train": 5, "validation": 2, "test": 3}
    assert {ex["subject_id"] for s in splits.values() for ex in s.values()} == {""}
    assert not facts.of(builder).has_subjects


def test_flat_layout_is_one_train_split_with_full_boxes(tmp_path):
    config = image_folder.config_for(DUMMY_FLAT, r"^S(\d)_", face_box="full")
    assert config.layout == "classes"
    _, splits = _splits(tmp_path, config)
    assert list(splits) == ["train"] and len(splits["train"]) == 6
    ex = splits["train"]["happy/S3_4.png"]
    assert (ex["label"], ex["subject_id"], ex["filename"]) == ("happy", "3", "happy/S3_4.png")
    np.testing.assert_array_equal(ex["face_box"], [0, 0, 1, 1])


def test_tfds_builder_takes_config_objects_and_keeps_folders_apart(tmp_path):
    data_dir = str(tmp_path / "tfds")
    split_config = image_folder.config_for(DUMMY, PATTERN)
    flat_config = image_folder.config_for(DUMMY_FLAT, face_box="full")
    built = {}
    for config in (split_config, flat_config):
        builder = tfds.builder("image_folder", config=config, data_dir=data_dir)
        assert isinstance(builder, image_folder.Builder) and builder.builder_config is config
        builder.download_and_prepare()  # no manual_dir: the config's folder is read
        built[config.name] = builder
    dirs = {b.data_dir for b in built.values()}
    assert len(dirs) == 2
    assert all(Path(d).parent.parent == Path(data_dir) / "image_folder" for d in dirs)
    assert built[split_config.name].info.splits["train"].num_examples == 5
    assert built[flat_config.name].info.splits["train"].num_examples == 6
    # Reopened by name, without the folder: TFDS reads the prepared copy's own metadata.
    reopened = tfds.builder(f"image_folder/{split_config.name}", data_dir=data_dir)
    assert reopened.info.features["label"].names == ["angry", "happy", "sad"]
    example = next(iter(tfds.as_numpy(reopened.as_dataset(split="validation"))))
    assert example["subject_id"] == b"P04"


def test_refuses_no_config_other_manual_dir_and_changed_folder(tmp_path):
    builder = image_folder.Builder(data_dir=str(tmp_path / "data"))
    assert builder.info.features["label"].names == []
    dl = testing.download_manager(
        tmp_path, DUMMY, image_folder.Builder.MANUAL_DOWNLOAD_INSTRUCTIONS
    )
    with pytest.raises(ValueError, match="config_for"):
        builder._split_generators(dl)
    with pytest.raises(ValueError, match="is not the folder of config"):
        _splits(tmp_path, image_folder.config_for(DUMMY), manual_dir=DUMMY_FLAT)
    copy = tmp_path / "copy"
    shutil.copytree(DUMMY_FLAT, copy)
    config = image_folder.config_for(copy)
    shutil.rmtree(copy / "sad")
    shutil.copytree(copy / "happy", copy / "calm")
    with pytest.raises(manual.ManualDataError, match=r"\['angry', 'calm', 'happy'\]"):
        _splits(tmp_path, config)
    with pytest.raises(manual.ManualDataError, match="matches none of the"):
        _splits(tmp_path, image_folder.config_for(copy, r"^(P[0-9]+)_"))
