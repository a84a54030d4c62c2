"""Tests for the JAFFE builder on dummy data (random pixels in the real layout, see
make_dummy_data.py): 7 readable TIFFs (one palette-mode, `.TIFF` and `.tif`), a corrupt one, a
README and a macOS `._` file."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from ferzoo.datasets import manual, testing

pytestmark = pytest.mark.tf_only

jaffe = testing.builder_module("jaffe")
HERE = Path(__file__).resolve().parent
DUMMY = HERE / "dummy_data"


JaffeTest = testing.builder_test_case("JaffeTest", jaffe.Builder, {"train": 7})  # 1 of 8 corrupt


def _build(tmp_path: Path, manual_dir: Path):
    builder = jaffe.Builder(data_dir=str(tmp_path / "data"))
    builder.download_and_prepare(
        download_dir=str(tmp_path / "downloads"),
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)),
    )
    return builder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    builder = _build(tmp_path_factory.mktemp("jaffe"), DUMMY)
    examples = list(tfds.as_numpy(builder.as_dataset(split="train")))
    return builder, {ex["filename"].decode(): ex for ex in examples}


def test_features_follow_the_file_names(built):
    builder, by_name = built
    assert builder.info.features["label"].names == list(jaffe.CLASS_NAMES)
    assert sorted(by_name) == sorted(
        [
            "KA.AN1.39.tiff",
            "KA.HA2.30.tiff",
            "KL.NE1.155.TIFF",
            "KM.SU3.16.tif",
            "NA.DI1.214.tiff",
            "TM.FE2.191.tiff",
            "YM.SA1.55.tiff",
        ]
    )
    ex = by_name["KA.HA2.30.tiff"]
    assert builder.info.features["label"].int2str(ex["label"]) == "happy"
    assert ex["subject_id"] == b"KA"
    assert (ex["repeat"], ex["image_number"]) == (2, 30)
    assert builder.info.features["label"].int2str(by_name["KM.SU3.16.tif"]["label"]) == "surprise"
    for ex in by_name.values():
        assert ex["image"].shape == (32, 32, 1) and ex["image"].dtype == np.uint8
        ymin, xmin, ymax, xmax = ex["face_box"]
        assert 0 <= ymin < ymax <= 1 and 0 <= xmin < xmax <= 1


def test_pixels_survive_including_palette_tiff(built):
    _, by_name = built
    folder = DUMMY / "jaffedbase"
    for name in ("KA.AN1.39.tiff", "KA.HA2.30.tiff", "KL.NE1.155.TIFF"):
        want = np.asarray(Image.open(folder / name).convert("L"))
        np.testing.assert_array_equal(by_name[name]["image"][..., 0], want)
    # The palette TIFF is not the raw palette indices.
    raw = np.asarray(Image.open(folder / "KA.HA2.30.tiff"))
    assert not np.array_equal(by_name["KA.HA2.30.tiff"]["image"][..., 0], raw)


def test_corrupt_file_is_skipped_and_reported(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="ferzoo.datasets"):
        _, splits = testing.split_examples(jaffe.Builder, tmp_path, DUMMY)
    assert len(splits["train"]) == 7 and "UY.AN1.146.tiff" not in splits["train"]
    testing.assert_skipped(caplog, 1, "UY.AN1.146.tiff")
    # Non-image files (README, the macOS `._` file) are ignored, not reported.
    assert "README" not in caplog.text and "._KA" not in caplog.text


def test_reads_the_zip_as_distributed(tmp_path):
    manual_dir = tmp_path / "manual"
    manual_dir.mkdir()
    with zipfile.ZipFile(manual_dir / "jaffedbase.zip", "w") as zf:
        for path in sorted((DUMMY / "jaffedbase").iterdir()):
            zf.write(path, f"jaffedbase/{path.name}")
        zf.writestr("__MACOSX/jaffedbase/._KA.AN1.39.tiff", b"\x00")
    builder = _build(tmp_path, manual_dir)
    assert builder.info.splits["train"].num_examples == 7


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_missing_or_empty_manual_dir_gives_the_instructions(tmp_path, make):
    testing.assert_missing_manual_dir(
        _build, tmp_path, "zenodo.org", "KA.AN1.39.tiff", empty=make == "empty"
    )


def test_wrong_layout_says_what_was_expected_and_found(tmp_path):
    manual_dir = tmp_path / "manual"
    (manual_dir / "photos").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(manual_dir / "photos" / "cat.png")
    (manual_dir / "notes.txt").write_text("not JAFFE")
    message = testing.manual_error(_build, tmp_path, manual_dir)
    assert "could not find a JAFFE folder" in message
    assert "photos/cat.png" in message and "notes.txt" in message


def test_read_image_converts_modes_and_rejects_garbage(tmp_path):
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "deep.png")  # 16-bit
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.PNG")
    Image.fromarray(gray).convert("CMYK").save(tmp_path / "cmyk.JPG")
    (tmp_path / "empty.tif").write_bytes(b"")
    deep = manual.read_image(tmp_path / "deep.png", channels=1)
    np.testing.assert_array_equal(deep.array[..., 0], gray)
    assert deep.encoded is None  # re-encoded: TF would read the 16 bits differently
    alpha = manual.read_image(tmp_path / "alpha.PNG", channels=3)
    np.testing.assert_array_equal(alpha.array, rgba[..., :3])
    assert manual.read_image(tmp_path / "cmyk.JPG", channels=3).array.shape == (8, 8, 3)
    assert manual.read_image(tmp_path / "empty.tif", channels=1) is None
    assert manual.read_image(tmp_path / "absent.png", channels=1) is None
    with pytest.raises(ValueError, match="channels=2"):
        manual.read_image(tmp_path / "deep.png", channels=2)
