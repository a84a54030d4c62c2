"""ferzoo.data's two readers: tf.data on the TFRecord shards, TFDS's data source on the ArrayRecord
copy (no TensorFlow). Both must give the same examples, in the same order, with the same ids
and pixels; `ferzoo data build` must write the copy once and add it to older preparations."""

import json
import os
import types

import cv2
import numpy as np
import pytest

from ferzoo import data
from ferzoo.data import base, preparation, readers, shards

TINY = "synthetic_faces/tiny"  # 10 subjects x 7 classes x 2 images, 48x48, one train split


def _tfds_build(name, data_dir, **kwargs):
    """Prepare with TFDS alone, as before ferzoo wrote the copy (or as `tfds build` does)."""
    import tensorflow_datasets as tfds

    import ferzoo.datasets  # noqa: F401  (registers the builders)

    builder = tfds.builder(name, data_dir=data_dir, **kwargs)
    builder.download_and_prepare()
    return tfds.builder(name, data_dir=data_dir, **kwargs)


# --- no TensorFlow needed (all backends) ------------------------------------------------------


def test_example_ids_follow_shards_and_positions():
    template = types.SimpleNamespace(
        replace=lambda filetype_suffix: types.SimpleNamespace(
            sharded_filepath=lambda shard_index, num_shards: (
                f"/d/x-train.{filetype_suffix}-{shard_index:05d}-of-{num_shards:05d}"
            )
        )
    )
    split = types.SimpleNamespace(filename_template=template, shard_lengths=[2, 3])
    assert shards.example_ids(split) == [
        "x-train.tfrecord-00000-of-00002__0",
        "x-train.tfrecord-00000-of-00002__1",
        "x-train.tfrecord-00001-of-00002__0",
        "x-train.tfrecord-00001-of-00002__1",
        "x-train.tfrecord-00001-of-00002__2",
    ]


def test_read_tfrecord_frames_and_truncation(tmp_path):
    records = [b"", b"a", b"xyz" * 100]
    path = tmp_path / "f.tfrecord"
    with open(path, "wb") as f:  # length, its CRC, the record, its CRC (CRCs unchecked)
        for r in records:
            f.write(len(r).to_bytes(8, "little") + b"\0" * 4 + r + b"\0" * 4)
    assert list(shards.read_tfrecord(path)) == records
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ValueError, match="truncated"):
        list(shards.read_tfrecord(path))


def test_reader_choice():
    assert readers.check_reader("numpy") == "numpy"
    assert readers.check_reader(None) == ("tf.data" if base.tensorflow_available() else "numpy")
    with pytest.raises(ValueError, match="reader='grain'"):
        readers.check_reader("grain")


# --- both readers on prepared data (needs TensorFlow installed to prepare) ------------------


@pytest.fixture(scope="module")
def data_dir(request):
    """synthetic_faces/tiny, prepared once per process (conftest.py's tiny_data_dir)."""
    pytest.importorskip("tensorflow")
    return request.getfixturevalue("tiny_data_dir")


def _assert_same_parts(a, b):
    for part in data.PARTS:
        assert a.parts[part].ids == b.parts[part].ids  # same examples, same order
        np.testing.assert_array_equal(a.parts[part].labels, b.parts[part].labels)
        np.testing.assert_array_equal(a.parts[part].images, b.parts[part].images)
    assert a.subjects == b.subjects and a.class_names == b.class_names


@pytest.mark.tf_only
def test_prepare_writes_the_copy_once(data_dir):
    found = preparation.builder(TINY, data_dir)
    files = sorted(os.listdir(found.data_dir))
    assert "synthetic_faces-train.array_record-00000-of-00001" in files
    with open(os.path.join(found.data_dir, "dataset_info.json")) as f:
        info = json.load(f)
    assert info["fileFormat"] == "tfrecord" and info["alternativeFileFormats"] == ["array_record"]
    assert shards.has_copy(found)
    assert preparation.ensure_copy(found) is False  # nothing left to write
    assert data.prepare(TINY, data_dir=data_dir) == os.fspath(found.data_dir)
    assert sorted(os.listdir(found.data_dir)) == files


@pytest.mark.tf_only
@pytest.mark.parametrize(("protocol", "fold"), [("paper", 0), ("subject", 3)])
def test_numpy_reader_matches_tf_data(data_dir, protocol, fold):
    kwargs = dict(protocol=protocol, fold=fold, num_folds=5, image_size=40, data_dir=data_dir,
                  pipeline="numpy")  # fmt: skip
    by_tf = data.load(TINY, reader="tf.data", **kwargs)
    by_np = data.load(TINY, reader="numpy", **kwargs)
    assert (by_tf.reader, by_np.reader) == ("tf.data", "numpy")
    _assert_same_parts(by_tf, by_np)
    assert sum(by_np.sizes.values()) == 140
    assert by_np.parts["train"].ids[0].startswith("synthetic_faces-train.tfrecord-00000-of-00001__")
    found = preparation.builder(TINY, data_dir)
    a, b = readers.columns_of(found, "tf.data"), readers.columns_of(found, "numpy")
    for field in ("ids", "labels", "subject_ids", "source_splits"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.tf_only
def test_older_preparation_gets_the_copy(tmp_path):
    pytest.importorskip("tensorflow")
    path = str(tmp_path / "tfds")
    found = _tfds_build(TINY, path)
    assert not shards.has_copy(found)
    with pytest.raises(data.DatasetNotReadyError, match="ferzoo data build synthetic_faces/tiny"):
        data.load(TINY, data_dir=path, reader="numpy", image_size=16)
    data.prepare(TINY, data_dir=path)  # `ferzoo data build`: adds the copy only
    assert shards.has_copy(preparation.builder(TINY, path))
    loaded = data.load(TINY, data_dir=path, reader="numpy", image_size=16, pipeline="numpy")
    assert sum(loaded.sizes.values()) == 140


def _image_folder(root):
    """train/ and test/ splits of 3 classes, PNG and JPEG files, subjects in the names."""
    rng = np.random.default_rng(0)
    for split, people in (("train", ("P1", "P2", "P3")), ("test", ("P4",))):
        for label in ("angry", "happy", "sad"):
            os.makedirs(root / split / label)
            for person in people:
                for k, ext in enumerate((".png", ".jpg")):
                    image = cv2.GaussianBlur(rng.integers(0, 256, (60, 50, 3), np.uint8), (5, 5), 0)
                    cv2.imwrite(str(root / split / label / f"{person}_{k}{ext}"), image)
    return root


@pytest.mark.tf_only
def test_readers_agree_on_several_splits_and_jpeg(tmp_path):
    pytest.importorskip("tensorflow")
    manual = _image_folder(tmp_path / "faces")
    kwargs = dict(data_dir=str(tmp_path / "tfds"), manual_dir=str(manual), image_size=24,
                  subject_pattern=r"^(P\d)_", pipeline="numpy")  # fmt: skip
    by_tf = data.load("image_folder", reader="tf.data", **kwargs)
    by_np = data.load("image_folder", reader="numpy", **kwargs)
    assert by_np.sizes["test"] == 6 and sum(by_np.sizes.values()) == 24
    _assert_same_parts(by_tf, by_np)  # JPEG too: one decoder
    found = preparation.prepared("image_folder", kwargs["data_dir"], str(manual),
                                 kwargs["subject_pattern"])  # fmt: skip
    cols = readers.columns_of(found, "numpy")
    assert list(cols.source_splits[:1]) == ["test"]  # sorted split names, then file order
