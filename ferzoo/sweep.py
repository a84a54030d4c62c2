"""Optuna sweeps over ferzoo models: the machinery behind `sweeps/run.py`.

The entry point is the script (`python sweeps/run.py --study demo`); this module holds what it
composes, so that it can be imported and tested:

- `StudyConfig`: one row of the studies table (`sweeps/studies.py`): dataset, protocol and the
  validation metric to optimise;
- `open_storage`: an `RDBStorage` with a heartbeat and a retry callback (a worker killed with
  SIGKILL costs only the trial it was running, which another worker, or the next start, retries),
  SQLite lock timeouts, and a one-line `StorageError` when the URL cannot be reached;
- `PruningCallback`: a Keras callback (any backend) that reports the validation metric to Optuna
  after every epoch and raises `optuna.TrialPruned` when the pruner says so;
- `Objective`: one trial = `ferzoo.train(..., evaluate_test=False)` on validation data only, with
  the trial's parameter count, MACs and median epoch time as user attributes and its curves and
  validation confusion matrix uploaded as Optuna artifacts (shown by optuna-dashboard);
- `run_worker`: runs trials until the study holds `n_trials` finished (complete or pruned)
  trials, shared with any number of other workers, none duplicated;
- `finalize`: retrains the best configuration once, evaluates it on the test part and writes
  `results/<study>/` (best.json, summary.md, optimization_history.png, param_importances.png).

Example:

    from ferzoo import sweep
    storage = sweep.open_storage("sqlite:///results/optuna.db")
    study = sweep.create_or_load_study(settings, storage)
    sweep.run_worker(study, sweep.Objective(settings, suggest), settings)
    sweep.finalize(settings, storage, to_build)
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

DEFAULT_STORAGE = "sqlite:///results/optuna.db"
DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
ACTIVE_STATES = (TrialState.RUNNING, TrialState.WAITING)
PRUNERS = ("median", "hyperband", "none")
# Files of ferzoo.train's output dir (and ours) stored with each trial as Optuna artifacts.
TRIAL_ARTIFACTS = ("curves.png", "val_confusion_matrix.png", "history.csv", "config.json")
# Settings a study is created with; resuming it with other values would mix incomparable trials.
_PINNED = ("dataset", "protocol", "fold", "metric", "epochs", "image_size", "space")


class SweepError(RuntimeError):
    """A sweep cannot go on; the message is one line meant for the user."""


class StorageError(SweepError):
    """The Optuna storage URL cannot be opened or reached."""


class StudyMismatchError(SweepError):
    """An existing study was created with other settings (dataset, epochs, ...)."""


class SurplusTrial(Exception):
    """Raised for a trial asked for once the study already held `n_trials` trials."""


class _quiet_experimental:
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
            (`"val_accuracy"` or `"val_loss"`); the trial's value is the metric at the epoch of
            lowest validation loss, whose weights `ferzoo.train` keeps.
        space: the search space's name in `sweeps/space.py` (`"full"` or `"demo"`).
        n_trials, epochs, image_size: defaults for `--n-trials`, `--epochs`, `--image-size`.
        fold: the protocol's fold used for validation and test.
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
    results_dir: str = "results"
    heartbeat_interval: int = 30
    max_retry: int = 2
    worker_id: int = 0
    keep_trial_dirs: bool = False
    verbose: int | str = 0

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


# ---------------------------------------------------------------------------------------------
# Storage
# ---------------------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """The URL with any password replaced by `***` (for messages and files)."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


def _normalize_url(url: str) -> str:
    if url.startswith(("postgresql://", "postgres://")):
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; use psycopg2 when only it exists.
        import importlib.util

        if importlib.util.find_spec("psycopg") is None and importlib.util.find_spec("psycopg2"):
            return "postgresql+psycopg2://" + url.split("://", 1)[1]
    return url


def sqlite_path(url: str) -> str | None:
    """The file path of a `sqlite:///path` URL, or None for other URLs and in-memory SQLite."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?", 1)[0]
    return path or None


def open_storage(
    url: str = DEFAULT_STORAGE,
    *,
    heartbeat_interval: int | None = 30,
    grace_period: int | None = None,
    max_retry: int | None = 2,
    create: bool = True,
) -> optuna.storages.RDBStorage:
    """Open an Optuna RDB storage ready for several workers.

    Args:
        url: a SQLAlchemy URL: `sqlite:///results/optuna.db` (one host; its folder is created) or
            `postgresql://user:password@host:5432/db` (several machines).
        heartbeat_interval: seconds between a running trial's heartbeats; None disables them.
        grace_period: seconds without a heartbeat after which a running trial is failed (and
            retried); default 3 * heartbeat_interval.
        max_retry: how many times a trial failed that way is retried with the same parameters.
        create: create the SQLite file's folder (False: the file must exist).

    Returns:
        The storage.

    Raises:
        StorageError: when the URL is malformed, its driver is missing or the database cannot be
            reached; the message is one line and hides any password.
    """
    import sqlalchemy.exc

    url = _normalize_url(url)
    engine_kwargs: dict[str, Any]
    path = sqlite_path(url)
    if url.startswith("sqlite"):
        # Several processes share the file: wait for its lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 60}}
        if path:
            folder = os.path.dirname(os.path.abspath(path))
            if create:
                os.makedirs(folder, exist_ok=True)
            elif not os.path.exists(path):
                raise StorageError(f"no Optuna storage at {path} (run a sweep first)")
    else:
        engine_kwargs = {"pool_pre_ping": True}
        if url.startswith("postgresql"):
            engine_kwargs["connect_args"] = {"connect_timeout": 10}
    if heartbeat_interval is not None and grace_period is None:
        grace_period = 3 * heartbeat_interval
    heartbeat: dict[str, Any] = {}
    if heartbeat_interval is not None:
        heartbeat = {"heartbeat_interval": heartbeat_interval, "grace_period": grace_period}
        if hasattr(optuna.storages, "RetryHeartbeatStaleTrialCallback"):  # optuna >= 4.9
            with _quiet_experimental():
                retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)
            heartbeat["heartbeat_stale_trial_callback"] = retry
        else:
            retry = optuna.storages.RetryFailedTrialCallback(max_retry=max_retry)
            heartbeat["failed_trial_callback"] = retry
    try:
        # Workers that start together on an empty database race to create Optuna's tables; on
        # PostgreSQL the loser gets a duplicate-key error from the catalog. The tables exist by
        # then, so opening again succeeds.
        for attempt in range(4):
            try:
                with _quiet_experimental():
                    return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **heartbeat)
            except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError) as err:
                racing = any(words in str(err) for words in ("duplicate key", "already exists"))
                if not racing or attempt == 3:
                    raise
                time.sleep(0.5 + random.random())
    except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()
        first = reason[0].strip() if reason else type(err).__name__
        raise StorageError(f"cannot open the Optuna storage {mask_url(url)}: {first}") from None


def retried_trial_number(trial: FrozenTrial) -> int | None:
    """The number of the trial this one retries (its worker died), or None."""
    return trial.system_attrs.get("failed_trial")


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


def create_or_load_study(
    settings: SweepSettings, storage: optuna.storages.BaseStorage
) -> optuna.Study:
    """Create the study, or load it (`load_if_exists=True`) and check it was made alike.

    The sampler is TPE seeded with `seed + worker_id`, so workers do not draw the same startup
    configurations. The study's dataset, protocol, metric, epochs, image size and space are kept
    as study user attributes; resuming with other values raises a `SweepError`.
    """
    study = optuna.create_study(
        storage=storage,
        study_name=settings.study_name,
        direction=settings.study.direction,
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=settings.seed + settings.worker_id),
        pruner=make_pruner(settings.pruner, settings.epochs),
    )
    wanted = _pinned_values(settings)
    have = study.user_attrs
    if not any(k in have for k in _PINNED):
        for key, value in wanted.items():
            study.set_user_attr(key, value)
        study.set_user_attr("study", settings.study.name)
    else:
        diff = [f"{k}={have.get(k)!r} (now {v!r})" for k, v in wanted.items() if have.get(k) != v]
        if diff:
            raise StudyMismatchError(
                f"study {settings.study_name!r} was created with {', '.join(diff)}; run it with "
                "the same settings or choose another --study-name"
            )
    return study


def _pinned_values(settings: SweepSettings) -> dict[str, Any]:
    s = settings.study
    return {
        "dataset": s.dataset,
        "protocol": s.protocol,
        "fold": s.fold,
        "metric": s.metric,
        "epochs": settings.epochs,
        "image_size": settings.image_size,
        "space": s.space,
    }


def count_trials(study: optuna.Study) -> dict[TrialState, int]:
    """How many trials of the study are in each state."""
    counts = dict.fromkeys(TrialState, 0)
    for t in study.get_trials(deepcopy=False):
        counts[t.state] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# Pruning
# ---------------------------------------------------------------------------------------------


def _pruning_callback_class():
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

        Example:
            >>> cb = PruningCallback(trial, "val_accuracy")  # doctest: +SKIP
            >>> model.fit(x, y, validation_data=(xv, yv), epochs=5, callbacks=[cb])  # doctest: +SKIP

        Reference:
            After optuna-integration's TFKerasPruningCallback, without its TensorFlow dependency.
        """

        def __init__(self, trial: optuna.Trial, monitor: str = "val_accuracy"):
            super().__init__()
            self.trial = trial
            self.monitor = monitor
            self.epoch_times: list[float] = []
            self.epochs_reported = 0
            self._start = 0.0

        def on_train_begin(self, logs=None):
            from ferzoo.profiling import profile as profile_fn

            profile = profile_fn(self.model)
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
            self.trial.report(value, step=epoch)
            self.epochs_reported += 1
            if self.trial.should_prune():
                self.trial.set_user_attr("pruned_at_epoch", epoch)
                raise optuna.TrialPruned(f"pruned at epoch {epoch} ({self.monitor}={value:.4f})")

    _PruningCallback = PruningCallback
    return PruningCallback


_PruningCallback = None


def __getattr__(name: str) -> Any:
    if name == "PruningCallback":
        return _pruning_callback_class()
    raise AttributeError(f"module 'ferzoo.sweep' has no attribute {name!r}")


# ---------------------------------------------------------------------------------------------
# The objective
# ---------------------------------------------------------------------------------------------

Suggest = Callable[[optuna.Trial, StudyConfig, Mapping[str, Any]], tuple[str, dict, dict]]


def is_surplus(trial: optuna.Trial, n_trials: int) -> bool:
    """Whether `n_trials` trials that count (finished, running or waiting) precede this one.

    Trial numbers are given out in order by the storage, so of two workers that ask at the same
    moment for the last free slot, exactly one gets it.
    """
    ahead = trial.study.get_trials(deepcopy=False, states=DONE_STATES + ACTIVE_STATES)
    return sum(1 for t in ahead if t.number < trial.number) >= n_trials


class Objective:
    """One trial: sample a configuration, train it on the training part, score it on validation.

    Args:
        settings: the sweep's settings.
        suggest: `suggest(trial, study_config, fixed) -> (model_name, model_overrides,
            train_kwargs)` (`sweeps/space.py`); train_kwargs hold learning_rate, batch_size and
            augment.
        train_fn: the trainer (default `ferzoo.train`); tests may pass a stand-in.
        load_fn: the data loader (default `ferzoo.data.load`).

    Returns (when called):
        The trial's value: the study's metric at the epoch of lowest validation loss.
    """

    def __init__(
        self,
        settings: SweepSettings,
        suggest: Suggest,
        *,
        train_fn: Callable[..., Any] | None = None,
        load_fn: Callable[..., Any] | None = None,
    ):
        self.settings = settings
        self.suggest = suggest
        self.train_fn = train_fn
        self.load_fn = load_fn
        self._store = None

    @property
    def artifact_store(self) -> optuna.artifacts.FileSystemArtifactStore:
        if self._store is None:
            os.makedirs(self.settings.artifact_dir, exist_ok=True)
            self._store = optuna.artifacts.FileSystemArtifactStore(self.settings.artifact_dir)
        return self._store

    def __call__(self, trial: optuna.Trial) -> float:
        s = self.settings
        import keras

        keras.backend.clear_session()
        workdir = tempfile.mkdtemp(prefix=f"ferzoo-{s.study_name}-trial{trial.number}-")
        try:
            return self._run(trial, workdir)
        finally:
            if s.keep_trial_dirs:
                keep = os.path.join(s.study_dir, "trials", f"trial-{trial.number}")
                shutil.rmtree(keep, ignore_errors=True)
                os.makedirs(os.path.dirname(keep), exist_ok=True)
                shutil.move(workdir, keep)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
            keras.backend.clear_session()

    def _run(self, trial: optuna.Trial, workdir: str) -> float:
        s = self.settings
        cfg = s.study
        model_name, overrides, train_kwargs = self.suggest(trial, cfg, s.fixed)
        trial.set_user_attr("model", model_name)
        trial.set_user_attr("model_overrides", _jsonable(overrides))
        trial.set_user_attr("worker", s.worker_id)
        if s.fixed:
            trial.set_user_attr("fixed", _jsonable(s.fixed))

        load = self.load_fn or _default_load()
        data = load(
            cfg.dataset,
            protocol=cfg.protocol,
            fold=cfg.fold,
            image_size=s.image_size,
            batch_size=int(train_kwargs["batch_size"]),
            seed=s.seed,
            augment=float(train_kwargs.get("augment", 0.0)),
            data_dir=s.data_dir,
            manual_dir=s.manual_dir,
        )
        pruning = _pruning_callback_class()(trial, cfg.metric)
        train = self.train_fn or _default_train()
        result = train(
            model_name,
            data,
            protocol=cfg.protocol,
            fold=cfg.fold,
            image_size=s.image_size,
            epochs=s.epochs,
            batch_size=int(train_kwargs["batch_size"]),
            learning_rate=float(train_kwargs["learning_rate"]),
            seed=s.seed,
            augment=float(train_kwargs.get("augment", 0.0)),
            output_dir=workdir,
            model_overrides=overrides,
            callbacks=[pruning],
            evaluate_test=False,
            resume=False,
            verbose=s.verbose,
        )
        history = result.history
        if cfg.metric not in history or result.best_epoch < 0:
            raise SweepError(
                f"the training history has no {cfg.metric!r} (keys: {sorted(history)})"
            )
        value = float(history[cfg.metric][result.best_epoch])
        profile = result.profile or {}
        trial.set_user_attr("params", int(profile.get("params", 0)))
        trial.set_user_attr("macs", int(profile.get("macs", 0)))
        trial.set_user_attr("epoch_time", float(result.epoch_time))
        trial.set_user_attr("best_epoch", int(result.best_epoch))
        trial.set_user_attr("epochs_run", len(history.get("loss", [])))
        trial.set_user_attr("val_loss", float(result.val_loss))
        self._validation_confusion(trial, result, data, workdir)
        self._upload(trial, workdir)
        return value

    def _validation_confusion(self, trial, result, data, workdir: str) -> None:
        """The confusion matrix on the validation part (never the test part) as a PNG."""
        from ferzoo import evaluate as ev

        metrics = ev.evaluate_model(result.model, data["validation"], list(data.class_names))
        trial.set_user_attr("val_macro_f1", float(metrics["macro_f1"]))
        ev.plot_confusion_matrix(
            metrics["confusion_matrix"],
            metrics["class_names"],
            os.path.join(workdir, "val_confusion_matrix.png"),
            title=f"trial {trial.number}: validation confusion matrix",
        )

    def _upload(self, trial: optuna.Trial, workdir: str) -> None:
        for name in TRIAL_ARTIFACTS:
            path = os.path.join(workdir, name)
            if os.path.exists(path):
                optuna.artifacts.upload_artifact(
                    artifact_store=self.artifact_store, file_path=path, study_or_trial=trial
                )


def _default_train():
    from ferzoo.training import train

    return train


def _default_load():
    from ferzoo import data

    return data.load


# ---------------------------------------------------------------------------------------------
# Workers
# ---------------------------------------------------------------------------------------------


def run_worker(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    settings: SweepSettings,
    *,
    poll_interval: float | None = None,
    max_consecutive_failures: int = 3,
    log: Callable[[str], None] | None = None,
) -> int:
    """Run trials until the study holds `n_trials` finished trials (or the timeout passes).

    Any number of workers (processes, machines) may run this on one study. Before each trial the
    worker fails stale trials (their worker stopped beating; the retry callback re-queues them),
    then counts: it stops when `n_trials` trials are complete or pruned; it runs a trial when a
    slot is free or a retried trial waits; when the remaining slots are all running elsewhere it
    waits, so a trial whose worker dies is still retried. A trial that finds the study full
    (two workers asked for the last slot at the same moment) is closed at once as FAIL with the
    user attribute `surplus`, without training.

    Returns:
        The number of trials this worker ran.

    Raises:
        SweepError: after `max_consecutive_failures` failed trials in a row (a broken setup,
            not an unlucky configuration).
        KeyboardInterrupt: on Ctrl-C; the running trial is stored as FAIL first.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    poll = poll_interval or max(1.0, min(10.0, settings.heartbeat_interval / 2))
    deadline = time.monotonic() + settings.timeout if settings.timeout else None
    ran = failures = 0
    waiting_logged = False
    finished: list[FrozenTrial] = []

    last_error: list[BaseException] = []

    def remember(_study: optuna.Study, trial: FrozenTrial) -> None:
        finished.append(trial)

    def guarded(trial: optuna.Trial) -> float:
        if is_surplus(trial, settings.n_trials):
            trial.set_user_attr("surplus", True)
            raise SurplusTrial(f"the study already holds {settings.n_trials} trials")
        try:
            return objective(trial)
        except optuna.TrialPruned:
            raise
        except Exception as err:
            last_error[:] = [err]
            raise

    while True:
        if deadline is not None and time.monotonic() >= deadline:
            log(f"[worker {settings.worker_id}] timeout reached after {ran} trial(s)")
            break
        if settings.heartbeat_interval:
            with _quiet_experimental():
                optuna.storages.fail_stale_trials(study)
        counts = count_trials(study)
        done = counts[TrialState.COMPLETE] + counts[TrialState.PRUNED]
        if done >= settings.n_trials:
            break
        active = counts[TrialState.RUNNING] + counts[TrialState.WAITING]
        if done + active >= settings.n_trials and counts[TrialState.WAITING] == 0:
            if not waiting_logged:
                log(
                    f"[worker {settings.worker_id}] {done} trial(s) finished, "
                    f"{counts[TrialState.RUNNING]} running elsewhere: waiting for them"
                )
                waiting_logged = True
            time.sleep(poll)
            continue
        waiting_logged = False
        finished.clear()
        with _quiet_experimental():
            study.optimize(
                guarded,
                n_trials=1,
                catch=(Exception,),
                callbacks=[remember],
                gc_after_trial=True,
            )
        ran += 1
        trial = finished[-1] if finished else None
        if trial is not None and trial.user_attrs.get("surplus"):
            break
        if trial is not None and trial.state == TrialState.FAIL:
            failures += 1
            if failures >= max_consecutive_failures:
                err = last_error[0] if last_error else None
                reason = f"{type(err).__name__}: {err}" if err else "see the log above"
                raise SweepError(f"{failures} trials in a row failed; last error: {reason}")
        else:
            failures = 0
    return ran


# ---------------------------------------------------------------------------------------------
# After the study
# ---------------------------------------------------------------------------------------------

ToBuild = Callable[[Mapping[str, Any], StudyConfig], tuple[str, dict, dict]]


def _atomic_write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _atomic_savefig(fig, path: str) -> None:
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, path)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if hasattr(value, "item"):
        return value.item()
    return repr(value)


def write_plots(study: optuna.Study, out_dir: str) -> dict[str, str]:
    """Save optimization_history.png and param_importances.png; say why one was skipped.

    Returns:
        `{plot name: file name}` for the plots written and `{plot name: "skipped: reason"}` for
        the others.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    written: dict[str, str] = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    plots = {
        "optimization_history": lambda: ovm.plot_optimization_history(study),
        "param_importances": lambda: ovm.plot_param_importances(study),
    }
    for name, plot in plots.items():
        if name == "param_importances":
            varying = {
                k
                for k in {k for t in complete for k in t.params}
                if len({repr(t.params.get(k)) for t in complete}) > 1
            }
            if len(complete) < 2 or not varying:
                written[name] = "skipped: needs >= 2 complete trials with differing parameters"
                continue
        try:
            with _quiet_experimental():
                ax = plot()
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(8, 5)
            _atomic_savefig(fig, os.path.join(out_dir, f"{name}.png"))
            plt.close(fig)
            written[name] = f"{name}.png"
        except (ValueError, RuntimeError, ZeroDivisionError) as err:
            written[name] = f"skipped: {err}".splitlines()[0]
            plt.close("all")
    return written


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if value is None:
        return ""
    return str(value)


def summary_markdown(
    study: optuna.Study,
    settings: SweepSettings,
    best: FrozenTrial | None,
    test: Mapping[str, Any] | None,
    plots: Mapping[str, str],
    *,
    top: int = 10,
) -> str:
    """The markdown of summary.md: counts, the top trials, the best parameters, test metrics."""
    import keras

    cfg = settings.study
    counts = count_trials(study)
    lines = [
        f"# Sweep `{settings.study_name}`",
        "",
        f"{cfg.description}".strip(),
        "",
        f"- dataset `{cfg.dataset}`, protocol `{cfg.protocol}`, fold {cfg.fold}; "
        f"objective: {cfg.direction} `{cfg.metric}` (validation data)",
        f"- {settings.epochs} epochs per trial at {settings.image_size} px, "
        f"pruner `{settings.pruner}`, storage `{mask_url(settings.storage_url)}`",
        "- trials: " + ", ".join(f"{counts[s]} {s.name.lower()}" for s in TrialState if counts[s]),
        f"- written {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"keras {keras.__version__} ({keras.backend.backend()})",
        "",
    ]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    reverse = cfg.direction == "maximize"
    ranked = sorted(complete, key=lambda t: t.value, reverse=reverse)[:top]
    if ranked:
        keys = sorted({k for t in ranked for k in t.params})
        lines += [
            f"## Top {len(ranked)} trials",
            "",
            "| trial | "
            + cfg.metric
            + " | model | "
            + " | ".join(keys)
            + " | params | MACs | s/epoch |",
            "|" + "---|" * (len(keys) + 6),
        ]
        for t in ranked:
            u = t.user_attrs
            cells = [
                str(t.number),
                _fmt(t.value),
                str(u.get("model", "")),
                *(_fmt(t.params.get(k)) for k in keys),
                f"{u.get('params', 0):,}",
                f"{u.get('macs', 0):,}",
                _fmt(u.get("epoch_time")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    else:
        lines += ["No trial completed, so there is no best configuration.", ""]
    if best is not None:
        lines += [
            f"## Best: trial {best.number} ({cfg.metric} = {_fmt(best.value)})",
            "",
            "```json",
            json.dumps(_jsonable(best.params), indent=2),
            "```",
            "",
        ]
    if test:
        lines += [
            "## The best configuration retrained, on the test part",
            "",
            "| accuracy | macro F1 | examples |",
            "|---|---|---|",
            f"| {_fmt(test.get('accuracy'))} | {_fmt(test.get('macro_f1'))} | "
            f"{test.get('num_examples', '')} |",
            "",
        ]
    if plots:
        lines += ["## Plots", ""]
        for name, file in plots.items():
            lines.append(f"![{name}]({file})" if file.endswith(".png") else f"- {name}: {file}")
        lines.append("")
    lines += [
        "Browse every trial, with its curves and validation confusion matrix:",
        "",
        "```",
        f"ferzoo dashboard --storage {mask_url(settings.storage_url)} --study {settings.study_name}",
        "```",
        "",
    ]
    return "\n".join(lines)


def finalize(
    settings: SweepSettings,
    storage: optuna.storages.BaseStorage,
    to_build: ToBuild,
    *,
    retrain: bool = True,
    train_fn: Callable[..., Any] | None = None,
) -> dict[str, Any]:
    """Retrain the best configuration once, test it, and write `results/<study>/`.

    Writes best.json, summary.md, optimization_history.png and param_importances.png (each
    atomically: a crash leaves the previous file or the new one). The retrained run's files
    (metrics, confusion matrix, curves) go to `results/<study>/best/`.

    Returns:
        The content of best.json.

    Raises:
        SweepError: when no trial of the study completed.
    """
    cfg = settings.study
    study = optuna.load_study(study_name=settings.study_name, storage=storage)
    os.makedirs(settings.study_dir, exist_ok=True)
    plots = write_plots(study, settings.study_dir)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        _atomic_write(
            os.path.join(settings.study_dir, "summary.md"),
            summary_markdown(study, settings, None, None, plots),
        )
        raise SweepError(f"no trial of study {settings.study_name!r} completed")
    best = study.best_trial
    params = {**best.user_attrs.get("fixed", {}), **best.params}
    model_name, overrides, train_kwargs = to_build(params, cfg)
    test = None
    run_dir = os.path.join(settings.study_dir, "best")
    if retrain:
        import keras

        keras.backend.clear_session()
        train = train_fn or _default_train()
        result = train(
            model_name,
            cfg.dataset,
            protocol=cfg.protocol,
            fold=cfg.fold,
            image_size=settings.image_size,
            epochs=settings.epochs,
            batch_size=int(train_kwargs["batch_size"]),
            learning_rate=float(train_kwargs["learning_rate"]),
            seed=settings.seed,
            augment=float(train_kwargs.get("augment", 0.0)),
            output_dir=run_dir,
            model_overrides=overrides,
            evaluate_test=True,
            resume=False,
            data_dir=settings.data_dir,
            manual_dir=settings.manual_dir,
            verbose=settings.verbose,
        )
        test = {
            k: result.test[k]
            for k in ("accuracy", "macro_f1", "macro_precision", "macro_recall", "num_examples")
            if result.test and k in result.test
        }
        test["val_accuracy"] = result.val_accuracy
        test["best_epoch"] = result.best_epoch
    best_json = {
        "study": cfg.name,
        "study_name": settings.study_name,
        "storage": mask_url(settings.storage_url),
        "dataset": cfg.dataset,
        "protocol": cfg.protocol,
        "fold": cfg.fold,
        "metric": cfg.metric,
        "direction": cfg.direction,
        "epochs": settings.epochs,
        "image_size": settings.image_size,
        "trial": best.number,
        "value": best.value,
        "params": params,
        "model": model_name,
        "model_overrides": overrides,
        "train_kwargs": train_kwargs,
        "user_attrs": best.user_attrs,
        "trials": {s.name.lower(): n for s, n in count_trials(study).items() if n},
        "test": test,
        "retrained_dir": run_dir if retrain else None,
        "backend": _keras_backend(),
    }
    best_json = _jsonable(best_json)
    _atomic_write(os.path.join(settings.study_dir, "best.json"), json.dumps(best_json, indent=2))
    _atomic_write(
        os.path.join(settings.study_dir, "summary.md"),
        summary_markdown(study, settings, best, test, plots),
    )
    return best_json


def _keras_backend() -> str:
    import keras

    return keras.backend.backend()


__all__ = [
    "DEFAULT_STORAGE",
    "Objective",
    "PruningCallback",  # noqa: F822 (built on first use, see __getattr__)
    "StorageError",
    "StudyConfig",
    "SweepError",
    "SweepSettings",
    "count_trials",
    "create_or_load_study",
    "finalize",
    "make_pruner",
    "open_storage",
    "run_worker",
    "write_plots",
]
