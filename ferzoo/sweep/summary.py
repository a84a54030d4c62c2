"""summary.md and the plots of a study: counts, the top trials, the Pareto front, the best, its
test metrics and the papers' models beside it."""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from ferzoo import files
from ferzoo.evaluation import experiments
from ferzoo.files import jsonable
from ferzoo.sweep import baselines as paper_baselines
from ferzoo.sweep import costs, timesheet
from ferzoo.sweep.config import SweepSettings, quiet_experimental
from ferzoo.sweep.storage import count_trials, mask_url


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
    if settings.objectives.costs and best is not None:
        image = str(plots.get("pareto_front", "")).endswith(".png")
        lines += costs.pareto_markdown(study, settings.study.metric, settings.objectives.costs,
                                            image=image)  # fmt: skip
    if best is not None:
        within = f", within {costs.describe_budgets(settings.budgets)}" if settings.budgets else ""
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
        f"ferzoo dashboard --storage {mask_url(settings.run.storage_url)} --study {settings.run.study_name}",
        "```",
        "",
    ]
    return "\n".join(lines)


def _header(study: optuna.Study, settings: SweepSettings) -> list[str]:
    import keras

    cfg = settings.study
    counts = count_trials(study)
    goal = f"{cfg.direction} `{cfg.metric}` (validation data)"
    if settings.objectives.costs:
        goal += ", minimize " + ", ".join(f"`{k}`" for k in settings.objectives.costs)
    pruner = settings.run.pruner if not settings.objectives.costs else "none (several objectives)"
    return [
        f"# Sweep `{settings.run.study_name}`",
        "",
        f"{cfg.description}".strip(),
        "",
        f"- dataset `{cfg.dataset}`, protocol `{cfg.protocol}`, fold {cfg.fold}; objective: {goal}",
        f"- {settings.training.epochs} epochs per trial at {settings.training.image_size} px, "
        f"pruner `{pruner}`, storage `{mask_url(settings.run.storage_url)}`",
        f"- kept epoch of each run: monitor `{settings.training.options['monitor']}`, min epochs "
        f"`{settings.training.options['min_epochs']}` (`ferzoo.training.selection`)",
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


__all__ = ["reuse_note", "summary_markdown", "write_plots"]
