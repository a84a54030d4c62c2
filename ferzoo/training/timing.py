"""Where a run's time goes: data, model build, the first step (compilation), the training steps,
validation, the run's files (`report`: config.json, history, curves, model.keras, the test
evaluation), and the rest.

`Clock` times the phases outside `fit` (`with clock.phase("data"): ...`); `FitTimer`, a Keras
callback placed first in `fit`'s callbacks, times the phases inside it on every backend (it
reads the clock at Keras' callback hooks only). `Clock.split(timer)` gives the seconds of each
part, `other` being the wall time since the clock started that no part claims (the callbacks
after each epoch: selection, checkpoints, pruning).

Reference:
    "compile" is the first training step of the call, which on every backend includes tracing
    and compiling the train function (and, on TensorFlow and JAX, building the optimizer's
    variables); validation's own first-step compilation counts as validation. The device runs
    asynchronously: a step's time is read when Keras hands control back to the callbacks, so
    the split is exact over an epoch and approximate within one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import keras

PARTS = ("data", "build", "compile", "steps", "validation", "report", "other")


class FitTimer(keras.callbacks.Callback):
    """Seconds of `fit` spent on the first training step, the other steps and validation."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = {"compile": 0.0, "steps": 0.0, "validation": 0.0}
        self._first = True
        self._mark = 0.0
        self._training = False  # between an epoch's start and its validation (or end)
        self.calls = 0  # train-function calls after the first (steps, or executions of several)

    def on_train_begin(self, logs=None):
        self._first = True  # each `fit` call compiles its train function

    def step_seconds(self) -> float:
        """The mean seconds of a call of the train function after the first (0: none yet)."""
        return self.seconds["steps"] / self.calls if self.calls else 0.0

    def _take(self, part: str) -> None:
        now = time.perf_counter()
        self.seconds[part] += now - self._mark
        self._mark = now

    def on_epoch_begin(self, epoch, logs=None):
        self._mark = time.perf_counter()
        self._training = True

    def on_train_batch_end(self, batch, logs=None):
        self.calls += not self._first
        self._take("compile" if self._first else "steps")
        self._first = False

    def on_test_begin(self, logs=None):
        if self._training:  # the end of the epoch's last step, then validation
            self._take("steps")
            self._training = False

    def on_test_end(self, logs=None):
        self._take("validation")

    def on_epoch_end(self, epoch, logs=None):
        if self._training:  # an epoch without validation
            self._take("steps")
            self._training = False


class Clock:
    """The wall time of a run, split into `PARTS` (see the module docstring)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.seconds = dict.fromkeys(PARTS, 0.0)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        begin = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - begin

    def split(self, timer: FitTimer | None = None) -> dict[str, float]:
        """`{part: seconds}` and `wall`; `other` is what no part claims."""
        seconds = dict(self.seconds)
        for key, value in (timer.seconds if timer else {}).items():
            seconds[key] += value
        wall = time.perf_counter() - self.start
        seconds["other"] = max(0.0, wall - sum(v for k, v in seconds.items() if k != "other"))
        return {**seconds, "wall": wall}


def add(splits: list[dict[str, float]]) -> dict[str, float]:
    """The sum of several splits (a trial's folds)."""
    keys = (*PARTS, "wall")
    return {k: float(sum(s.get(k, 0.0) for s in splits)) for k in keys}


__all__ = ["PARTS", "Clock", "FitTimer", "add"]
