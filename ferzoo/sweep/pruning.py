"""Pruning: the pruners a sweep offers and the Keras callback that reports to them."""

from __future__ import annotations

import statistics
import time
from typing import Any

import optuna

from ferzoo.sweep.config import PRUNERS


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """`median` (after 2 trials and 1 epoch), `hyperband` (1..epochs) or `none`."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=max(epochs, 1), reduction_factor=3
        )
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}. Received: pruner={name!r}")


def epoch_line(epoch: int, params: dict, logs: dict, monitor: str, seconds: float) -> str:
    """`--progress`'s words for one epoch: `epoch 3/10: loss 1.2345, val_accuracy 0.5000
    (2.1 s)`."""
    import keras

    def number(key: str) -> float:
        return float(keras.ops.convert_to_numpy(logs.get(key, float("nan"))))

    return (f"epoch {epoch + 1}/{params.get('epochs', '?')}: loss {number('loss'):.4f}, "
            f"{monitor} {number(monitor):.4f} ({seconds:.1f} s)")  # fmt: skip


def pruning_callback_class():
    # Built on first use so that `import ferzoo.sweep` (e.g. by `ferzoo dashboard`) stays free
    # of Keras and its backend.
    global _PruningCallback
    if _PruningCallback is not None:
        return _PruningCallback
    import keras

    class PruningCallback(keras.callbacks.Callback):
        """Report a validation metric to Optuna after each epoch; prune when the pruner says so.

        Works on every Keras backend (it reads the epoch's `logs` only). It also records, as the
        trial's user attributes, the model's parameter count and MACs (`ferzoo.profile`, at the start
        of training) and the median epoch time so far, so pruned trials carry them too.

        Args:
            trial: the running `optuna.Trial`.
            monitor: the `logs` key reported, e.g. `"val_accuracy"`.
            step_offset: added to the epoch to make the reported step: a trial scored on K
                folds reports fold k's epoch e at `k * epochs + e`, so the pruner compares
                each fold's epochs with the same fold's epochs of other trials.
            prune: report and prune (False in a multi-objective study: Optuna prunes single
                objectives only; the attributes are still recorded).
            progress: called with one line per epoch (`ferzoo sweep --progress`): the epoch,
                the training loss, the monitored metric and the epoch's seconds; None: silent.

        Example:
            >>> cb = PruningCallback(trial, "val_accuracy")  # doctest: +SKIP
            >>> model.fit(x, y, validation_data=(xv, yv), epochs=5, callbacks=[cb])  # doctest: +SKIP

        Reference:
            After optuna-integration's TFKerasPruningCallback, without its TensorFlow dependency.
        """

        def __init__(
            self, trial: optuna.Trial, monitor: str = "val_accuracy", step_offset=0, prune=True,
            progress=None,
        ):  # fmt: skip
            super().__init__()
            self.progress = progress
            self.prune = bool(prune)
            self.trial = trial
            self.monitor = monitor
            self.step_offset = int(step_offset)
            self.epoch_times: list[float] = []
            self.epochs_reported = 0
            self._start = 0.0

        def on_train_begin(self, logs=None):
            from ferzoo.runtime.profiling import profile as profile_fn

            # The network, not the wrapper `ferzoo.train` fits (ferzoo.training.device_input).
            profile = profile_fn(getattr(self.model, "network", self.model))
            self.trial.set_user_attr("params", int(profile["params"]))
            self.trial.set_user_attr("macs", int(profile["macs"]))

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_times.append(time.perf_counter() - self._start)
            self.trial.set_user_attr("epoch_time", float(statistics.median(self.epoch_times)))
            logs = logs or {}
            if self.monitor not in logs:
                raise ValueError(
                    f"PruningCallback monitors {self.monitor!r} but the epoch's logs hold "
                    f"{sorted(logs)}. Received: monitor={self.monitor!r}"
                )
            value = float(keras.ops.convert_to_numpy(logs[self.monitor]))
            if self.progress is not None:
                self.progress(epoch_line(epoch, self.params, logs, self.monitor,
                                         self.epoch_times[-1]))  # fmt: skip
            if not self.prune:
                return
            self.trial.report(value, step=self.step_offset + epoch)
            self.epochs_reported += 1
            if self.trial.should_prune():
                self.trial.set_user_attr("pruned_at_epoch", epoch)
                raise optuna.TrialPruned(f"pruned at epoch {epoch} ({self.monitor}={value:.4f})")

    _PruningCallback = PruningCallback
    return PruningCallback


_PruningCallback = None


def __getattr__(name: str) -> Any:
    if name == "PruningCallback":
        return pruning_callback_class()
    raise AttributeError(f"module 'ferzoo.sweep.pruning' has no attribute {name!r}")
