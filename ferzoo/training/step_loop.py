"""How many training steps one Python call runs: Keras' `steps_per_execution`.

At 48 px a ResNet-18 step takes about a millisecond on a current GPU, so the Python around each
step (the iterator, the callbacks, the progress bar) can set the pace. Keras runs
`steps_per_execution` steps per call of its train function: on TensorFlow inside one compiled
`tf.function` loop, on JAX as a Python loop over the jitted step with no callback between
(JAX dispatches asynchronously, so what it saves is the per-step host work). Keras' PyTorch
trainer runs one step per call and refuses more.

`ferzoo.train(steps_per_execution=...)` (`ferzoo train --steps-per-execution`) takes a count
or "auto". "auto" is 1 on a CPU and on PyTorch; on a GPU with TensorFlow or JAX the first epoch
runs one step per call, its steady step time is measured (`timing.FitTimer`), and when a step
is shorter than `FAST_STEP_S` the remaining epochs run `auto_steps(...)` steps per call (one
recompilation). Epochs stay whole, so the kept epoch, early stopping, checkpoints and pruning
still work per epoch; the history is the same up to floating-point noise.

Reference:
    Why a 10 ms threshold and 50 ms executions: Keras' per-call host work is of the order of a
    millisecond, so a step of 10 ms or more loses at most about a tenth to it, and an
    execution of 50 ms at most about 2 %; a count is at most one epoch's steps (Keras runs a
    shorter last call) and at most `MAX_STEPS`, so progress bars and a Ctrl-C stay prompt.
"""

from __future__ import annotations

import math
from typing import Any

FAST_STEP_S = 0.01
TARGET_S = 0.05
MAX_STEPS = 64


def check(value: Any, backend: str) -> int | str:
    """`value` ("auto" or a positive int) on `backend`, else a ValueError naming it."""
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "steps_per_execution must be a positive int or 'auto'. "
            f"Received: steps_per_execution={value!r}"
        )
    if value > 1 and backend == "torch":
        raise ValueError(
            "steps_per_execution must be 1 or 'auto' on the PyTorch backend (Keras' torch "
            f"trainer runs one step per call). Received: steps_per_execution={value!r}"
        )
    return value


def tunes(value: int | str, backend: str, device: str) -> bool:
    """Whether "auto" measures the first epoch and may raise the count (see the module
    docstring): on a GPU, with TensorFlow or JAX."""
    return value == "auto" and backend in ("tensorflow", "jax") and device == "gpu"


def auto_steps(step_seconds: float, steps_per_epoch: int) -> int:
    """The steps per call for a measured step time: 1 for a step of `FAST_STEP_S` or more,
    else enough steps for `TARGET_S`, at most an epoch's steps and `MAX_STEPS`."""
    if not step_seconds > 0 or step_seconds >= FAST_STEP_S:
        return 1
    return max(1, min(steps_per_epoch, MAX_STEPS, math.ceil(TARGET_S / step_seconds)))


def use(model: Any, steps: int) -> None:
    """Run `model`'s next `fit` with `steps` steps per call (its functions are rebuilt)."""
    if steps != model.steps_per_execution:
        model.steps_per_execution = int(steps)
        model.train_function = model.test_function = model.predict_function = None


__all__ = ["FAST_STEP_S", "MAX_STEPS", "TARGET_S", "auto_steps", "check", "tunes", "use"]
