"""One trial: sample a configuration, train it on the training part, score it on validation."""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from ferzoo.evaluation import evaluate as ev
from ferzoo.files import jsonable
from ferzoo.runtime import devices, precision
from ferzoo.sweep import costs, kept
from ferzoo.sweep.config import (
    TRIAL_ARTIFACTS,
    DuplicateTrial,
    InfeasibleTrial,
    StudyConfig,
    SweepError,
    SweepSettings,
)
from ferzoo.sweep.pruning import pruning_callback_class
from ferzoo.training import options

DONE_STATES = (TrialState.COMPLETE, TrialState.PRUNED)
ACTIVE_STATES = (TrialState.RUNNING, TrialState.WAITING)

Suggest = Callable[[optuna.Trial, StudyConfig, Mapping[str, Any]], tuple[str, dict, dict]]


def is_surplus(trial: optuna.Trial, n_trials: int) -> bool:
    """Whether `n_trials` trials that count (finished, running or waiting) precede this one.

    Trial numbers are given out in order by the storage, so of two workers that ask at the same
    moment for the last free slot, exactly one gets it.
    """
    ahead = trial.study.get_trials(deepcopy=False, states=DONE_STATES + ACTIVE_STATES)
    return sum(1 for t in ahead if t.number < trial.number) >= n_trials


def duplicate_of(trial: optuna.Trial) -> int | None:
    """The number of an earlier trial (finished, running or waiting) with the same parameters.

    A trial that retries a dead worker's trial (same parameters, by design) is not a duplicate
    of the failed original: failed trials are not compared.
    """
    params = trial.params
    for other in trial.study.get_trials(deepcopy=False, states=DONE_STATES + ACTIVE_STATES):
        if other.number < trial.number and other.params == params:
            return other.number
    return None


#: A trial's own parts beside its folds' (`ferzoo.training.timing.PARTS`): scoring each fold
#: (its validation confusion matrix, its attributes), the latency, the dashboard's artifacts,
#: keeping the runs for the final stage.
TRIAL_PARTS = ("scoring", "latency", "artifacts", "keeping")


def time_split(start: float, loading: float, splits: list[dict[str, float]],
               parts: dict[str, float] | None = None) -> dict[str, float]:  # fmt: skip
    """A trial's seconds per part and `wall`, since `start` (`time.perf_counter()`): its
    folds' training splits (`ferzoo.training.timing.PARTS`), `loading` seconds of data (the
    first trial of a worker loads it), the trial's own `parts` (`TRIAL_PARTS`), and `other`,
    the rest of the wall time (the trials' bookkeeping in the storage)."""
    from ferzoo.training.timing import PARTS  # Keras: a trial has trained by now

    fold_parts = [p for p in PARTS if p != "other"]
    total = {k: float(sum(split.get(k, 0.0) for split in splits)) for k in fold_parts}
    total["data"] += loading
    total |= {k: float((parts or {}).get(k, 0.0)) for k in TRIAL_PARTS}
    wall = time.perf_counter() - start
    total["other"] = max(0.0, wall - sum(total.values()))
    return {k: round(v, 3) for k, v in {**total, "wall": wall}.items()}


def device_description() -> str:
    """The device this process trains on, e.g. "cuda:0 (NVIDIA H200)" or "cpu"."""
    found = devices.backend_devices()
    gpus = [d for d in found if d["kind"] == "gpu"]
    if not gpus:
        return "cpu"
    return f"{gpus[0]['name']} ({gpus[0].get('model', 'GPU')})"


class Objective:
    """One trial: sample a configuration, train it on the training part, score it on validation.

    The dataset is loaded once per worker and shared by its trials (`LoadedData.rebatched`
    gives each trial its batch size and augmentation over the same images), and so is each
    architecture's compiled model (`models`, `ferzoo.training.reuse.Models`: the folds of a
    trial, the trials that change only the learning rate or the augmentation strength, and
    the final stage of this process train it without building or compiling it again).
    A complete trial that the final stage may want keeps its runs (`ferzoo.sweep.kept`).

    Args:
        settings: the sweep's settings.
        suggest: `suggest(trial, study_config, fixed) -> (model_name, model_overrides,
            train_kwargs)` (`ferzoo.sweep.space`); train_kwargs hold learning_rate,
            batch_size and augment.
        train_fn: the trainer (default `ferzoo.train`); tests may pass a stand-in.
        load_fn: the data loader (default `ferzoo.data.load`).
        models: the compiled models to share (default: a new `Models` on first use).

    Returns (when called):
        The trial's value: the study's metric at the epoch the training run kept (chosen by
        the selection options of `settings.training`), the mean over `settings.trial_folds`;
        with `settings.objectives.costs`, the tuple of it and the costs (`ferzoo.sweep.costs`:
        MACs, parameters, batch-1 latency, each also a user attribute).
    """

    def __init__(
        self,
        settings: SweepSettings,
        suggest: Suggest,
        *,
        train_fn: Callable[..., Any] | None = None,
        load_fn: Callable[..., Any] | None = None,
        models: Any = None,
    ):
        self.settings = settings
        self.suggest = suggest
        self.train_fn = train_fn
        self.load_fn = load_fn
        self._models = models
        self._store = None
        self._data: dict[int, Any] = {}  # fold -> the loaded dataset
        self._time: dict[str, Any] = {}  # the running trial's clock (`time_split`'s arguments)

    @property
    def models(self):
        """The worker's compiled models (`ferzoo.training.reuse.Models`, made on first use:
        `import ferzoo.sweep` stays free of Keras)."""
        if self._models is None:
            from ferzoo.training.reuse import Models

            self._models = Models()
        return self._models

    @property
    def artifact_store(self) -> optuna.artifacts.FileSystemArtifactStore:
        if self._store is None:
            os.makedirs(self.settings.artifact_dir, exist_ok=True)
            self._store = optuna.artifacts.FileSystemArtifactStore(self.settings.artifact_dir)
        return self._store

    def data(self, batch_size: int, augment: float, fold: int | None = None):
        """The study's dataset on `fold` (default: the study's), loaded on the first trial
        that needs it, batched as this trial asks."""
        s, cfg = self.settings, self.settings.study
        fold = cfg.fold if fold is None else fold
        if fold not in self._data:
            if self.load_fn is None:
                from ferzoo.data import load as load_fn
            else:
                load_fn = self.load_fn
            self._data[fold] = load_fn(
                cfg.dataset,
                protocol=cfg.protocol,
                fold=fold,
                num_folds=cfg.num_folds,
                image_size=s.training.image_size,
                batch_size=batch_size,
                seed=s.training.seed,
                augment=augment,
                **{
                    o.name: s.training.options[o.name]
                    for o in options.of_part("data", "paths")
                    if o.sweep
                },  # fmt: skip
            )
        data = self._data[fold]
        if hasattr(data, "rebatched"):
            return data.rebatched(batch_size=batch_size, augment=augment)
        return data

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, ...]:
        s = self.settings
        import keras

        self._time = {"start": time.perf_counter(), "loading": 0.0, "splits": [], "parts": {}}
        if not len(self.models):  # a process that keeps compiled models keeps its session
            keras.backend.clear_session()
        workdir = tempfile.mkdtemp(prefix=f"ferzoo-{s.run.study_name}-trial{trial.number}-")
        done = False
        try:
            value = self._run(trial, workdir)
            done = True
            return value
        except optuna.TrialPruned:
            done = True  # its time counts too (the device was busy in its steps)
            raise
        finally:
            if s.run.keep_trial_dirs:
                keep = os.path.join(s.study_dir, "trials", f"trial-{trial.number}")
                shutil.rmtree(keep, ignore_errors=True)
                os.makedirs(os.path.dirname(keep), exist_ok=True)
                shutil.move(workdir, keep)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
            if done:  # the whole call, its clean-up included
                trial.set_user_attr("time", time_split(**self._time))

    def _record(self, trial: optuna.Trial, model_name: str, overrides: dict) -> None:
        s = self.settings
        trial.set_user_attr("model", model_name)
        trial.set_user_attr("model_overrides", jsonable(overrides))
        trial.set_user_attr("worker", s.workers.worker_id)
        trial.set_user_attr("cuda_visible_devices", os.environ.get("CUDA_VISIBLE_DEVICES", ""))
        trial.set_user_attr("device", device_description())
        trial.set_user_attr("precision", precision.resolve(s.training.options["precision"]))
        if s.fixed:
            trial.set_user_attr("fixed", jsonable(s.fixed))

    def _run(self, trial: optuna.Trial, workdir: str) -> float | tuple[float, ...]:
        s = self.settings
        model_name, overrides, train_kwargs = self.suggest(trial, s.study, s.fixed)
        earlier = duplicate_of(trial)
        if earlier is not None:
            trial.set_user_attr("duplicate_of", earlier)
            raise DuplicateTrial(f"trial {earlier} already ran these parameters")
        self._record(trial, model_name, overrides)
        folds, scores, runs = s.trial_folds, [], []
        for k, fold in enumerate(folds):
            fold_dir = workdir if len(folds) == 1 else os.path.join(workdir, f"fold-{fold}")
            begin = time.perf_counter()
            data = self.data(int(train_kwargs["batch_size"]),
                             float(train_kwargs.get("augment", 0.0)), fold)  # fmt: skip
            self._time["loading"] += time.perf_counter() - begin
            try:
                result = self._train_fold(trial, model_name, overrides, train_kwargs, data,
                                          fold_dir, step_offset=k * s.training.epochs)  # fmt: skip
            except optuna.TrialPruned as pruned:
                self._time["splits"].append(getattr(pruned, "timings", None) or {})
                raise
            self._time["splits"].append(getattr(result, "timings", None) or {})
            with self._phase("scoring"):
                scores.append({**self._score(trial, result, data, fold), "dir": fold_dir})
                if self.keeps:  # the network trains the next fold: copy what it kept now
                    from ferzoo.training.trainer import kept_of

                    runs.append((fold, kept_of(result, s.training.epochs)))
            if len(folds) > 1:
                values = [score["value"] for score in scores]
                trial.set_user_attr("cv_folds", folds[: k + 1])
                trial.set_user_attr("fold_values", values)
                trial.set_user_attr("fold_std", statistics.stdev(values) if k else 0.0)
        value = float(statistics.fmean(score["value"] for score in scores))
        if s.measures_latency:  # the last fold's model: every fold trains the same design
            with self._phase("latency"):
                for key, attr in costs.measure_latency(result.model).items():
                    trial.set_user_attr(key, attr)
        with self._phase("artifacts"):
            self._artifacts(trial, scores, workdir)
        with self._phase("keeping"):
            self._keep(trial, value, runs)
        if not s.objectives.costs:
            return value
        return (value, *(float(trial.user_attrs[key]) for key in s.objectives.costs))

    @contextlib.contextmanager
    def _phase(self, name: str):
        begin = time.perf_counter()
        try:
            yield
        finally:
            parts = self._time["parts"]
            parts[name] = parts.get(name, 0.0) + time.perf_counter() - begin

    def _train_fold(self, trial, model_name, overrides, train_kwargs, data, out, step_offset):
        """One fold of a trial: `ferzoo.train` with the pruning callback, no test part, the
        compiled model of this worker's earlier runs of the architecture (`self.models`), and
        only the run's summary files."""
        s, cfg = self.settings, self.settings.study
        train = self.train_fn
        if train is None:
            from ferzoo.training import train
        from ferzoo.models.family import InfeasibleSizeError  # Keras: the trial builds a model

        os.makedirs(out, exist_ok=True)
        try:
            return train(
                model_name,
                data,
                **s.train_keywords(train_kwargs),
                output_dir=out,
                model_overrides=overrides,
                callbacks=[
                    pruning_callback_class()(
                        trial,
                        cfg.metric,
                        step_offset=step_offset,
                        prune=not s.objectives.costs,
                        progress=self._progress(trial, step_offset),
                    )
                ],  # fmt: skip
                evaluate_test=False,
                resume=False,
                checkpoint=False,
                outputs="summary",
                models=self.models if s.run.reuse else None,
            )
        except InfeasibleSizeError as err:  # this backbone cannot take the image size
            trial.set_user_attr("infeasible", str(err).splitlines()[0])
            raise InfeasibleTrial(str(err).splitlines()[0]) from None

    def _progress(self, trial: optuna.Trial, step_offset: int) -> Callable[[str], None] | None:
        """With `--progress`, the per-epoch line's writer, its words naming the trial and fold."""
        s = self.settings
        if not s.run.progress:
            return None
        folds, epochs = len(s.trial_folds), s.training.epochs
        where = f"trial {trial.number}" + (f", fold {step_offset // epochs + 1} of {folds}"
                                           if folds > 1 else "")  # fmt: skip

        def write(line: str) -> None:
            print(f"{where}, {line}", file=sys.stderr, flush=True)

        return write

    def _score(self, trial: optuna.Trial, result: Any, data: Any, fold: int) -> dict[str, Any]:
        """One fold's value (the study's metric at the kept epoch), recorded as user
        attributes, and its validation confusion matrix (the kept weights on the validation
        part, never the test part) for the trial's artifacts."""
        cfg = self.settings.study
        history = result.history
        if cfg.metric not in history or result.best_epoch < 0:
            raise SweepError(
                f"the training history has no {cfg.metric!r} (keys: {sorted(history)})"
            )
        value = float(history[cfg.metric][result.best_epoch])
        metrics = ev.evaluate_model(result.model, data["validation"], list(data.class_names))
        profile = result.profile or {}
        for key, attr in (
            ("params", int(profile.get("params", 0))),
            ("macs", int(profile.get("macs", 0))),
            ("epoch_time", float(result.epoch_time)),
            ("best_epoch", int(result.best_epoch)),
            ("epochs_run", len(history.get("loss", []))),
            ("val_loss", float(result.val_loss)),
            ("val_macro_f1", float(metrics["macro_f1"])),
        ):
            trial.set_user_attr(key, attr)
        return {"value": value, "fold": fold, "history": history,
                "confusion": metrics["confusion_matrix"],
                "class_names": metrics["class_names"]}  # fmt: skip

    def _artifacts(self, trial: optuna.Trial, scores: list[dict], workdir: str) -> None:
        """The trial's files for the dashboard, once at its end (a pruned trial has none):
        the validation confusion matrix summed over its folds, the first fold's curves,
        history.csv (a `fold` column with several folds) and config.json."""
        first = scores[0]
        matrix = np.sum([np.asarray(score["confusion"]) for score in scores], axis=0)
        folds = ", ".join(str(score["fold"]) for score in scores)
        ev.plot_confusion_matrix(
            matrix, first["class_names"], os.path.join(workdir, "val_confusion_matrix.png"),
            title=f"trial {trial.number}: validation confusion matrix (fold {folds})",
        )  # fmt: skip
        ev.plot_curves(first["history"], os.path.join(workdir, "curves.png"),
                       title=f"trial {trial.number}, fold {first['fold']}")  # fmt: skip
        ev.write_history_folds({s["fold"]: s["history"] for s in scores},
                               os.path.join(workdir, "history.csv"))  # fmt: skip
        config = os.path.join(first["dir"], "config.json")
        if os.path.exists(config) and first["dir"] != workdir:
            shutil.copyfile(config, os.path.join(workdir, "config.json"))
        for name in TRIAL_ARTIFACTS:
            path = os.path.join(workdir, name)
            if os.path.exists(path):
                optuna.artifacts.upload_artifact(
                    artifact_store=self.artifact_store, file_path=path, study_or_trial=trial
                )

    @property
    def keeps(self) -> bool:
        """Whether complete trials keep their runs for the final stage (`ferzoo.sweep.kept`,
        which this process or a later one runs): with reuse on, and the real trainer."""
        return self.settings.run.reuse and self.train_fn is None

    def _keep(self, trial: optuna.Trial, value: float, runs: list) -> None:
        """Keep the trial's runs for the final stage when it may want them."""
        if not self.keeps:
            return
        attrs = trial.user_attrs
        if kept.worth_keeping(trial.study, trial.number, value, self.settings, attrs):
            kept.write(self.settings, trial.number, runs)
            if not attrs.get("paper_model"):
                kept.forget_beaten(self.settings, trial.study, trial.number)


__all__ = ["Objective", "Suggest", "TrialState", "device_description", "duplicate_of", "is_surplus"]
