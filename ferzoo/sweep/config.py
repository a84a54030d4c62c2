"""A sweep's settings: the study table's rows, the run's settings, the errors it reports."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import optuna
from optuna.trial import TrialState

from ferzoo.paths import DEFAULT_STORAGE
from ferzoo.paths import SWEEPS_DIR as DEFAULT_RESULTS_DIR

DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
ACTIVE_STATES = (TrialState.RUNNING, TrialState.WAITING)
PRUNERS = ("median", "hyperband", "none")
# Files of ferzoo.train's output dir (and ours) stored with each trial as Optuna artifacts.
TRIAL_ARTIFACTS = ("curves.png", "val_confusion_matrix.png", "history.csv", "config.json")
# Settings a study is created with; resuming it with other values would mix incomparable trials.
_PINNED = ("dataset", "protocol", "fold", "metric", "epochs", "image_size", "space")
# Pinned later; a study made before they existed was run with their defaults.
PINNED_DEFAULTS = {"monitor": "auto", "min_epochs": "auto", "weights": None}


class SweepError(RuntimeError):
    """A sweep cannot go on; the message is one line meant for the user."""


class StorageError(SweepError):
    """The Optuna storage URL cannot be opened or reached."""


class StudyMismatchError(SweepError):
    """An existing study was created with other settings (dataset, epochs, ...)."""


class SurplusTrial(Exception):
    """Raised for a trial asked for once the study already held `n_trials` trials."""


class DuplicateTrial(Exception):
    """Raised for a trial whose configuration the study already holds (it is not run)."""


class InfeasibleTrial(Exception):
    """Raised for a configuration that cannot be built at the sweep's image size."""


class quiet_experimental:
    """Silence Optuna's ExperimentalWarning (heartbeats) and FutureWarning around a block."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.simplefilter("ignore", FutureWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """One study of the table in `sweeps/studies.py`.

    Attributes:
        name: the study's name (`--study`).
        dataset: the TFDS dataset name (`ferzoo.data.load`).
        protocol: the split protocol (`"paper"` or `"subject"`).
        metric: the per-epoch history key optimised, always on validation data
            (`"val_accuracy"`, `"val_macro_f1"` or `"val_loss"`); the trial's value is the
            metric at the epoch whose weights `ferzoo.train` keeps (chosen by the sweep's
            `monitor` and `min_epochs`, see `ferzoo.training.selection`).
        space: the search space's name in `sweeps/space.py` (`"full"` or `"demo"`).
        n_trials, epochs, image_size: defaults for `--n-trials`, `--epochs`, `--image-size`.
        fold: the protocol's fold used for validation and test.
        num_folds: the protocol's folds (`ferzoo.data.load`'s default 10; JAFFE's 10 subjects
            give leave-one-subject-out).
        description: one line for `--help` and summary.md.
    """

    name: str
    dataset: str
    protocol: str = "paper"
    metric: str = "val_accuracy"
    space: str = "full"
    n_trials: int = 40
    epochs: int = 50
    image_size: int = 112
    fold: int = 0
    description: str = ""
    num_folds: int = 10

    def __post_init__(self):
        if not self.metric.startswith("val_"):
            raise ValueError(
                "metric must be measured on validation data (a 'val_' history key). "
                f"Received: metric={self.metric!r}"
            )

    @property
    def direction(self) -> str:
        """`"minimize"` for a loss, `"maximize"` otherwise."""
        return "minimize" if self.metric.endswith("loss") else "maximize"


@dataclasses.dataclass
class SweepSettings:
    """Everything one sweep run needs (built from the command line by `sweeps/run.py`)."""

    study: StudyConfig
    study_name: str
    storage_url: str = DEFAULT_STORAGE
    n_trials: int = 40
    timeout: float | None = None
    epochs: int = 50
    image_size: int = 112
    batch_size: int | None = None  # fixed batch size instead of the searched one
    seed: int = 0
    pruner: str = "median"
    data_dir: str | None = None
    manual_dir: str | None = None
    results_dir: str = DEFAULT_RESULTS_DIR
    heartbeat_interval: int = 30
    max_retry: int = 2
    worker_id: int = 0
    keep_trial_dirs: bool = False
    verbose: int | str = 0
    cuda_visible_devices: str | None = None  # the GPU(s) this worker was given (--gpus)
    # Model selection of every trial and of the retrained best (`ferzoo.train`'s arguments):
    # which epoch is kept. The study's `metric` stays the objective, read at that epoch.
    monitor: str = "auto"
    min_epochs: int | str = "auto"
    precision: str = "auto"  # ferzoo.precision's choice; each worker resolves it on its devices
    weights: str | None = None  # initial weights of every trial (`ferzoo.train(weights=)`)
    final_folds: int = 1  # folds the best configuration is retrained and tested on

    @property
    def study_dir(self) -> str:
        """`<results_dir>/<study_name>`: best.json, summary.md, plots and the artifact store."""
        return os.path.join(self.results_dir, self.study_name)

    @property
    def artifact_dir(self) -> str:
        return os.path.join(self.study_dir, "artifacts")

    @property
    def fixed(self) -> dict[str, Any]:
        """Search-space parameters fixed on the command line (not sampled)."""
        return {"batch_size": self.batch_size} if self.batch_size else {}
