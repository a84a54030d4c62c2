"""Optuna sweeps over ferzoo models: the machinery behind `sweeps/run.py`.

    python sweeps/run.py --study demo          # = python -m ferzoo.sweep.cli --study demo

The parts, each a module:

- `config`: `StudyConfig` (a row of the studies table), `SweepSettings` (one run), the errors;
- `studies`: the table of studies (`STUDIES`); `space`: the search spaces (Optuna and
  KerasTuner sample the same one) and `to_build`, which turns sampled values into a model;
- `storage`: `open_storage` (SQLite with lock timeouts, PostgreSQL; heartbeats and retries, so
  a worker killed with SIGKILL costs one trial), `create_or_load_study` (a sampler seed that
  differs on every restart and machine), `count_trials`;
- `pruning`: `make_pruner` and `PruningCallback` (any Keras backend);
- `objective`: `Objective`, one trial (`ferzoo.train` on validation data only; the dataset
  loaded once per worker; a configuration the study holds is never trained twice);
- `worker`: `run_worker`, trials until the study holds `n_trials`, shared by any number of
  workers;
- `report`: `finalize` (retrain the best, test it, best.json, summary.md, plots);
- `cli`: the command line (`--workers`, `--gpus`).

Importing `ferzoo.sweep` loads neither Keras nor a backend (`ferzoo dashboard` uses it).

Example:

    from ferzoo import sweep
    storage = sweep.open_storage("sqlite:///runs/optuna.db")
    study = sweep.create_or_load_study(settings, storage)
    sweep.run_worker(study, sweep.Objective(settings, space.suggest), settings)
    sweep.finalize(settings, storage, space.to_build)
"""

from __future__ import annotations

from typing import Any

from ferzoo.sweep.config import (
    DEFAULT_RESULTS_DIR,
    DEFAULT_STORAGE,
    PRUNERS,
    StorageError,
    StudyConfig,
    StudyMismatchError,
    SweepError,
    SweepSettings,
)
from ferzoo.sweep.objective import Objective
from ferzoo.sweep.pruning import make_pruner
from ferzoo.sweep.report import finalize, summary_markdown, write_plots
from ferzoo.sweep.storage import (
    count_trials,
    create_or_load_study,
    mask_url,
    open_storage,
    retried_trial_number,
    sampler_seed,
    sqlite_path,
)
from ferzoo.sweep.worker import run_worker


def __getattr__(name: str) -> Any:
    if name == "PruningCallback":  # a Keras class, built on first use
        from ferzoo.sweep.pruning import pruning_callback_class

        return pruning_callback_class()
    raise AttributeError(f"module 'ferzoo.sweep' has no attribute {name!r}")


__all__ = [
    "DEFAULT_RESULTS_DIR",
    "DEFAULT_STORAGE",
    "PRUNERS",
    "Objective",
    "PruningCallback",  # noqa: F822 (built on first use, see __getattr__)
    "StorageError",
    "StudyConfig",
    "StudyMismatchError",
    "SweepError",
    "SweepSettings",
    "count_trials",
    "create_or_load_study",
    "finalize",
    "make_pruner",
    "mask_url",
    "open_storage",
    "retried_trial_number",
    "run_worker",
    "sampler_seed",
    "sqlite_path",
    "summary_markdown",
    "write_plots",
]
