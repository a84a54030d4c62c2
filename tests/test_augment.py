"""ferzoo.data.augment, the NumPy reference of the FER training augmentation (the training
step applies `ferzoo.layers.FaceAugment`), and what both batching paths give the trainer."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

from ferzoo.data import augment as A
from ferzoo.data.parts import LoadedData, Part

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free


def _image(h=32, w=32, seed=0):
    return np.random.default_rng(seed).random((h, w, 3), dtype=np.float32)


def _ramp(h=32, w=32):
    """Pixel value = column / (w - 1): the output's values tell which columns it shows."""
    return np.tile((np.arange(w, dtype=np.float32) / (w - 1))[None, :, None], (h, 1, 3))


def test_zero_strength_is_the_identity_and_a_seed_repeats():
    image = _image()
    assert np.array_equal(A.augment_image(image, 5, 0.0), image)
    a, b = A.augment_image(image, 5, 0.5), A.augment_image(image, 5, 0.5)
    assert np.array_equal(a, b) and a.dtype == np.float32 and a.shape == image.shape
    assert not np.array_equal(a, A.augment_image(image, 6, 0.5))
    assert not np.allclose(a, image)
    assert 0.0 <= a.min() and a.max() <= 1.0


def test_the_identity_draw_and_the_flip_are_exact():
    image = _image(24, 32)
    same = A.Draw(crop=(0.0, 0.0, 24.0, 32.0), flip=False, angle=0.0, brightness=0.0, contrast=1.0)
    assert np.array_equal(A.apply(image, same), image)
    mirrored = A.Draw(crop=(0.0, 0.0, 24.0, 32.0), flip=True, angle=0.0, brightness=0.0,
                      contrast=1.0)  # fmt: skip
    assert np.array_equal(A.apply(image, mirrored), image[:, ::-1])


def test_a_crop_is_the_window_resized_back():
    image = _image()
    zoom = A.Draw(crop=(8.0, 4.0, 16.0, 16.0), flip=False, angle=0.0, brightness=0.0, contrast=1.0)
    expected = cv2.resize(image[8:24, 4:20], (32, 32), interpolation=cv2.INTER_LINEAR)
    # cv2.resize clamps at the window's edge where the warp reads the real neighbours: interior.
    np.testing.assert_allclose(A.apply(image, zoom)[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-6)


def test_the_crop_stays_inside_the_face_crop():
    h, w = 30, 40
    ramp = _ramp(h, w)
    for seed in range(300):
        d = A.draw(seed, 1.0, (h, w, 3))
        top, left, ch, cw = d.crop
        assert 0 <= top and top + ch <= h + 1e-9 and 0 <= left and left + cw <= w + 1e-9
        assert A.MIN_SCALE - 1e-9 <= ch * cw / (h * w) <= 1.0 + 1e-9
        assert 0.9 - 1e-9 <= (cw / w) / (ch / h) <= 1.1 + 1e-9 or ch == h or cw == w
        # Without rotation, the output shows only the window: pixel centres are at integers, so
        # its edges are at left - 0.5 and left + cw - 0.5 (OpenCV's fixed point: 1/16 pixel).
        out = A.apply(ramp, A.Draw(d.crop, False, 0.0, 0.0, 1.0)) * (w - 1)
        assert out.min() >= left - 0.5 - 1 / 16 and out.max() <= left + cw - 0.5 + 1 / 16


def test_statistics_over_seeds():
    draws = [A.draw(seed, 1.0, (48, 48, 3)) for seed in range(2000)]
    flips = np.mean([d.flip for d in draws])
    angles = np.array([d.angle for d in draws])
    areas = np.array([d.crop[2] * d.crop[3] / 48**2 for d in draws])
    bright = np.array([d.brightness for d in draws])
    contrast = np.array([d.contrast for d in draws])
    assert 0.46 < flips < 0.54  # half of the faces mirrored
    assert np.abs(angles).max() <= A.MAX_ROTATION and np.abs(angles).max() > 14.5
    assert abs(angles.mean()) < 0.5
    assert areas.min() >= 0.75 - 1e-9 and abs(areas.mean() - 0.875) < 0.01
    assert np.abs(bright).max() <= 0.2 and np.abs(bright).max() > 0.19
    assert np.abs(contrast - 1).max() <= 0.3 + 1e-9 and np.abs(contrast - 1).max() > 0.29
    # The strength scales the same draw: half the strength, half the angle and colour change.
    for seed in range(20):
        full, half = A.draw(seed, 1.0, (48, 48, 3)), A.draw(seed, 0.5, (48, 48, 3))
        assert half.flip == full.flip
        assert half.angle == pytest.approx(full.angle / 2)
        assert half.brightness == pytest.approx(full.brightness / 2)
    assert A.DEFAULT_STRENGTH == 0.5


@pytest.mark.parametrize("bad", [-0.1, 1.5, "strong", None])
def test_a_bad_strength_is_named(bad):
    with pytest.raises(ValueError, match="augment must be in"):
        A.augment_image(_image(), 0, bad)


# --- the batching paths: uint8 gathered by index, never augmented on the host ---------------


def _arrays(n=10, size=24):
    images = np.random.default_rng(1).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return images, np.arange(n, dtype=np.int32)  # label = example index: tells the source


def _pipelines():
    return ["numpy", "tf.data"] if keras.backend.backend() == "tensorflow" else ["numpy"]


def _loaded(pipeline, augment=0.5, normalization=None):
    images, labels = _arrays(12)
    parts = {p: Part(images[i::3], labels[i::3], tuple(map(str, labels[i::3])))
             for i, p in enumerate(("train", "validation", "test"))}  # fmt: skip
    return images, LoadedData(parts, batch_size=2, augment=augment, seed=0, pipeline=pipeline,
                              name="x", protocol="subject", fold=0, num_folds=3, image_size=24,
                              class_names=tuple("abcdefghijkl"), subjects={},
                              normalization=normalization)  # fmt: skip


@pytest.mark.parametrize("pipeline", _pipelines())
def test_the_trainer_gets_uint8_pixels_gathered_by_index(pipeline):
    """`uint8_batches()`: the cached pixels themselves (no conversion, no augmentation), the
    training part shuffled anew each epoch, the others in order; the float batches are the
    same examples in the same order, divided by 255 (and normalised), none augmented."""
    images, data = _loaded(pipeline, normalization={"mean": [0.5] * 3, "std": [0.25] * 3})
    raw = data.uint8_batches()
    for part in ("train", "validation", "test"):
        x, order = _epoch(raw[part])
        assert x.dtype == np.uint8 and np.array_equal(x, images[order])
        if part == "train":
            assert sorted(order) == sorted(data.parts["train"].labels)
        else:
            assert np.array_equal(order, data.parts[part].labels)  # in order
        floats, same = _epoch(data[part])
        if part != "train":  # tf.data reshuffles the training part on each pass
            assert np.array_equal(same, order)
        expected = (images[same].astype(np.float32) / np.float32(255) - 0.5) / 0.25
        assert floats.dtype == np.float32 and np.allclose(floats, expected, atol=1e-6)
    first, second = _epoch(raw["train"])[1], _epoch(raw["train"])[1]
    if pipeline == "numpy":  # Keras calls on_epoch_end between epochs
        raw["train"].on_epoch_end()
        second = _epoch(raw["train"])[1]
    assert not np.array_equal(first, second)  # a new order each epoch (these seeds)


@pytest.mark.tf_only
def test_tf_data_pipelines_share_one_tensor_per_part():
    """The float batches, the trainer's uint8 batches and a rebatched copy hold a part's
    images once in TensorFlow (each conversion would copy them), and let go with the array."""
    import gc

    from ferzoo.data import batching

    images, data = _loaded("tf.data")
    data.uint8_batches()
    data.rebatched(batch_size=3)
    array = data.parts["train"].images
    assert batching._TENSORS[id(array)][1] is batching._tensor(array)
    count = len(batching._TENSORS)
    del images, data, array
    gc.collect()
    assert len(batching._TENSORS) < count


@pytest.mark.parametrize("pipeline", _pipelines())
def test_validation_and_test_parts_are_never_augmented(pipeline):
    images, data = _loaded(pipeline)
    for part in ("validation", "test"):
        got, order = _epoch(data[part])
        assert np.array_equal(order, data.parts[part].labels)  # in order: not shuffled
        assert np.array_equal(got, data.parts[part].images.astype(np.float32) / np.float32(255))
    train, order = _epoch(data["train"])  # the host never augments: the device does
    assert np.array_equal(train, images[order].astype(np.float32) / np.float32(255))


def _epoch(batches):
    pairs = _iterate(batches)
    return (np.concatenate([np.asarray(x) for x, _ in pairs]),
            np.concatenate([np.asarray(y) for _, y in pairs]))  # fmt: skip


def _iterate(batches):
    if hasattr(batches, "as_numpy_iterator"):
        return list(batches.as_numpy_iterator())
    return [batches[i] for i in range(len(batches))]


def test_training_augments_by_default_everywhere():
    import argparse
    import inspect

    from ferzoo import defaults
    from ferzoo.commands import common
    from ferzoo.data import loader
    from ferzoo.training.config import DataConfig

    assert inspect.signature(loader.load).parameters["augment"].default == A.DEFAULT_STRENGTH
    assert DataConfig("synthetic_faces").augment == A.DEFAULT_STRENGTH
    assert defaults.AUGMENT_STRENGTH == A.DEFAULT_STRENGTH

    parser = argparse.ArgumentParser()
    common.add_train_args(parser)
    assert parser.parse_args([]).augment == A.DEFAULT_STRENGTH
    assert parser.parse_args(["--augment", "0"]).augment == 0.0
