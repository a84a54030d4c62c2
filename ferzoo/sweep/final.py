"""After the study: the best configuration retrained and tested, best.json, summary.md, plots.

`finalize` is the last step of `ferzoo sweep`: in the study's own folder (`ownership`), it
retrains the best (`retrain`), the papers' models beside it (`baselines`), and writes the
summary (`summary`).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import TrialState

from ferzoo import files
from ferzoo.files import jsonable
from ferzoo.sweep import baselines as paper_baselines
from ferzoo.sweep import costs
from ferzoo.sweep.claims import Claim
from ferzoo.sweep.config import StudyConfig, SweepError, SweepSettings
from ferzoo.sweep.ownership import own_report_dir
from ferzoo.sweep.retrain import retrain_best
from ferzoo.sweep.storage import count_trials, mask_url
from ferzoo.sweep.summary import summary_markdown, write_plots

ToBuild = Callable[[Mapping[str, Any], StudyConfig], tuple[str, dict, dict]]


def best_record(settings, study, best, params, built, test, run_dir) -> dict[str, Any]:
    """The content of best.json."""
    import keras

    cfg = settings.study
    model_name, overrides, train_kwargs = built
    return jsonable(
        {
            "study": cfg.name,
            "study_name": settings.run.study_name,
            "storage": mask_url(settings.run.storage_url),
            "dataset": cfg.dataset,
            "protocol": cfg.protocol,
            "fold": cfg.fold,
            "metric": cfg.metric,
            "direction": cfg.direction,
            "epochs": settings.training.epochs,
            "image_size": settings.training.image_size,
            "monitor": settings.training.options["monitor"],
            "min_epochs": settings.training.options["min_epochs"],
            "precision": settings.training.options["precision"],
            "weights": settings.training.options["weights"],
            "final_folds": settings.run.final_folds,
            "trial": best.number,
            "value": best.values[0],
            "values": dict(zip(settings.metric_names, best.values, strict=True)),
            "budgets": settings.budgets,
            "params": params,
            "model": model_name,
            "model_overrides": overrides,
            "train_kwargs": train_kwargs,
            "user_attrs": best.user_attrs,
            "trials": {s.name.lower(): n for s, n in count_trials(study).items() if n},
            "test": test,
            "retrained_dir": run_dir if test is not None else None,
            "backend": keras.backend.backend(),
        }
    )


def finalize(
    settings: SweepSettings,
    storage: optuna.storages.BaseStorage,
    to_build: ToBuild,
    *,
    retrain: bool = True,
    train_fn: Callable[..., Any] | None = None,
    models: Any = None,
) -> dict[str, Any]:
    """Retrain the best configuration, test it, and write the study's folder.

    The folder is `settings.study_dir` (`ferzoo.sweep.config.report_dir`: `<results_dir>/<study>`
    for the default storage, `<results_dir>/<study>-<digest of the storage>` for another),
    checked to be this study's (`ownership.own_report_dir`). Writes best.json, summary.md,
    optimization_history.png and param_importances.png (and pareto_front.png for several
    objectives; each atomically: a crash leaves the previous file or the new one). The best is
    the complete trial with the best validation metric within `settings.budgets`
    (`costs.pick_best`); it is retrained on `settings.run.final_folds` folds
    (`retrain.final_folds`, `retrain.retrain_best`); the retrained runs' files (metrics, confusion matrix, curves) go to its
    `best/` (one fold) or `best/fold-<k>/` folders with cv.json and cv.md (several). When
    best.json already holds a retrained result for the same best trial and fold count, the
    retrain is not repeated. With `settings.run.baselines`, the papers' models the space can draw
    are retrained on the same folds (`baselines.compare`, into `baselines/<model>/`) and
    summary.md compares them with the best.

    One process does this per study: it holds the study's final-retrain claim in the storage
    (`ferzoo.sweep.claims.Claim`, heartbeat every `settings.run.heartbeat_interval` s, 30 when 0)
    from start to end; another process finishing the same study meanwhile gets `ClaimHeld`.

    Returns:
        The content of best.json.

    Raises:
        ClaimHeld: another process is finalizing the study (its message names it).
        SweepError: when no trial of the study completed, none is within the budgets, or the
            folder is another study's.
    """
    study = optuna.load_study(study_name=settings.run.study_name, storage=storage)
    with Claim(storage, settings.run.study_name, interval=settings.run.heartbeat_interval or 30):
        return _finalize(settings, study, to_build, retrain, train_fn, models)


def _finalize(settings, study, to_build, retrain, train_fn, models) -> dict[str, Any]:
    folder = own_report_dir(settings)
    plots = write_plots(study, folder)
    summary = os.path.join(folder, "summary.md")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        files.write_text(summary, summary_markdown(study, settings, None, None, plots))
        raise SweepError(f"no trial of study {settings.run.study_name!r} completed")
    try:
        best = costs.pick_best(complete, settings.study.direction == "maximize",
                                    settings.budgets)  # fmt: skip
    except ValueError as err:
        files.write_text(summary, summary_markdown(study, settings, None, None, plots))
        raise SweepError(str(err)) from None
    params = {**best.user_attrs.get("fixed", {}), **best.params}
    built = to_build(params, settings.study)
    run_dir = os.path.join(folder, "best")
    previous = _previous_record(settings)
    test = _previous_test(previous, settings, best.number) if retrain else None
    retrain_fn = functools.partial(retrain_best, train_fn=train_fn, models=models)
    if retrain and test is None:
        test = retrain_fn(settings, *built, run_dir, trial=best.number)
    baselines = None
    if test is not None and settings.run.baselines:
        baselines = paper_baselines.compare(
            settings, study, params, test, folder, retrain_fn,
            previous=previous.get("baselines"),
        )  # fmt: skip
    record = best_record(settings, study, best, params, built, test, run_dir)
    record["baselines"] = jsonable(baselines)
    files.write_json(os.path.join(folder, "best.json"), record)
    markdown = summary_markdown(study, settings, best, test, plots, baselines=baselines)
    files.write_text(summary, markdown)
    return record


def _previous_record(settings: SweepSettings) -> dict[str, Any]:
    """The best.json an earlier finalize wrote in the study's folder ({} if none)."""
    path = os.path.join(settings.study_dir, "best.json")
    return files.read_json(path) if os.path.exists(path) else {}


def _previous_test(previous: Mapping[str, Any], settings: SweepSettings, trial_number: int):
    """The test result an earlier best.json (`previous`) holds for this best trial, if it was
    retrained already (None otherwise)."""
    test = previous.get("test")
    folds = len((test or {}).get("cv", {}).get("folds", [])) if test else 0
    if previous.get("trial") == trial_number and test and folds == settings.run.final_folds:
        return test
    return None


__all__ = ["ToBuild", "best_record", "finalize"]
