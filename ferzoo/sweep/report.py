"""After the study: plots, summary.md, best.json and the retrained best configuration."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ferzoo import files
from ferzoo.files import jsonable
from ferzoo.sweep.config import StudyConfig, SweepError, SweepSettings, quiet_experimental
from ferzoo.sweep.storage import count_trials, mask_url

ToBuild = Callable[[Mapping[str, Any], StudyConfig], tuple[str, dict, dict]]
TEST_KEYS = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "num_examples")


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
            json.dumps(jsonable(best.params), indent=2),
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


def retrain_best(
    settings: SweepSettings, model_name: str, overrides: dict, train_kwargs: dict, run_dir: str,
    train_fn: Callable[..., Any] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Train the best configuration once more and evaluate it on the test part."""
    import keras

    cfg = settings.study
    keras.backend.clear_session()
    if train_fn is None:
        from ferzoo.training import train as train_fn
    result = train_fn(
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
    test = {k: result.test[k] for k in TEST_KEYS if result.test and k in result.test}
    return {**test, "val_accuracy": result.val_accuracy, "best_epoch": result.best_epoch}


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
            "trial": best.number,
            "value": best.value,
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
) -> dict[str, Any]:
    """Retrain the best configuration once, test it, and write `<results_dir>/<study>/`.

    Writes best.json, summary.md, optimization_history.png and param_importances.png (each
    atomically: a crash leaves the previous file or the new one). The retrained run's files
    (metrics, confusion matrix, curves) go to `<results_dir>/<study>/best/`. When best.json
    already holds a retrained result for the same best trial, the retrain is not repeated.

    Returns:
        The content of best.json.

    Raises:
        SweepError: when no trial of the study completed.
    """
    study = optuna.load_study(study_name=settings.study_name, storage=storage)
    os.makedirs(settings.study_dir, exist_ok=True)
    plots = write_plots(study, settings.study_dir)
    summary = os.path.join(settings.study_dir, "summary.md")
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        files.write_text(summary, summary_markdown(study, settings, None, None, plots))
        raise SweepError(f"no trial of study {settings.study_name!r} completed")
    best = study.best_trial
    params = {**best.user_attrs.get("fixed", {}), **best.params}
    built = to_build(params, settings.study)
    run_dir = os.path.join(settings.study_dir, "best")
    test = _previous_test(settings, best.number) if retrain else None
    if retrain and test is None:
        test = retrain_best(settings, *built, run_dir, train_fn=train_fn)
    record = best_record(settings, study, best, params, built, test, run_dir)
    files.write_json(os.path.join(settings.study_dir, "best.json"), record)
    files.write_text(summary, summary_markdown(study, settings, best, test, plots))
    return record


def _previous_test(settings: SweepSettings, trial_number: int) -> dict[str, Any] | None:
    """The test result best.json holds for this best trial, if it was retrained already."""
    path = os.path.join(settings.study_dir, "best.json")
    if not os.path.exists(path):
        return None
    previous = files.read_json(path)
    if previous.get("trial") == trial_number and previous.get("test"):
        return previous["test"]
    return None


__all__ = ["best_record", "finalize", "retrain_best", "summary_markdown", "write_plots"]
