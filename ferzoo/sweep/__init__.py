"""Optuna sweeps over ferzoo models: the machinery behind `sweeps/run.py`.

    python sweeps/run.py --study demo          # = ferzoo sweep --study demo (ferzoo.commands.sweep)

The parts, each a module:

- `config`: `StudyConfig` (a row of the studies table), `SweepSettings` (one run: frozen groups
  `run`, `training`, `objectives`, `workers`; `to_json`/`from_json`), the errors;
- `studies`: the table of studies (`STUDIES`); `space`: the search spaces (Optuna and
  KerasTuner sample the same one) and `to_build`, which turns sampled values into a model;
- `storage`: `open_storage` (SQLite with lock timeouts, PostgreSQL; heartbeats and retries, so
  a worker killed with SIGKILL costs one trial), `create_or_load_study` (a sampler seed that
  differs on every restart and machine), `count_trials`;
- `pruning`: `make_pruner` and `PruningCallback` (any Keras backend);
- `trial`: `Objective`, one trial (`ferzoo.train` on validation data only; the dataset
  loaded once per worker; a configuration the study holds is never trained twice);
- `worker`: `run_worker`, trials until the study holds `n_trials`, shared by any number of
  workers;
- `costs`: `--objectives` (the metric against MACs, parameters, batch-1 latency), the
  latency a trial is charged, the best within `--max-latency-ms` / `--max-macs`, the Pareto
  front;
- `final`: `finalize` (retrain the best, test it, best.json, summary.md, plots) in the study's
  own report folder (`ownership`: owner.json, `config.report_dir`); `retrain`: the best
  retrained on the final folds (`ferzoo.evaluation.experiments.run_folds`, `ferzoo cv`'s fold loop);
  `summary`: summary.md and the plots; `baselines`: the papers' models retrained on the same
  folds beside the best (summary.md's "Did the search pay off?");
- `claims`: the one-process claim on a study's final retrain, held in the storage;
- `launcher`: worker processes on this host (`--workers`, `--gpus`), each sent its settings as
  JSON on its stdin; `worker_main`: such a process's entry.

The command line (`ferzoo sweep`, `python sweeps/run.py`) is `ferzoo.commands.sweep`; nothing
here imports from `ferzoo.commands`.

Importing `ferzoo.sweep` loads nothing (the names below load their module on first use), so the
`ferzoo` command's parser stays fast; none of them loads Keras or a backend.

Example:

    from ferzoo import sweep
    storage = sweep.open_storage("sqlite:///runs/optuna.db")
    study = sweep.create_or_load_study(settings, storage)
    sweep.run_worker(study, sweep.Objective(settings, space.suggest), settings)
    sweep.finalize(settings, storage, space.to_build)
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ferzoo.sweep.config": (
        "DEFAULT_RESULTS_DIR", "DEFAULT_STORAGE", "PRUNERS", "ObjectiveSettings", "RunSettings",
        "StorageError", "StudyConfig", "StudyMismatchError", "SweepError", "SweepSettings",
        "TrainingSettings", "WorkerSettings",
    ),
    "ferzoo.sweep.final": ("finalize",),
    "ferzoo.sweep.pruning": ("make_pruner",),
    "ferzoo.sweep.storage": (
        "count_trials", "create_or_load_study", "mask_url", "open_storage",
        "retried_trial_number", "sampler_seed", "sqlite_path",
    ),
    "ferzoo.sweep.summary": ("summary_markdown", "write_plots"),
    "ferzoo.sweep.trial": ("Objective",),
    "ferzoo.sweep.worker": ("run_worker",),
}  # fmt: skip
_WHERE = {name: module for module, names in _LAZY.items() for name in names}


def __getattr__(name: str) -> Any:
    if name == "PruningCallback":  # a Keras class, built on first use
        from ferzoo.sweep.pruning import pruning_callback_class

        return pruning_callback_class()
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'ferzoo.sweep' has no attribute {name!r}")


__all__ = sorted([*_WHERE, "PruningCallback"])
