"""ferzoo.training.reuse: one compiled model per architecture, reset for each run (every backend).

A reused run must give the numbers of a fresh build with its seed: the folds of a trial (other
data, one device table), another learning rate, augmentation strength or seed, and a run after
another one has trained the model (nothing of it may leak: weights, batch-norm statistics,
Adam's moments and step count, the augmentation's seed state).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.data.parts import LoadedData, Part
from ferzoo.layers.face_augment import FaceAugment
from ferzoo.training.reuse import Models

SMALL = {"depths": (1, 1, 1, 1), "widths": (8, 16, 16, 32)}
CLASSES = ("a", "b", "c", "d")


def _fold(source: np.ndarray, labels: np.ndarray, fold: int, *, augment: float) -> LoadedData:
    """Fold `fold` of 3 over one array of images: each part's examples are rows of `source`,
    so every fold has the same device table (as `ferzoo.data.load`'s folds do)."""
    n = len(labels)
    order = np.roll(np.arange(n), -fold * (n // 3))
    index = {"test": order[: n // 6], "validation": order[n // 6 : n // 3],
             "train": order[n // 3 :]}  # fmt: skip
    parts = {p: Part(source[i], labels[i], tuple(str(r) for r in i), rows=i)
             for p, i in index.items()}  # fmt: skip
    return LoadedData(parts, batch_size=8, augment=augment, seed=0, pipeline="numpy",
                      source=source, name="noise", protocol="subject", fold=fold, num_folds=3,
                      image_size=32, class_names=CLASSES,
                      subjects={p: set() for p in parts})  # fmt: skip


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    source.flags.writeable = False
    return source, (np.arange(60) % 4).astype(np.int32)


def _train(data, tmp_path, name, models, **kwargs):
    keyword = dict(epochs=2, learning_rate=1e-3, seed=0) | kwargs
    return ferzoo.train("resnet18", data, model_overrides=SMALL, evaluate_test=False,
                        checkpoint=False, resume=False, output_dir=str(tmp_path / name),
                        verbose=0, outputs="summary", models=models, **keyword)  # fmt: skip


def _curves(result) -> np.ndarray:
    return np.array([result.history[k] for k in ("loss", "accuracy", "val_loss")])


RUNS = [  # fold, augmentation strength, learning rate, seed
    (0, 0.3, 1e-3, 0),
    (1, 0.3, 1e-3, 0),  # another fold
    (2, 0.5, 3e-3, 0),  # another strength and learning rate: variables of the same step
    (0, 0.5, 3e-3, 0),  # that strength again, after the reset to the build's
    (0, 0.3, 1e-3, 1),  # another seed: its build's initial values
]


def test_a_reused_model_gives_a_fresh_builds_numbers_and_keeps_nothing(images, tmp_path):
    source, labels = images
    fresh = []
    for fold, strength, rate, seed in RUNS:
        keras.backend.clear_session(free_memory=False)
        data = _fold(source, labels, fold, augment=strength)
        result = _train(data, tmp_path, f"fresh-{len(fresh)}", None, learning_rate=rate, seed=seed)
        fresh.append(_curves(result))
    models = Models()
    # First a run that trains the shared model hard (another fold, a large learning rate):
    # whatever of it leaked into the next runs would change their numbers.
    _train(_fold(source, labels, 1, augment=0.3), tmp_path, "dirty", models, learning_rate=0.05)
    (entry,) = models.entries.values()
    step_function = entry.step.train_function
    for i, (fold, strength, rate, seed) in enumerate(RUNS):
        data = _fold(source, labels, fold, augment=strength)
        result = _train(data, tmp_path, f"reused-{i}", models, learning_rate=rate, seed=seed)
        assert result.timings["reused"] is True
        np.testing.assert_allclose(_curves(result), fresh[i], rtol=1e-5, atol=1e-6,
                                   err_msg=f"run {i}: {RUNS[i]}")  # fmt: skip
    assert (models.built, models.reused) == (1, len(RUNS))
    assert entry.step.train_function is step_function  # compiled once, never again


def test_the_strength_is_a_variable_of_the_step():
    """Changing the strength of a built layer gives a fresh layer's numbers (no retrace);
    to or from 0, where the step is another graph, it is refused in one line."""
    x = np.random.default_rng(1).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    layer = FaceAugment(0.3, seed=5, dtype="float32")
    layer(x, training=True)  # built and called at 0.3
    for _ in range(2):  # the second time too (Keras' attribute tracking skips an equal value)
        layer.magnitudes.assign(FaceAugment(0.3).magnitudes.value)
        layer.set_strength(0.7)
        layer.seed_generator.state.assign(FaceAugment(0.7, seed=5).seed_generator.state.value)
        expected = FaceAugment(0.7, seed=5, dtype="float32")(x, training=True)
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=True)),
                                      keras.ops.convert_to_numpy(expected))  # fmt: skip
    assert layer.strength == 0.7
    with pytest.raises(ValueError, match="not to or from 0"):
        layer.set_strength(0.0)


def test_models_keep_at_most_their_capacity():
    with pytest.raises(ValueError, match="capacity=0"):
        Models(capacity=0)
    models = Models(capacity=2)
    made = []

    def fresh(seed, compiled=True):
        inputs = keras.Input((4,))
        net = keras.Model(inputs, keras.layers.Dense(2)(inputs))
        net.compile(optimizer=keras.optimizers.Adam(), loss="mse")
        made.append(seed)
        return net, net

    for key in ("a", "b", "a", "c", "b"):
        models.acquire((key,), 0, 1e-3, 0.0, fresh)
    assert list(models.entries) == [("c",), ("b",)] and models.built == 4 and models.reused == 1
