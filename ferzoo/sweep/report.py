"""After the study: plots, summary.md, best.json and the retrained best configuration."""

from __future__ import annotations

import datetime
import functools
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ferzoo import experiments, files
from ferzoo.files import jsonable
from ferzoo.sweep import baselines as paper_baselines
from ferzoo.sweep import kept, objectives, timesheet
from ferzoo.sweep.claims import Claim
from ferzoo.sweep.config import (
    StudyConfig,
    SweepError,
    SweepSettings,
    quiet_experimental,
    storage_key,
)
from ferzoo.sweep.storage import count_trials, mask_url

ToBuild = Callable[[Mapping[str, Any], StudyConfig], tuple[str, dict, dict]]
TEST_KEYS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "num_examples")
OWNER_FILE = "owner.json"  # in a study's folder: the storage and study it belongs to


def _owner_of(settings: SweepSettings) -> dict[str, str]:
    root = os.path.dirname(os.path.abspath(settings.results_dir))
    return {
        "storage": storage_key(settings.storage_url, root),
        "study_name": settings.study_name,
        "url": mask_url(settings.storage_url),
    }


def _legacy_owner(folder: str, root: str) -> dict[str, str] | None:
    """In a folder from before owner.json: the storage and study its best.json names."""
    best = os.path.join(folder, "best.json")
    if not os.path.exists(best):
        return None
    record = files.read_json(best)
    if "storage" not in record or "study_name" not in record:
        return None
    url = record["storage"]  # masked: storage_key drops the password anyway
    return {"storage": storage_key(url, root), "study_name": record["study_name"], "url": url}


def own_report_dir(settings: SweepSettings) -> str:
    """Make the study's folder (`settings.study_dir`), check that it is this study's; return it.

    The folder's owner.json names the storage (`storage_key`) and study it belongs to. The first
    process to use the folder writes it, exclusively (a hard link to a finished file, which
    fails where the name exists), so of two processes one writes it and the other reads it. A
    folder that belongs to another storage or study is refused, never written over: its
    owner.json says so or, in a folder from before owner.json, its best.json does.

    Raises:
        SweepError: the folder holds another study's report.
    """
    folder = settings.study_dir
    mine = _owner_of(settings)
    path = os.path.join(folder, OWNER_FILE)
    owner = files.read_json(path) if os.path.exists(path) else None
    if owner is None:
        legacy = _legacy_owner(folder, os.path.dirname(os.path.abspath(settings.results_dir)))
        owner = legacy if legacy and not _same(legacy, mine) else _write_owner(path, mine)
    if not _same(owner, mine):
        raise SweepError(
            f"{folder} holds the report of study {owner.get('study_name')!r} in "
            f"{owner.get('url') or owner.get('storage')}, not of {settings.study_name!r} in "
            f"{mine['url']}; move that folder away or pass another --results-dir"
        )
    return folder


def _same(owner: Mapping[str, Any], mine: Mapping[str, Any]) -> bool:
    return (owner.get("storage"), owner.get("study_name")) == (mine["storage"], mine["study_name"])


def _write_owner(path: str, owner: dict[str, str]) -> dict[str, str]:
    """Write owner.json unless it exists; the owner it holds then."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(owner, indent=2) + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return files.read_json(path)
    finally:
        os.remove(tmp)
    return owner


def _plot_makers(study: optuna.Study) -> dict[str, Callable[[], Any]]:
    """The plots of a study: of a multi-objective one, the history and importances of its
    first objective (the validation metric) and its Pareto front."""
    from optuna.visualization import matplotlib as ovm

    if len(study.directions) == 1:
        return {
            "optimization_history": lambda: ovm.plot_optimization_history(study),
            "param_importances": lambda: ovm.plot_param_importances(study),
        }
    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    first = {"target": lambda t: t.values[0], "target_name": names[0]}
    # Optuna's importance evaluator reads a custom target as one to minimise.
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    lowest = {"target": lambda t: sign * t.values[0], "target_name": names[0]}
    makers = {
        "optimization_history": lambda: ovm.plot_optimization_history(study, **first),
        "param_importances": lambda: _importances(study, lowest),
    }
    if len(names) <= 3:
        makers["pareto_front"] = lambda: ovm.plot_pareto_front(study, target_names=names)
    return makers


def _importances(study: optuna.Study, target: dict[str, Any]):
    import warnings

    from optuna.visualization import matplotlib as ovm

    with warnings.catch_warnings():  # the sign is handled; Optuna warns of it for any target
        warnings.filterwarnings(
            "ignore", message="PedAnovaImportanceEvaluator", category=UserWarning
        )
        return ovm.plot_param_importances(study, **target)


def write_plots(study: optuna.Study, out_dir: str) -> dict[str, str]:
    """Save optimization_history.png, param_importances.png and, for a study of 2 or 3
    objectives, pareto_front.png; say why one was skipped.

    Returns:
        `{plot name: file name}` for the plots written and `{plot name: "skipped: reason"}` for
        the others.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: dict[str, str] = {}
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for name, plot in _plot_makers(study).items():
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
            with quiet_experimental():
                ax = plot()
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            fig.set_size_inches(8, 5)
            files.save_figure(fig, os.path.join(out_dir, f"{name}.png"))
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
    baselines: Mapping[str, Any] | None = None,
) -> str:
    """The markdown of summary.md: counts, the top trials, the Pareto front (several
    objectives), the best parameters, test metrics and, with `baselines`
    (`ferzoo.sweep.baselines.compare`), the papers' models beside them."""
    lines = _header(study, settings)
    lines += _top_trials(study, settings, top)
    if settings.objectives and best is not None:
        image = str(plots.get("pareto_front", "")).endswith(".png")
        lines += objectives.pareto_markdown(study, settings.study.metric, settings.objectives,
                                            image=image)  # fmt: skip
    if best is not None:
        within = (
            f", within {objectives.describe_budgets(settings.budgets)}" if settings.budgets else ""
        )
        lines += [
            f"## Best: trial {best.number} ({settings.study.metric} = {_fmt(best.values[0])}"
            f"{within})",
            "",
            "```json",
            json.dumps(jsonable(best.params), indent=2),
            "```",
            "",
        ]
    if test:
        lines += _test_section(test)
    if test and baselines is not None and best is not None:
        lines += paper_baselines.comparison_markdown(settings, best.number, test, baselines)
    lines += timesheet.markdown(study)
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


def _header(study: optuna.Study, settings: SweepSettings) -> list[str]:
    import keras

    cfg = settings.study
    counts = count_trials(study)
    goal = f"{cfg.direction} `{cfg.metric}` (validation data)"
    if settings.objectives:
        goal += ", minimize " + ", ".join(f"`{k}`" for k in settings.objectives)
    pruner = settings.pruner if not settings.objectives else "none (several objectives)"
    return [
        f"# Sweep `{settings.study_name}`",
        "",
        f"{cfg.description}".strip(),
        "",
        f"- dataset `{cfg.dataset}`, protocol `{cfg.protocol}`, fold {cfg.fold}; objective: {goal}",
        f"- {settings.epochs} epochs per trial at {settings.image_size} px, "
        f"pruner `{pruner}`, storage `{mask_url(settings.storage_url)}`",
        f"- kept epoch of each run: monitor `{settings.training['monitor']}`, min epochs "
        f"`{settings.training['min_epochs']}` (`ferzoo.training.selection`)",
        "- trials: " + ", ".join(f"{counts[s]} {s.name.lower()}" for s in TrialState if counts[s]),
        f"- written {datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%d %H:%M UTC')}, "
        f"keras {keras.__version__} ({keras.backend.backend()})",
        "",
    ]


def _top_trials(study: optuna.Study, settings: SweepSettings, top: int) -> list[str]:
    """The `top` complete trials by the validation metric, with their costs."""
    cfg = settings.study
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    reverse = cfg.direction == "maximize"
    ranked = sorted(complete, key=lambda t: t.values[0], reverse=reverse)[:top]
    if not ranked:
        return ["No trial completed, so there is no best configuration.", ""]
    keys = sorted({k for t in ranked for k in t.params})
    latency = any("latency_ms" in t.user_attrs for t in ranked)
    costs = ["params", "MACs", *(["latency ms"] if latency else []), "s/epoch"]
    lines = [
        f"## Top {len(ranked)} trials",
        "",
        "| " + " | ".join(["trial", cfg.metric, "model", *keys, *costs]) + " |",
        "|" + "---|" * (len(keys) + len(costs) + 3),
    ]
    for t in ranked:
        u = t.user_attrs
        cells = [str(t.number), _fmt(t.values[0]), str(u.get("model", "")),
                 *(_fmt(t.params.get(k)) for k in keys), f"{u.get('params', 0):,}",
                 f"{u.get('macs', 0):,}", *([_fmt(u.get("latency_ms"))] if latency else []),
                 _fmt(u.get("epoch_time"))]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def _test_section(test: Mapping[str, Any]) -> list[str]:
    """summary.md's lines on the retrained best: per fold accuracy, macro F1, chance, subjects
    (`ferzoo cv`'s table, without its title), then mean ± std."""
    cv = test["cv"]
    table = experiments.cv_markdown(cv).split("\n", 1)[1]
    note = reuse_note(cv)
    return [
        "## The best configuration retrained, on the test part",
        "",
        f"{len(cv['folds'])} fold(s) of the {cv['protocol']} protocol; "
        f"{test.get('num_examples', '?')} test examples in fold {test.get('fold', '?')}.",
        *table.splitlines(),
        *(["", note] if note else []),
        "",
    ]


def reuse_note(cv: Mapping[str, Any]) -> str | None:
    """One line on the folds whose runs a trial kept (`ferzoo.sweep.kept`) and that were
    written out rather than trained again, or None where every fold was trained."""
    reused = [r for r in cv["folds"] if r.get("reused_from")]
    if not reused:
        return None
    trials = sorted({r["reused_from"]["trial"] for r in reused})
    folds = ", ".join(str(r["fold"]) for r in reused)
    whose = " and ".join(f"trial {t}" for t in trials)
    trained = len(cv["folds"]) - len(reused)
    return (f"Reused, not trained again: fold(s) {folds} are {whose}'s own runs (the same "
            f"training), kept when it completed and tested only now; {trained} fold(s) "
            "trained here.")  # fmt: skip


def final_folds(settings: SweepSettings) -> list[int]:
    """The folds the best configuration is retrained on: the study's fold, then the next ones.

    `settings.final_folds` folds of the study's protocol, `fold, fold + 1, ...` modulo
    `num_folds`, so the first is always the fold the study was scored on.

    Raises:
        ValueError: more folds than the protocol has, or more than one under the paper
            protocol (it has a single split).
    """
    cfg, n = settings.study, settings.final_folds
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"final_folds must be a positive int. Received: final_folds={n!r}")
    if n > 1 and cfg.protocol != "subject":
        raise ValueError(
            f"--final-folds {n} needs the subject protocol: the {cfg.protocol!r} protocol has "
            f"one split. Received: final_folds={n}"
        )
    if n > cfg.num_folds:
        raise ValueError(
            f"--final-folds {n} is more than the protocol's {cfg.num_folds} folds. "
            f"Received: final_folds={n}"
        )
    return [(cfg.fold + i) % cfg.num_folds for i in range(n)]


def _retrain_fold(settings, model_name, overrides, train_kwargs, fold, out, train_fn, trial,
                  models):  # fmt: skip
    """One final fold: the run trial `trial` kept of it written out (`kept`, `trainer.replay`:
    not trained again), or else trained. Returns `(result, where it came from or None)`."""
    cfg = settings.study
    keywords = dict(
        protocol=cfg.protocol,
        fold=fold,
        num_folds=cfg.num_folds,
        image_size=settings.image_size,
        batch_size=int(train_kwargs["batch_size"]),
        augment=float(train_kwargs.get("augment", 0.0)),
        **settings.train_keywords(train_kwargs),
        output_dir=out,
        model_overrides=overrides,
        evaluate_test=True,
        resume=False,
    )
    stored = kept.read(settings, trial, fold) if settings.reuse else None
    if stored is not None:
        from ferzoo.training import trainer

        spec = trainer.spec_of(model_name, cfg.dataset, **keywords)
        result = trainer.replay(spec, model_name, cfg.dataset, stored, models)
        if result is not None:
            return result, stored["source"]
    if models is None:
        import keras

        keras.backend.clear_session()
    return train_fn(model_name, cfg.dataset, **keywords, models=models), None


def retrain_best(
    settings: SweepSettings, model_name: str, overrides: dict, train_kwargs: dict, run_dir: str,
    train_fn: Callable[..., Any] | None = None, *, trial: int | None = None, models: Any = None,
) -> dict[str, Any]:  # fmt: skip
    """Train the best configuration again on `final_folds(settings)` and test each fold, or
    write the runs that trial `trial` kept of them (`ferzoo.sweep.kept`: its own fold models,
    the same training, tested now) where it kept them.

    One fold trains into `run_dir`; several into `run_dir/fold-<k>/`, with `run_dir/cv.json`
    and `cv.md` as `ferzoo cv` writes them. `models` (`ferzoo.training.reuse.Models`): the
    compiled models to train with.

    Returns:
        The study's fold's test metrics (`TEST_KEYS`), its `val_accuracy`, `best_epoch`,
        `fold`, `chance` (uniform and majority) and `subjects` per part, and `cv`: the rows of
        every fold (`reused_from`: the trial and fold a row's run was kept from, or None) and
        mean ± std (`ferzoo.experiments.fold_row`, `mean_std`).
    """
    if train_fn is None:
        from ferzoo.training import train as train_fn
    folds = final_folds(settings)
    rows, first = [], None
    for fold in folds:
        out = run_dir if len(folds) == 1 else os.path.join(run_dir, f"fold-{fold}")
        result, source = _retrain_fold(settings, model_name, overrides, train_kwargs, fold, out,
                                       train_fn, trial, models)  # fmt: skip
        rows.append({**experiments.fold_row(fold, result), "reused_from": source})
        first = first or result
    cfg = settings.study
    cv = {"model": model_name, "dataset": cfg.dataset, "protocol": cfg.protocol, "folds": rows}
    cv |= {k: experiments.mean_std([r[k] for r in rows])
           for k in experiments.METRICS if all(k in r for r in rows)}  # fmt: skip
    if len(folds) > 1:
        files.write_json(os.path.join(run_dir, "cv.json"), cv)
        files.write_text(os.path.join(run_dir, "cv.md"), experiments.cv_markdown(cv))
    test = {k: first.test[k] for k in TEST_KEYS if first.test and k in first.test}
    return {
        **test,
        "val_accuracy": first.val_accuracy,
        "best_epoch": first.best_epoch,
        "fold": folds[0],
        "chance": rows[0]["chance"],
        "subjects": rows[0]["subjects"],
        "cv": cv,
    }


def best_record(settings, study, best, params, built, test, run_dir) -> dict[str, Any]:
    """The content of best.json."""
    import keras

    cfg = settings.study
    model_name, overrides, train_kwargs = built
    return jsonable(
        {
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
            "monitor": settings.training["monitor"],
            "min_epochs": settings.training["min_epochs"],
            "precision": settings.training["precision"],
            "weights": settings.training["weights"],
            "final_folds": settings.final_folds,
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
    checked to be this study's (`own_report_dir`). Writes best.json, summary.md,
    optimization_history.png and param_importances.png (and pareto_front.png for several
    objectives; each atomically: a crash leaves the previous file or the new one). The best is
    the complete trial with the best validation metric within `settings.budgets`
    (`objectives.pick_best`); it is retrained on `settings.final_folds` folds
    (`final_folds`); the retrained runs' files (metrics, confusion matrix, curves) go to its
    `best/` (one fold) or `best/fold-<k>/` folders with cv.json and cv.md (several). When
    best.json already holds a retrained result for the same best trial and fold count, the
    retrain is not repeated. With `settings.baselines`, the papers' models the space can draw
    are retrained on the same folds (`baselines.compare`, into `baselines/<model>/`) and
    summary.md compares them with the best.

    One process does this per study: it holds the study's final-retrain claim in the storage
    (`ferzoo.sweep.claims.Claim`, heartbeat every `settings.heartbeat_interval` s, 30 when 0)
    from start to end; another process finishing the same study meanwhile gets `ClaimHeld`.

    Returns:
        The content of best.json.

    Raises:
        ClaimHeld: another process is finalizing the study (its message names it).
        SweepError: when no trial of the study completed, none is within the budgets, or the
            folder is another study's.
    """
    study = optuna.load_study(study_name=settings.study_name, storage=storage)
    with Claim(storage, settings.study_name, interval=settings.heartbeat_interval or 30):
        return _finalize(settings, study, to_build, retrain, train_fn, models)


def _finalize(settings, study, to_build, retrain, train_fn, models) -> dict[str, Any]:
    folder = own_report_dir(settings)
    plots = write_plots(study, folder)
    summary = os.path.join(folder, "summary.md")
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        files.write_text(summary, summary_markdown(study, settings, None, None, plots))
        raise SweepError(f"no trial of study {settings.study_name!r} completed")
    try:
        best = objectives.pick_best(complete, settings.study.direction == "maximize",
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
    if test is not None and settings.baselines:
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
    if previous.get("trial") == trial_number and test and folds == settings.final_folds:
        return test
    return None


__all__ = ["OWNER_FILE", "best_record", "final_folds", "finalize", "own_report_dir",
           "retrain_best", "reuse_note", "summary_markdown", "write_plots"]  # fmt: skip
