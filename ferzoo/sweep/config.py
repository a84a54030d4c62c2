"""A sweep's settings: the study table's rows, the run's settings, the errors it reports.

No Optuna import at module level: the `ferzoo` command's parser reads the choices from here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from ferzoo.paths import DEFAULT_STORAGE
from ferzoo.paths import SWEEPS_DIR as DEFAULT_RESULTS_DIR
from ferzoo.training import options

PRUNERS = ("median", "hyperband", "none")
# Files of ferzoo.train's output dir (and ours) stored with each trial as Optuna artifacts.
TRIAL_ARTIFACTS = ("curves.png", "val_confusion_matrix.png", "history.csv", "config.json")
# Settings a study is created with; resuming it with other values would mix incomparable trials.
_PINNED = ("dataset", "protocol", "fold", "metric", "epochs", "image_size", "space")
# Pinned later (every training option a sweep pins, `ferzoo.training.options`); a study made
# before they existed was run with their defaults.
PINNED_DEFAULTS = {**{o.name: o.default for o in options.OPTIONS if o.sweep == "pin"},
                   "cv_folds": 1, "objectives": []}  # fmt: skip
# The storage whose studies get plain `<results_dir>/<study>/` folders lies beside the results
# dir: `runs/optuna.db` for `runs/sweeps/` (the defaults); see `report_dir`.
HOME_STORAGE_FILE = "optuna.db"


def sqlite_path(url: str) -> str | None:
    """The file path of a `sqlite:///path` URL, or None for other URLs and in-memory SQLite."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return path or None


def storage_key(url: str, root: str | None = None) -> str:
    """One spelling of the database that the storage URL `url` names, to tell storages apart.

    A SQLite file is `sqlite:///` and its real path (symlinks resolved; the driver and query
    dropped), written relative to `root` when the file lies inside it: `sqlite:///runs/x.db`,
    `sqlite:///./runs/x.db`, `sqlite+pysqlite:////home/me/fz/runs/x.db?timeout=9` (run from
    /home/me/fz) are one key, and a project moved as a whole keeps its keys. Another database
    is its URL without password or driver, its host in lower case, PostgreSQL's default port
    written out: `postgresql+psycopg2://me:pw@Host/fz` is `postgresql://me@host:5432/fz`. The
    query is kept there (it can select a schema). A URL SQLAlchemy cannot parse is its own key.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            return "sqlite://"
        path = os.path.realpath(parsed.database)
        if root is not None:
            base = os.path.realpath(root)
            if os.path.commonpath([path, base]) == base:
                path = os.path.relpath(path, base)
        return f"sqlite:///{path}"
    port = parsed.port or (5432 if backend == "postgresql" else None)
    host = parsed.host.lower() if parsed.host else None
    plain = parsed._replace(drivername=backend, password=None, host=host, port=port)
    return plain.render_as_string(hide_password=False)


def report_dir(results_dir: str, storage_url: str, study_name: str) -> str:
    """The folder of study `study_name` of the storage `storage_url`: its report, trial files
    and artifacts. Two storages holding a study of the same name never share one.

    Its home storage, the SQLite file `optuna.db` in the folder above `results_dir`
    (`sqlite:///runs/optuna.db` for `runs/sweeps`, the defaults), gets `<results_dir>/<study>`.
    Any other storage gets `<results_dir>/<study>-<8 hex digits>`, the digits starting the
    SHA-256 of its `storage_key`: every spelling of one database (a relative or absolute path,
    a driver, a password) finds the same folder, and two databases two folders. The name is
    computed, so workers and `ferzoo dashboard` agree on it without asking each other; the
    folder's owner.json (`ferzoo.sweep.ownership.own_report_dir`) guards against the rest (a
    folder from before this rule, a digest collision).

    Example:
        >>> report_dir("runs/sweeps", "sqlite:///runs/optuna.db", "demo")
        'runs/sweeps/demo'
    """
    root = os.path.dirname(os.path.abspath(results_dir))
    key = storage_key(storage_url, root)
    if key == storage_key(f"sqlite:///{os.path.join(root, HOME_STORAGE_FILE)}", root):
        return os.path.join(results_dir, study_name)
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    return os.path.join(results_dir, f"{study_name}-{digest}")


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
        import optuna  # here: this module stays free of Optuna for the command line's parser

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
        cv_folds: the folds each trial is scored on (`--cv-folds`'s default): 3 for the
            datasets of few subjects (JAFFE, CK+, KDEF), whose one-fold scores are noisy.
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
    cv_folds: int = 1

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


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Where and how the study runs: its storage, its trials, the final stage."""

    study_name: str
    storage_url: str = DEFAULT_STORAGE
    n_trials: int = 40
    timeout: float | None = None
    pruner: str = "median"
    results_dir: str = DEFAULT_RESULTS_DIR
    heartbeat_interval: int = 30
    max_retry: int = 2
    keep_trial_dirs: bool = False
    # One compiled model per architecture and worker, reset for each run, and the final stage
    # writing what complete trials kept rather than training it again (`ferzoo.training.reuse`,
    # `ferzoo.sweep.kept`); False: every run built, compiled and trained afresh.
    reuse: bool = True
    verbose: int | str = 0  # Keras fit verbosity of every run
    progress: bool = False  # one line per epoch of every trial (`--progress`)
    final: bool = True  # retrain the best afterwards (not `--no-final`)
    final_folds: int = 1  # folds the best configuration is retrained and tested on
    baselines: bool = True  # retrain the papers' models beside the best (summary.md compares)


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """What every run of the sweep trains with."""

    epochs: int = 50
    image_size: int = 112
    batch_size: int | None = None  # fixed batch size instead of the searched one
    seed: int = 0  # every run's, and the sampler's (plus the worker id)
    cv_folds: int | None = None  # folds each trial is scored on (None: the study's)
    # The training options given to every run (`ferzoo.training.options` declared with sweep
    # "pass" or "pin": the selection rule, initial weights, precision, the data's folders...),
    # every one present (a missing one takes its default). The study's `metric` stays the
    # objective, read at the epoch the selection rule keeps.
    options: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        passed = {o.name: o.default for o in options.OPTIONS if o.sweep}
        unknown = sorted(set(self.options) - set(passed))
        if unknown:
            raise ValueError(
                f"training options a sweep does not pass: {unknown}. Known: {sorted(passed)}"
            )
        object.__setattr__(self, "options", passed | dict(self.options))


@dataclasses.dataclass(frozen=True)
class ObjectiveSettings:
    """Costs optimised beside the study's metric (`ferzoo.sweep.costs.COSTS`), and the budgets
    the configuration retrained at the end must keep."""

    costs: tuple[str, ...] = ()
    max_latency_ms: float | None = None
    max_macs: int | None = None


@dataclasses.dataclass(frozen=True)
class WorkerSettings:
    """Which worker this process is, and the workers it starts itself."""

    worker_id: int = 0
    launched: bool = False  # started by another sweep process, or `--worker-id` given
    # The devices of the workers this process starts (`ferzoo.commands.sweep.worker_plan`;
    # `(None,)`: it runs the trials itself), and the GPU(s) it was given.
    devices: tuple[str | None, ...] = (None,)
    cuda_visible_devices: str | None = None


#: `SweepSettings`' groups and their classes.
GROUPS = {"run": RunSettings, "training": TrainingSettings, "objectives": ObjectiveSettings,
          "workers": WorkerSettings}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class SweepSettings:
    """Everything one sweep run needs (built from the command line by `ferzoo sweep`), in
    groups, frozen; a worker process receives them whole as JSON (`to_json`, `from_json`)."""

    study: StudyConfig
    run: RunSettings
    training: TrainingSettings = TrainingSettings()
    objectives: ObjectiveSettings = ObjectiveSettings()
    workers: WorkerSettings = WorkerSettings()

    def to_json(self) -> dict[str, Any]:
        """The settings as JSON values (`from_json` reads them back)."""
        out = dataclasses.asdict(self)
        out["training"]["options"] = dict(self.training.options)
        return out

    @classmethod
    def from_json(cls, values: Mapping[str, Any]) -> SweepSettings:
        """Settings from `to_json`'s values."""
        groups = {}
        for name, group in GROUPS.items():
            fields = dict(values[name])
            for field in dataclasses.fields(group):
                if str(field.type).startswith("tuple"):
                    fields[field.name] = tuple(fields[field.name])
            groups[name] = group(**fields)
        return cls(StudyConfig(**values["study"]), **groups)

    @classmethod
    def of(cls, study: StudyConfig, study_name: str, **fields: Any) -> SweepSettings:
        """Settings from flat names (`replace`'s): `SweepSettings.of(STUDIES["demo"], "demo",
        n_trials=3, epochs=2, monitor="val_loss")`."""
        return cls(study, RunSettings(study_name)).replace(**fields)

    def replace(self, **changes: Any) -> SweepSettings:
        """A copy with fields of its groups changed, each named alone (`n_trials=4`; a training
        option a sweep passes, `monitor="val_loss"`, changes `training.options`)."""
        where = {f.name: group for group, cls_ in GROUPS.items() for f in dataclasses.fields(cls_)}
        passed = {o.name for o in options.OPTIONS if o.sweep}
        unknown = sorted(set(changes) - set(where) - passed)
        if unknown:
            raise TypeError(f"SweepSettings has no fields {unknown}")
        chosen = {k: changes.pop(k) for k in list(changes) if k in passed}
        if chosen:
            changes["options"] = {**self.training.options, **changes.get("options", {}), **chosen}
        grouped: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            grouped.setdefault(where[name], {})[name] = value
        return dataclasses.replace(self, **{
            group: dataclasses.replace(getattr(self, group), **values)
            for group, values in grouped.items()
        })  # fmt: skip

    @property
    def trial_folds(self) -> list[int]:
        """The folds each trial trains and is scored on: `cv_folds` (or the study's) folds of
        the protocol from the study's fold on; a trial's value is their mean."""
        cfg = self.study
        k = cfg.cv_folds if self.training.cv_folds is None else self.training.cv_folds
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= cfg.num_folds:
            raise ValueError(
                f"cv_folds must be an int from 1 to the protocol's {cfg.num_folds} folds. "
                f"Received: cv_folds={k!r}"
            )
        return [(cfg.fold + i) % cfg.num_folds for i in range(k)]

    def train_keywords(self, chosen: dict[str, Any]) -> dict[str, Any]:
        """`ferzoo.train`'s keywords shared by every run of this sweep (its trials and the final
        retrain), with the learning rate a trial chose."""
        t = self.training
        shared = {"epochs": t.epochs, "seed": t.seed, "verbose": self.run.verbose}
        return {**t.options, **shared, "learning_rate": float(chosen["learning_rate"])}

    @property
    def metric_names(self) -> list[str]:
        """The study's objectives: its validation metric, then the costs."""
        return [self.study.metric, *self.objectives.costs]

    @property
    def directions(self) -> list[str]:
        return [self.study.direction, *("minimize" for _ in self.objectives.costs)]

    @property
    def budgets(self) -> dict[str, float]:
        """`{cost: the most a retrained configuration may have}` (`--max-latency-ms`, ...)."""
        o = self.objectives
        budgets = {"latency_ms": o.max_latency_ms, "macs": o.max_macs}
        return {k: v for k, v in budgets.items() if v is not None}

    @property
    def measures_latency(self) -> bool:
        """Whether each trial's batch-1 latency is measured (an objective or a budget)."""
        o = self.objectives
        return "latency_ms" in o.costs or o.max_latency_ms is not None

    @property
    def study_dir(self) -> str:
        """The study's folder (`report_dir`): best.json, summary.md, plots, the artifact store."""
        return report_dir(self.run.results_dir, self.run.storage_url, self.run.study_name)

    @property
    def artifact_dir(self) -> str:
        return os.path.join(self.study_dir, "artifacts")

    @property
    def fixed(self) -> dict[str, Any]:
        """Search-space parameters fixed on the command line (not sampled)."""
        size = self.training.batch_size
        return {"batch_size": size} if size else {}
