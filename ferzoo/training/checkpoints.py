"""Per-epoch bookkeeping: history, model selection, early stopping and resumable checkpoints.

`EpochKeeper` is the one Keras callback that does all of it, so that its counters survive a
restart (Keras' EarlyStopping resets itself in `on_train_begin`). With a checkpoint folder it
writes, after each epoch:

    epoch-<n>.weights.h5    the model's weights and the optimizer's state (one file)
    best-<n>.npz            the chosen epoch's weights, only when a new best is chosen
    state.json              the commit point (history, best epoch, counters), written last

`state.json` is written to a temporary file then renamed, and names the files it needs; files it
does not name are deleted, so a run killed at any moment (SIGKILL included) leaves either the
previous state or the new one. A finished run's folder holds about 4x the float32 weight size
(weights + Adam's two slots, plus the best weights). Without a folder (sweep trials, which start
over on failure) nothing is written and the best weights stay in memory.
"""

from __future__ import annotations

import glob
import math
import os
import time
from typing import Any

import keras
import numpy as np

from ferzoo import files
from ferzoo.training.selection import Selection

STATE_FILE = "state.json"


def new_state(identity: dict[str, Any]) -> dict[str, Any]:
    """The state of a run that has done no epoch."""
    return {
        "identity": identity,
        "epochs_done": 0,
        "history": {},
        "best_epoch": -1,
        "best_key": None,
        "es_best": None,
        "wait": 0,
        "stopped_early": False,
    }


def load_state(ckpt_dir: str) -> dict[str, Any] | None:
    path = os.path.join(ckpt_dir, STATE_FILE)
    return files.read_json(path) if os.path.exists(path) else None


def prune(ckpt_dir: str, state: dict[str, Any]) -> None:
    """Delete the files of `ckpt_dir` that `state` does not name."""
    keep = {STATE_FILE, state.get("weights_file"), state.get("best_file")}
    for path in glob.glob(os.path.join(ckpt_dir, "*")):
        if os.path.basename(path) not in keep and os.path.isfile(path):
            os.remove(path)


def commit(ckpt_dir: str, state: dict[str, Any]) -> None:
    """Write state.json atomically, then delete the files it no longer names."""
    files.write_json(os.path.join(ckpt_dir, STATE_FILE), state)
    prune(ckpt_dir, state)


def restore(model: keras.Model, ckpt_dir: str, state: dict[str, Any]) -> None:
    """Load the last epoch's weights and optimizer state into a compiled model."""
    prune(ckpt_dir, state)
    model.optimizer.build(model.trainable_variables)  # so load_weights finds its slots
    model.load_weights(os.path.join(ckpt_dir, state["weights_file"]))


def _to_float(value: Any) -> float:
    if isinstance(value, int | float):
        return float(value)
    return float(keras.ops.convert_to_numpy(value))


class EpochKeeper(keras.callbacks.Callback):
    """History, best-epoch choice, early stopping and checkpoints after every epoch.

    Args:
        state: the run's state (`new_state`, or a loaded one to resume); updated in place.
        selection: the model-selection rule.
        ckpt_dir: the checkpoint folder, or None to write nothing (best weights in memory).
    """

    def __init__(self, state: dict[str, Any], selection: Selection, ckpt_dir: str | None):
        super().__init__()
        self.state = state
        self.selection = selection
        self.ckpt_dir = ckpt_dir
        self.best_weights: list[np.ndarray] | None = None
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._start
        logs = {k: _to_float(v) for k, v in (logs or {}).items()}
        st = self.state
        for key, value in logs.items():
            st["history"].setdefault(key, []).append(value)
        st["history"].setdefault("epoch_time", []).append(elapsed)
        if self.selection.eligible(epoch):
            self._choose(epoch, logs)
            self._count(logs)
        st["epochs_done"] = epoch + 1
        st["stopped_early"] = st["wait"] >= self.selection.patience
        if st["stopped_early"]:
            self.model.stop_training = True
        if self.ckpt_dir:
            st["weights_file"] = f"epoch-{epoch + 1:04d}.weights.h5"
            with files.atomic_path(os.path.join(self.ckpt_dir, st["weights_file"])) as tmp:
                self.model.save_weights(tmp)
            commit(self.ckpt_dir, st)

    def _choose(self, epoch: int, logs: dict[str, float]) -> None:
        key = self.selection.key(logs)
        best = self.state["best_key"]
        if key is None or (best is not None and tuple(key) <= tuple(best)):
            return
        self.state["best_key"] = list(key)
        self.state["best_epoch"] = epoch
        self.best_weights = [np.array(w) for w in self.model.get_weights()]
        if self.ckpt_dir:
            self.state["best_file"] = f"best-{epoch + 1:04d}.npz"
            with files.atomic_path(os.path.join(self.ckpt_dir, self.state["best_file"])) as tmp:
                np.savez(tmp, *self.best_weights)

    def _count(self, logs: dict[str, float]) -> None:
        value = logs.get(self.selection.monitor, math.nan)
        if self.selection.improves(value, self.state["es_best"]):
            self.state["es_best"] = value
            self.state["wait"] = 0
        else:
            self.state["wait"] += 1

    def chosen_weights(self) -> list[np.ndarray] | None:
        """The chosen epoch's weights: from memory, else from the checkpoint (a resumed run)."""
        if self.best_weights is not None:
            return self.best_weights
        name = self.state.get("best_file")
        if not (self.ckpt_dir and name):
            return None
        with np.load(os.path.join(self.ckpt_dir, name)) as saved:
            return [saved[f"arr_{i}"] for i in range(len(saved.files))]


__all__ = ["STATE_FILE", "EpochKeeper", "commit", "load_state", "new_state", "prune", "restore"]
