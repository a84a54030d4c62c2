"""Where ferzoo writes by default: everything under `runs/`, which git ignores.

A fresh clone stays clean after the README's commands: runs land in
`runs/<dataset>/<model>/<protocol>/fold-<k>/`, sweeps in `runs/sweeps/<study>/` with their
Optuna storage in `runs/optuna.db`. The figures committed under `results/` are produced by
commands written beside them, with an explicit `--output`. `FERZOO_RUNS_DIR` moves the root.
"""

from __future__ import annotations

import os

RUNS_DIR = os.environ.get("FERZOO_RUNS_DIR") or "runs"
SWEEPS_DIR = os.path.join(RUNS_DIR, "sweeps")
DEFAULT_STORAGE = f"sqlite:///{os.path.join(RUNS_DIR, 'optuna.db')}"


def run_dir(dataset: str, model: str, protocol: str, fold: int) -> str:
    """`runs/<dataset>/<model>/<protocol>/fold-<k>` ("a/b" datasets become "a-b")."""
    return os.path.join(RUNS_DIR, dataset.replace("/", "-"), model, protocol, f"fold-{fold}")


__all__ = ["DEFAULT_STORAGE", "RUNS_DIR", "SWEEPS_DIR", "run_dir"]
