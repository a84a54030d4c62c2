"""Compile once, train many: a process's built and compiled models, reset for each run.

A sweep trains one architecture many times: the folds of a trial, the trials that change only a
scalar (learning rate, augmentation strength), the final retrain of the best and of the papers'
designs. `Models` keeps, per architecture (`key_of`), the network and its compiled training
step (`ferzoo.training.trainer.step_model`) with the train, test and predict functions the
backend traced on first use, and `Models.acquire` hands them to the next run in the state a
fresh build with that run's seed would have:

- every variable of the step (the network's weights and batch-norm statistics, the
  augmentation's seed state) takes the values the seeded build drew, kept before any step
  (`Entry.initial`, one copy per seed; a seed not seen yet builds the architecture once more,
  uncompiled, under that seed, and takes its values; the image table, data, is left alone);
- the optimizer's variables (Adam's moments, its step count, a loss scale) go back to their
  values before the first step, then the run's learning rate is assigned;
- the augmentation strength, a variable of the step (`FaceAugment.set_strength`), is assigned.

No trained value is ever carried from one run into the next (tests/test_reuse.py fails if one
were). `ferzoo.train` itself builds afresh; the sweeps, `ferzoo cv` and the final retrain pass a
`Models` (`ferzoo.training.trainer.run(..., models=)`). A run's `TrainResult.model` is then the
entry's network: it holds that run's kept weights until the next run of the same architecture.

Reference:
    Why keep values rather than run the initializers again: the values a seeded build draws
    depend on the order of every random draw of the build, which only a build repeats; a copy
    taken before the first step is the same numbers at no cost (the tests compare a reused run
    with a fresh one, to 1e-5). Ray Tune's `reuse_actors` and Keras-Tuner's trial loop reuse a
    process the same way; the compiled step is what they cannot keep across architectures, and
    neither can this (`key_of`).
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Any

import keras
import numpy as np

from ferzoo.files import jsonable

#: How many architectures a process keeps compiled (the least recently used one goes first).
CAPACITY = 4


def key_of(spec, model_name: str, data, table) -> tuple:
    """What must be equal for two runs to share one compiled step: the model and its build
    arguments, the precision, the loss, the classes, the step's input (uint8 batches, or rows of
    one device table) and its normalisation, whether it augments at all, and the steps per
    call. Scalars that only change values (learning rate, strength, seed) are not in it.
    `table` is the `ImageTable` of the data's images (`device_input.table_layer`) or None."""
    c = spec.config
    build = {"overrides": c.model.overrides, "weights": c.model.weights}
    return (
        model_name,
        json.dumps(jsonable(build), sort_keys=True),
        c.model.precision,
        c.data.image_size,
        len(data.class_names),
        float(c.training.label_smoothing),
        json.dumps(jsonable(getattr(data, "normalization", None)), sort_keys=True),
        float(data.augment) > 0.0,
        None if table is None else id(table),
        str(spec.steps_per_execution),
    )


@dataclasses.dataclass
class Entry:
    """One architecture's compiled network and step, and the values a run starts from."""

    net: keras.Model
    step: keras.Model
    variables: list  # the step's variables that a run resets (all but the image table)
    initial: dict[int, list[np.ndarray]]  # seed -> the values its build drew
    optimizer: list[np.ndarray]  # the optimizer's variables before any step
    holds: Any = None  # the image table the key names by id: kept alive with the entry
    runs: int = 0


def _values(variables) -> list[np.ndarray]:
    return [np.array(keras.ops.convert_to_numpy(v)) for v in variables]


def resettable(step: keras.Model) -> list:
    """The step's variables that a run starts afresh: all but an `ImageTable`'s (data)."""
    table = {id(v) for layer in step.layers if type(layer).__name__ == "ImageTable"
             for v in layer.variables}  # fmt: skip
    return [v for v in step.variables if id(v) not in table]


class Models:
    """Built and compiled models by architecture, at most `capacity` of them (see the module
    docstring). `fresh(seed)` (given to `acquire`) builds an architecture under a seed:
    `(network, step)` with the step compiled, as `ferzoo.train` makes them."""

    def __init__(self, capacity: int = CAPACITY):
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive int. Received: capacity={capacity!r}")
        self.capacity = capacity
        self.entries: collections.OrderedDict[tuple, Entry] = collections.OrderedDict()
        self.built = 0  # architectures compiled
        self.reused = 0  # runs that took a compiled one

    def __len__(self) -> int:
        return len(self.entries)

    def acquire(self, key: tuple, seed: int, learning_rate: float, strength: float, fresh,
                holds: Any = None):  # fmt: skip
        """The network and step for a run of `key`, in the state a fresh build under `seed`
        would have, with `learning_rate` and the augmentation `strength` set (`holds`: what
        the key names by id, kept alive with the entry).

        Returns:
            `(network, step, reused)`: `reused` is False when this call built and compiled
            them (`fresh(seed)`).
        """
        entry = self.entries.get(key)
        if entry is None:
            net, step = fresh(seed)
            _build_optimizer(step)
            variables = resettable(step)
            entry = Entry(net, step, variables, {seed: _values(variables)},
                          _values(step.optimizer.variables), holds)  # fmt: skip
            self.entries[key] = entry
            while len(self.entries) > self.capacity:
                self.entries.popitem(last=False)
            self.built += 1
            reused = False
        else:
            self.entries.move_to_end(key)
            if seed not in entry.initial:
                entry.initial[seed] = _values(resettable(fresh(seed, compiled=False)[1]))
            _assign(entry.variables, entry.initial[seed])
            _assign(entry.step.optimizer.variables, entry.optimizer)
            self.reused += 1
            reused = True
        entry.step.optimizer.learning_rate = float(learning_rate)
        augment = _augment_layer(entry.step)
        if augment is not None and float(strength) > 0.0:
            augment.set_strength(float(strength))
        entry.runs += 1
        return entry.net, entry.step, reused


#: JAX's compilation cache skips programs that compile faster than this (seconds).
CACHE_MIN_COMPILE_S = 0.2


def persistent_cache(folder: str) -> dict[str, Any] | None:
    """Keep compiled programs across processes in `folder`, where the backend can: JAX's
    persistent compilation cache (the next worker, or the next sweep, of the same programs
    loads them instead of compiling). Its own setting wins (`JAX_COMPILATION_CACHE_DIR`).

    Returns:
        `{"backend", "folder"}` as applied, or None: TensorFlow keeps no traced function
        across processes and PyTorch compiles nothing unless asked (`jit_compile`).
    """
    if keras.backend.backend() != "jax":
        return None
    import os

    import jax

    folder = os.environ.get("JAX_COMPILATION_CACHE_DIR") or folder
    os.makedirs(folder, exist_ok=True)
    os.environ["JAX_COMPILATION_CACHE_DIR"] = folder  # the workers this process starts
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", CACHE_MIN_COMPILE_S)
    return {"backend": "jax", "folder": folder}


def set_seed(seed: int) -> None:
    """`keras.utils.set_random_seed(seed)`, without TensorFlow's flush of its kernel caches
    when TensorFlow's global seed is `seed` already.

    Each `tf.random.set_seed` flushes them, and the next call of a compiled step then makes its
    kernels again: 1.2-2 s before the first step of every run of resnet18 at 32 px on a 2-core
    CPU, more than a reused run's whole overhead. The flush resets stateful random kernels; a
    run's random numbers come from stateless ops with seeds of their own (Keras' seed
    generators, tf.data's shuffle seed), and TensorFlow's global generator is reset here all
    the same.
    """
    import random
    import sys

    tf = sys.modules.get("tensorflow")
    context = None
    if tf is not None:
        from tensorflow.python.eager import context as tf_context

        context = tf_context.context()
    if context is None or getattr(context, "_seed", None) != seed:
        keras.utils.set_random_seed(seed)
        return
    flushing = context._set_global_seed
    context._set_global_seed = lambda value: setattr(context, "_rng", random.Random(value))
    try:
        keras.utils.set_random_seed(seed)
    finally:
        context._set_global_seed = flushing


def _build_optimizer(step: keras.Model) -> None:
    """Create the optimizer's variables now (`fit` would at its first step), so their values
    before any step can be kept."""
    if not step.optimizer.built:
        step.optimizer.build(step.trainable_variables)


def _assign(variables, values) -> None:
    if len(variables) != len(values):
        raise RuntimeError(
            f"a reused model has {len(variables)} variables to reset, its kept state "
            f"{len(values)}: not the same architecture"
        )
    for variable, value in zip(variables, values, strict=True):
        if tuple(variable.shape) != value.shape:
            raise RuntimeError(
                f"a reused model's variable {variable.path} has shape {tuple(variable.shape)}, "
                f"its kept value {value.shape}: not the same architecture"
            )
        variable.assign(value)


def _augment_layer(step: keras.Model):
    for layer in step.layers:
        if type(layer).__name__ == "FaceAugment":
            return layer
    return None


__all__ = ["CACHE_MIN_COMPILE_S", "CAPACITY", "Entry", "Models", "key_of", "persistent_cache",
           "resettable", "set_seed"]  # fmt: skip
