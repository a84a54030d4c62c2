"""Where a run's time goes (`ferzoo.training.timing`), on every backend."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest

from ferzoo.training import timing


class _Slow(keras.callbacks.Callback):
    """Sleeps after each epoch: time that belongs to no part but "other"."""

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.2)


def test_the_parts_of_a_fit_add_up_to_its_wall_time():
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 8, 8, 3), dtype=np.float32), rng.integers(0, 3, 32)
    clock = timing.Clock()
    with clock.phase("build"):
        model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                                  keras.layers.Dense(3, activation="softmax")])  # fmt: skip
        model.compile("adam", "sparse_categorical_crossentropy")
    timer = timing.FitTimer()
    model.fit(x, y, batch_size=8, epochs=2, validation_data=(x[:8], y[:8]), verbose=0,
              callbacks=[timer, _Slow()])  # fmt: skip
    split = clock.split(timer)

    assert set(split) == {*timing.PARTS, "wall"}
    assert all(split[k] > 0 for k in ("build", "compile", "steps", "validation"))
    assert split["other"] >= 0.4  # the two sleeps after each epoch's validation
    assert abs(sum(split[k] for k in timing.PARTS) - split["wall"]) < 1e-6
    total = timing.add([split, split])
    assert total["steps"] == 2 * split["steps"] and total["wall"] == 2 * split["wall"]


def test_auto_steps_per_execution_follows_the_step_time():
    from ferzoo.training import step_loop

    assert step_loop.auto_steps(0.02, 100) == 1  # a long step: one per call
    assert step_loop.auto_steps(0.001, 100) == 50  # 50 ms per call
    assert step_loop.auto_steps(0.001, 7) == 7  # at most an epoch
    assert step_loop.auto_steps(1e-6, 10**6) == step_loop.MAX_STEPS
    assert step_loop.auto_steps(0.0, 100) == 1  # nothing measured
    assert step_loop.tunes("auto", "jax", "gpu") and step_loop.tunes("auto", "tensorflow", "gpu")
    assert not step_loop.tunes("auto", "torch", "gpu") and not step_loop.tunes("auto", "jax", "cpu")
    assert not step_loop.tunes(4, "jax", "gpu")
    assert step_loop.check(4, "jax") == 4 and step_loop.check("auto", "torch") == "auto"
    for bad, backend in ((0, "jax"), (True, "jax"), ("2", "jax"), (2, "torch")):
        with pytest.raises(ValueError, match="steps_per_execution"):
            step_loop.check(bad, backend)
