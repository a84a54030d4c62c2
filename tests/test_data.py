"""ferzoo.data: the protocols' split logic (pure) and the pipelines on synthetic_faces/tiny."""

import numpy as np
import pytest

from ferzoo import data

TINY = "synthetic_faces/tiny"  # 10 subjects x 7 classes x 2 images, 48x48


# --- split logic on fake columns (all backends) ---------------------------------------------


def _jaffe_like():
    subjects = np.repeat([f"P{i}" for i in range(10)], 21)
    labels = np.tile(np.repeat(np.arange(7), 3), 10)
    return labels, subjects


def test_stratified_split_is_stratified_and_seeded():
    labels = np.repeat(np.arange(7), 30)
    a = data.stratified_split(labels, (0.63, 0.07, 0.30), seed=0)
    b = data.stratified_split(labels, (0.63, 0.07, 0.30), seed=0)
    c = data.stratified_split(labels, (0.63, 0.07, 0.30), seed=1)
    for part, count in (("train", 19), ("validation", 2), ("test", 9)):
        assert np.bincount(labels[a[part]], minlength=7).tolist() == [count] * 7
        np.testing.assert_array_equal(a[part], b[part])
    assert not np.array_equal(a["test"], c["test"])
    assert sorted(np.concatenate(list(a.values())).tolist()) == list(range(len(labels)))


def test_jaffe_like_subject_protocol_is_leave_one_subject_out():
    labels, subjects = _jaffe_like()
    tested = []
    for fold in range(10):
        index = data.split_indices("jaffe", labels, subjects, protocol="subject", fold=fold)
        parts = {p: set(subjects[i].tolist()) for p, i in index.items()}
        assert len(parts["test"]) == 1 and len(parts["validation"]) == 1
        assert not (parts["train"] & parts["test"] or parts["train"] & parts["validation"])
        assert not parts["validation"] & parts["test"]
        assert sum(len(i) for i in index.values()) == len(labels)
        tested += sorted(parts["test"])
    assert sorted(tested) == sorted(set(subjects.tolist()))  # each subject tested exactly once


def test_kdef_sessions_of_one_person_stay_together():
    subjects = np.array(["AF01", "BF01", "AM02", "BM02", "F03", "M04"] * 3)
    labels = np.zeros(len(subjects), int)
    for fold in range(3):
        index = data.split_indices(
            "kdef", labels, subjects, protocol="subject", fold=fold, num_folds=3
        )
        where = {s: p for p, idx in index.items() for s in subjects[idx].tolist()}
        assert where["AF01"] == where["BF01"] and where["AM02"] == where["BM02"]


def test_paper_protocol_keeps_a_distributed_split():
    labels = np.zeros(10, int)
    sources = np.array(["train"] * 6 + ["validation"] * 2 + ["test"] * 2)
    index = data.split_indices("fesr", labels, np.array([""] * 10), sources, protocol="paper")
    assert index["train"].tolist() == list(range(6)) and index["test"].tolist() == [8, 9]


def test_bad_protocol_fold_and_folds_raise():
    labels, subjects = _jaffe_like()
    with pytest.raises(ValueError, match="protocol=.bogus"):
        data.split_indices("jaffe", labels, subjects, protocol="bogus")
    with pytest.raises(ValueError, match="fold=10"):
        data.split_indices("jaffe", labels, subjects, protocol="subject", fold=10)
    with pytest.raises(ValueError, match="fold=-1"):
        data.split_indices("jaffe", labels, subjects, protocol="paper", fold=-1)
    with pytest.raises(ValueError, match=r"num_folds=11.*\(10\)"):
        data.split_indices("jaffe", labels, subjects, protocol="subject", num_folds=11)
    with pytest.raises(ValueError, match="'fesr' has no subject ids"):
        data.split_indices("fesr", labels, np.array([""] * len(labels)), protocol="subject")


def test_preprocess_numpy():
    image = np.zeros((40, 60), np.uint8)
    image[:, 30:] = 255  # right half white
    out = data.preprocess(image, 16)
    assert isinstance(out, np.ndarray) and out.shape == (16, 16, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert out[:, :6].max() == 0.0 and out[:, -6:].min() == 1.0
    right = data.preprocess(image, 8, box=[0.0, 0.5, 1.0, 1.0])
    assert right.min() == 1.0
    rgba = np.dstack([np.full((20, 20, 3), 51, np.uint8), np.zeros((20, 20), np.uint8)])
    np.testing.assert_allclose(data.preprocess(rgba, 10), 0.2, atol=1e-6)
    with pytest.raises(ValueError, match="image_size"):
        data.preprocess(image, 0)
    with pytest.raises(ValueError, match="box"):
        data.preprocess(image, 8, box=[0, 0, 2, 1])


# --- pipelines on synthetic_faces/tiny (TensorFlow backend) ---------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tfds"))


@pytest.mark.tf_only
@pytest.mark.parametrize("protocol", ["paper", "subject"])
def test_pipelines_shapes_dtypes_and_sizes(data_dir, protocol):
    loaded = data.load(
        TINY, protocol=protocol, fold=1, image_size=32, batch_size=4, data_dir=data_dir, augment=0.5
    )
    assert set(loaded) == {"train", "validation", "test"}
    assert loaded.num_classes == 7 and loaded.class_names[3] == "happiness"
    assert sum(loaded.sizes.values()) == 140
    for part, ds in loaded.items():
        labels = []
        for images, batch_labels in ds:
            assert images.shape[1:] == (32, 32, 3) and images.dtype.name == "float32"
            assert batch_labels.dtype.name == "int32" and images.shape[0] <= 4
            assert 0.0 <= float(images.numpy().min()) and float(images.numpy().max()) <= 1.0
            labels += batch_labels.numpy().tolist()
        assert len(labels) == loaded.sizes[part]
        # every part is stratified in the tiny set (2 images per subject and class)
        assert len(set(np.bincount(labels, minlength=7).tolist())) == 1
    if protocol == "paper":
        assert loaded.sizes == {"train": 112, "validation": 14, "test": 14}
        assert loaded.subjects["train"] & loaded.subjects["test"]  # the leak it warns about
    else:
        assert len(loaded.subjects["test"]) == 1


@pytest.mark.tf_only
def test_subject_protocol_never_shares_a_subject(data_dir):
    for num_folds in (10, 4):
        tested = []
        for fold in range(num_folds):
            parts = data.subjects(TINY, protocol="subject", fold=fold, num_folds=num_folds,
                                  data_dir=data_dir)  # fmt: skip
            assert not parts["train"] & parts["test"]
            assert not parts["train"] & parts["validation"]
            assert not parts["validation"] & parts["test"]
            assert len(parts["train"] | parts["validation"] | parts["test"]) == 10
            tested += sorted(parts["test"])
        assert sorted(tested) == [f"S{i:02d}" for i in range(1, 11)]


@pytest.mark.tf_only
def test_paper_split_is_seeded(data_dir):
    a = data.subjects(TINY, protocol="paper", seed=0, data_dir=data_dir)
    assert a["train"] == {f"S{i:02d}" for i in range(1, 11)} and a["test"] < a["train"]
    first = [next(iter(data.load(TINY, seed=s, image_size=16, batch_size=14,
                                 data_dir=data_dir)["test"]))[0].numpy() for s in (0, 0, 1)]  # fmt: skip
    np.testing.assert_array_equal(first[0], first[1])
    assert not np.array_equal(first[0], first[2])


@pytest.mark.tf_only
def test_load_rejects_bad_arguments(data_dir):
    with pytest.raises(ValueError, match="protocol=.bogus"):
        data.load(TINY, protocol="bogus", data_dir=data_dir)
    with pytest.raises(ValueError, match="fold=10"):
        data.load(TINY, protocol="subject", fold=10, data_dir=data_dir)
    with pytest.raises(ValueError, match=r"num_folds=11.*\(10\)"):
        data.load(TINY, protocol="subject", num_folds=11, fold=0, data_dir=data_dir)
    with pytest.raises(ValueError, match="name='nope'"):
        data.load("nope", data_dir=data_dir)


@pytest.mark.tf_only
def test_missing_manual_data_gives_the_instructions(data_dir, tmp_path):
    import ferzoo.datasets

    if "jaffe" not in ferzoo.datasets.available():
        pytest.skip("the jaffe builder is not written yet")
    empty = tmp_path / "manual"
    empty.mkdir()
    with pytest.raises(data.DatasetNotReadyError, match="jaffe") as error:
        data.load("jaffe", data_dir=str(tmp_path / "tfds"), manual_dir=str(empty))
    instructions = ferzoo.datasets.builder_class("jaffe").MANUAL_DOWNLOAD_INSTRUCTIONS.strip()
    assert instructions.splitlines()[0] in str(error.value)
    assert "Traceback" not in str(error.value)


@pytest.mark.tf_only
@pytest.mark.parametrize("pipeline", ["tf.data", "numpy"])
def test_the_folds_of_a_dataset_share_its_images_and_device_table(data_dir, pipeline):
    """The images are read once for every fold (`source`), the device table is made once
    (`table_layer`), and each fold's rows index the examples its uint8 batches hold."""
    from ferzoo.training.device_input import table_layer

    folds = [data.load(TINY, protocol="subject", fold=k, image_size=32, batch_size=4,
                       data_dir=data_dir, pipeline=pipeline) for k in (0, 1)]  # fmt: skip
    assert folds[0].source is folds[1].source and not folds[0].source.flags.writeable
    assert table_layer(folds[0]) is table_layer(folds[1].rebatched(batch_size=8))
    for fold in folds:
        rows, pixels = fold.row_batches(), fold.uint8_batches()
        for part in ("train", "validation"):
            for (r, y1), (x, y2) in zip(rows[part], pixels[part], strict=True):
                np.testing.assert_array_equal(fold.source[np.asarray(r)], np.asarray(x))
                np.testing.assert_array_equal(np.asarray(y1), np.asarray(y2))
