"""ferzoo.data.augment: the FER training augmentation, and how both batching paths apply it."""

from __future__ import annotations

import cv2
import keras
import numpy as np
import pytest

from ferzoo.data import augment as A
from ferzoo.data import batching
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


# --- the batching paths ----------------------------------------------------------------------


def _arrays(n=10, size=24):
    images = np.random.default_rng(1).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return images, np.arange(n, dtype=np.int32)  # label = example index: tells the source


def test_the_numpy_path_applies_augment_image_with_its_seeds():
    images, labels = _arrays()
    batches = batching.numpy_batches(images, labels, batch_size=4, train=True, seed=3,
                                     augment=0.5)  # fmt: skip
    position = 0
    for i in range(len(batches)):
        x, y = batches[i]
        for image, label in zip(x, y, strict=True):
            seed = batching.example_seed(3, 0, position)
            expected = A.augment_image(images[label] / np.float32(255), seed, 0.5)
            assert np.array_equal(image, expected)
            position += 1
    assert position == len(labels)


@pytest.mark.tf_only
def test_the_tf_data_path_applies_augment_image_with_its_seeds():
    import tensorflow as tf

    images, labels = _arrays()
    ds = batching.tf_dataset(images, labels, batch_size=4, train=True, seed=3, augment=0.5)
    seeds = list(batching.augment_seeds(3).take(len(labels)).as_numpy_iterator())
    first = [(x, y) for xb, yb in ds.as_numpy_iterator() for x, y in zip(xb, yb, strict=True)]
    assert sorted(int(y) for _, y in first) == labels.tolist()  # each example once
    for (image, label), seed in zip(first, seeds, strict=True):
        expected = A.augment_image(images[label].astype(np.float32) / np.float32(255), seed, 0.5)
        np.testing.assert_allclose(image, expected, atol=1e-6)
    # The tf.numpy_function wrapper is the NumPy function: the same (image, seed), same output.
    x = images[0].astype(np.float32) / np.float32(255)
    out = batching.tf_augment(tf.constant(x), tf.constant(12345, tf.int64), 0.5)
    assert np.array_equal(out.numpy(), A.augment_image(x, 12345, 0.5))
    # A second epoch draws new seeds; a pipeline built again repeats the first epoch.
    second = [x for xb, _ in ds.as_numpy_iterator() for x in xb]
    again = batching.tf_dataset(images, labels, batch_size=4, train=True, seed=3, augment=0.5)
    third = [x for xb, _ in again.as_numpy_iterator() for x in xb]
    assert not np.allclose(np.stack(second), np.stack([x for x, _ in first]))
    assert np.array_equal(np.stack(third), np.stack([x for x, _ in first]))


def _pipelines():
    return ["numpy", "tf.data"] if keras.backend.backend() == "tensorflow" else ["numpy"]


@pytest.mark.parametrize("pipeline", _pipelines())
def test_validation_and_test_parts_are_never_augmented(pipeline):
    images, labels = _arrays(12)
    parts = {p: Part(images[i::3], labels[i::3], tuple(map(str, labels[i::3])))
             for i, p in enumerate(("train", "validation", "test"))}  # fmt: skip
    data = LoadedData(parts, batch_size=2, augment=0.5, seed=0, pipeline=pipeline, name="x",
                      protocol="subject", fold=0, num_folds=3, image_size=24,
                      class_names=tuple("abcdefghijkl"), subjects={})  # fmt: skip
    for part in ("validation", "test"):
        got, order = _epoch(data[part])
        assert np.array_equal(order, parts[part].labels)  # in order: not shuffled
        assert np.array_equal(got, parts[part].images.astype(np.float32) / np.float32(255))
    train, order = _epoch(data["train"])  # one epoch (tf.data reshuffles on each)
    assert not np.allclose(train, images[order].astype(np.float32) / np.float32(255))
    plain, order = _epoch(data.rebatched(augment=0.0)["train"])
    assert np.array_equal(plain, images[order].astype(np.float32) / np.float32(255))


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
