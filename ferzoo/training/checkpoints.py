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

Resuming reads all three back before the first epoch (`load_state`, `restore`); a damaged or
missing one is a one-line `DamagedFileError` naming it and saying to start afresh
(`--no-resume`, `resume=False`). The `.npz` is read with `allow_pickle=False`.
"""

from __future__ import annotations

import glob
import json
import math
import os
import time
import zipfile
from typing import Any

import keras
import numpy as np

from ferzoo import files
from ferzoo.files import DamagedFileError
from ferzoo.training.selection import Selection

STATE_FILE = "state.json"
# What a committed state.json holds (`EpochKeeper.on_epoch_end` commits only after an epoch).
_STATE_KEYS = ("identity", "epochs_done", "history", "best_epoch", "weights_file")


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


def fresh_start(ckpt_dir: str) -> str:
    """What to do about a damaged checkpoint: the fix part of its `DamagedFileError`."""
    return (
        "rerun with --no-resume (Python: resume=False) to start this run afresh "
        f"(or delete {ckpt_dir})"
    )


def load_state(ckpt_dir: str) -> dict[str, Any] | None:
    """The committed state in `ckpt_dir`, or None when there is none.

    Raises:
        DamagedFileError: state.json is not valid JSON or not a checkpoint state.
    """
    path = os.path.join(ckpt_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    try:
        state = files.read_json(path)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        why = DamagedFileError.reason(error)
        raise DamagedFileError(
            path, f"damaged (not valid JSON: {why})", fresh_start(ckpt_dir)
        ) from error
    if not isinstance(state, dict):
        problem = f"a JSON {type(state).__name__}, not a mapping"
    else:
        missing = [k for k in _STATE_KEYS if k not in state]
        problem = f"no {', '.join(missing)}" if missing else None
    if problem:
        raise DamagedFileError(
            path, f"damaged (not a checkpoint state: {problem})", fresh_start(ckpt_dir)
        )
    return state


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


def _existing(ckpt_dir: str, name: str) -> str:
    path = os.path.join(ckpt_dir, name)
    if not os.path.isfile(path):
        raise DamagedFileError(path, f"missing (named by {STATE_FILE})", fresh_start(ckpt_dir))
    return path


def restore(model: keras.Model, ckpt_dir: str, state: dict[str, Any]) -> list[np.ndarray] | None:
    """Load the last epoch's weights and optimizer state into a compiled model.

    Returns:
        The chosen epoch's weights (read now, so that a damaged file stops the run before it
        trains), or None when no epoch was chosen yet.

    Raises:
        DamagedFileError: a file that state.json names is missing or cannot be read.
    """
    prune(ckpt_dir, state)
    path = _existing(ckpt_dir, state["weights_file"])
    model.optimizer.build(model.trainable_variables)  # so load_weights finds its slots
    try:
        model.load_weights(path)
    except Exception as error:  # h5py and Keras raise many types for a damaged file
        why = f"{type(error).__name__}: {DamagedFileError.reason(error)}"
        raise DamagedFileError(path, f"damaged ({why})", fresh_start(ckpt_dir)) from error
    if not state.get("best_file"):
        return None
    return read_weights(_existing(ckpt_dir, state["best_file"]), fresh_start(ckpt_dir), model)


def read_weights(path: str, fix: str, model: keras.Model | None = None) -> list[np.ndarray]:
    """The arrays `np.savez(path, *model.get_weights())` wrote, checked against `model` if given.

    Args:
        path: the `.npz` file.
        fix: what to do when it is damaged (the fix part of the error).
        model: the model whose weights the arrays must fit, or None not to check.

    Raises:
        DamagedFileError: `path` is not such an archive (read with `allow_pickle=False`), or
            its arrays do not fit `model`'s weights.
    """
    try:
        saved = np.load(path, allow_pickle=False)
        if not isinstance(saved, np.lib.npyio.NpzFile):
            raise ValueError("a .npy array, not an .npz archive")
        with saved:
            arrays = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    except ValueError as error:  # NumPy's message would suggest allow_pickle=True: never
        raise DamagedFileError(
            path, "damaged (not an .npz archive of numeric arrays)", fix
        ) from error
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        why = f"{type(error).__name__}: {DamagedFileError.reason(error)}"
        raise DamagedFileError(path, f"damaged ({why})", fix) from error
    expected = [tuple(w.shape) for w in model.weights] if model is not None else None
    if expected is not None and [a.shape for a in arrays] != expected:
        raise DamagedFileError(
            path,
            f"damaged ({len(arrays)} arrays that do not fit the model's {len(expected)} weights)",
            fix,
        )
    return arrays


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
        best_weights: the chosen epoch's weights of a resumed run (`restore`'s result).
        network: the network whose weights are kept and checkpointed (with its optimizer's
            state), when `fit` trains a wrapper around it (`ferzoo.training.device_input`);
            None: the model `fit` trains.
    """

    def __init__(
        self,
        state: dict[str, Any],
        selection: Selection,
        ckpt_dir: str | None,
        best_weights: list[np.ndarray] | None = None,
        network: keras.Model | None = None,
    ):
        super().__init__()
        self.network = network
        self.state = state
        self.selection = selection
        self.ckpt_dir = ckpt_dir
        self.best_weights = best_weights
        self._start = 0.0

    def _net(self) -> keras.Model:
        return self.model if self.network is None else self.network

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
                self._net().save_weights(tmp)
            commit(self.ckpt_dir, st)

    def _choose(self, epoch: int, logs: dict[str, float]) -> None:
        key = self.selection.key(logs)
        best = self.state["best_key"]
        if key is None or (best is not None and tuple(key) <= tuple(best)):
            return
        self.state["best_key"] = list(key)
        self.state["best_epoch"] = epoch
        if self.ckpt_dir:
            self.best_weights = [np.array(w) for w in self._net().get_weights()]
            self.state["best_file"] = f"best-{epoch + 1:04d}.npz"
            with files.atomic_path(os.path.join(self.ckpt_dir, self.state["best_file"])) as tmp:
                np.savez(tmp, *self.best_weights)
        else:  # copies on the device: no transfer, and no wait for the device, each epoch
            self.best_weights = [keras.ops.copy(w.value) for w in self._net().weights]

    def _count(self, logs: dict[str, float]) -> None:
        value = logs.get(self.selection.monitor, math.nan)
        if self.selection.improves(value, self.state["es_best"]):
            self.state["es_best"] = value
            self.state["wait"] = 0
        else:
            self.state["wait"] += 1

    def chosen_weights(self) -> list[np.ndarray] | None:
        """The chosen epoch's weights, as NumPy arrays: from memory (a resumed run's from
        `restore`; without a checkpoint folder, copied from the device now), else from the
        checkpoint folder, else None."""
        if self.best_weights is not None:  # on the device without a checkpoint folder
            return [keras.ops.convert_to_numpy(w) for w in self.best_weights]
        name = self.state.get("best_file")
        if not (self.ckpt_dir and name):
            return None
        return read_weights(os.path.join(self.ckpt_dir, name), fresh_start(self.ckpt_dir))


__all__ = ["STATE_FILE", "EpochKeeper", "commit", "fresh_start", "load_state", "new_state", "prune",
           "read_weights", "restore"]  # fmt: skip
