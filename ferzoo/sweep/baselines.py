"""Did the search pay off? The papers' models retrained beside the best configuration.

After a study, `compare` retrains each of the papers' models that the study's space can draw at
its image size (`space.paper_trials`: resnet18, msc_wca_resnet18, wamf_resnet18) on the same
final folds, with the same epochs, selection rule and precision as the best configuration
(`retrain.retrain_best`), and `comparison_markdown` sets their test accuracy and macro F1
(mean ± std over the folds) beside the best's, saying by how much the best beat each, or that
it did not.

Reference:
    Each paper's model is trained as the study first ran it: the parameters of its trial
    (`paper_model` user attribute; the augmentation strength its sampler drew), or, in a study
    that has no such trial, the papers' learning rate and batch size with no augmentation.
    A model the space cannot draw is not trained (its parameters would lie outside what the
    search was allowed to find); summary.md names it and says why.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from optuna.trial import TrialState

from ferzoo.files import jsonable
from ferzoo.sweep import space
from ferzoo.sweep.config import SweepSettings

RetrainFn = Callable[..., dict[str, Any]]  # retrain.retrain_best
FOLDER = "baselines"  # in the study's folder: baselines/<model>/ per paper model


def designs(study, settings: SweepSettings) -> dict[str, dict[str, Any]]:
    """`{paper model: {"params", "trial"}}` of the papers' models the study's space can draw:
    the parameters of the study's finished trial marked with that `paper_model` (the earliest),
    else the papers' own (`space.paper_trials`) with `trial` None."""
    found = {
        name: {"params": {**params, **settings.fixed}, "trial": None}
        for name, params in space.paper_trials(
            settings.study.space, settings.training.image_size
        ).items()
    }
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    for t in sorted(finished, key=lambda t: t.number):
        name = t.user_attrs.get("paper_model")
        if name in found and found[name]["trial"] is None:
            params = {**t.user_attrs.get("fixed", {}), **t.params}
            found[name] = {"params": params, "trial": t.number}
    return found


def left_out(settings: SweepSettings) -> list[str]:
    """The papers' models the comparison cannot train: not drawable by the space at its size."""
    drawable = space.paper_trials(settings.study.space, settings.training.image_size)
    return [name for name in space.PAPER_DESIGNS if name not in drawable]


def compare(
    settings: SweepSettings,
    study,
    best_params: Mapping[str, Any],
    best_test: Mapping[str, Any],
    folder: str,
    retrain: RetrainFn,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Retrain the papers' models (`designs`) on the best's final folds; their results.

    A paper model whose build is the best configuration's is not trained again (its results are
    the best's). One whose results `previous` (best.json's `baselines`) holds for the same
    parameters and fold count is not trained again either.

    Returns:
        `{paper model: {"params", "trial", "same_as_best", "cv"}}`, `cv` as `retrain_best`'s.
    """
    best_build = space.to_build(best_params, settings.study)
    folds = len(best_test["cv"]["folds"])
    results = {}
    for name, design in designs(study, settings).items():
        params = jsonable(design["params"])
        entry = {"params": params, "trial": design["trial"]}
        old = (previous or {}).get(name, {})
        if space.to_build(params, settings.study) == best_build:
            entry |= {"same_as_best": True, "cv": best_test["cv"]}
        elif old.get("params") == params and len(old.get("cv", {}).get("folds", [])) == folds:
            entry |= {"same_as_best": False, "cv": old["cv"]}
        else:
            built = space.to_build(params, settings.study)
            test = retrain(settings, *built, os.path.join(folder, FOLDER, name),
                           trial=design["trial"])  # fmt: skip
            entry |= {"same_as_best": False, "cv": test["cv"]}
        results[name] = entry
    return results


def _cell(cv: Mapping[str, Any], key: str) -> str:
    stat = cv.get(key)
    return f"{stat['mean']:.4f} ± {stat['std']:.4f}" if stat else "n/a"


def _verdict(best_cv: Mapping[str, Any], name: str, cv: Mapping[str, Any], folds: int) -> str:
    """One line: by how many points the best beat `name` in accuracy and macro F1, or not."""
    gain = {k: 100 * (best_cv[k]["mean"] - cv[k]["mean"]) for k in ("accuracy", "macro_f1")}
    spread = 100 * max(best_cv["accuracy"]["std"], cv["accuracy"]["std"])
    acc, f1 = gain["accuracy"], gain["macro_f1"]
    if acc > 0:
        line = f"beat {name} by {acc:.1f} points of test accuracy ({f1:+.1f} macro F1)"
    elif acc == 0:
        line = f"did not beat {name}: the same test accuracy ({f1:+.1f} macro F1)"
    else:
        line = f"did not beat {name}: {-acc:.1f} points lower test accuracy ({f1:+.1f} macro F1)"
    if folds == 1:
        return line + "; one fold, so no spread to judge the difference by"
    if acc != 0 and abs(acc) <= spread:
        return line + f"; within the folds' spread ({spread:.1f} points): not a clear difference"
    return line


def comparison_markdown(
    settings: SweepSettings, best_number: int, best_test: Mapping[str, Any],
    baselines: Mapping[str, Mapping[str, Any]],
) -> list[str]:  # fmt: skip
    """summary.md's section "Did the search pay off?": the table and one verdict per model."""
    cfg, best_cv = settings.study, best_test["cv"]
    folds = len(best_cv["folds"])
    lines = [
        "## Did the search pay off?",
        "",
        f"Test accuracy and macro F1, mean ± std over the same {folds} fold(s) of the "
        f"{cfg.protocol} protocol, each model retrained for {settings.training.epochs} epochs at "
        f"{settings.training.image_size} px with the same selection rule.",
        "",
        "| model | trial | test accuracy | test macro F1 |",
        "|---|---:|---:|---:|",
        f"| the best configuration | {best_number} | {_cell(best_cv, 'accuracy')} | "
        f"{_cell(best_cv, 'macro_f1')} |",
    ]
    for name, entry in baselines.items():
        trial = "" if entry["trial"] is None else str(entry["trial"])
        label = f"{name} (= the best)" if entry["same_as_best"] else name
        lines.append(f"| {label} | {trial} | {_cell(entry['cv'], 'accuracy')} | "
                     f"{_cell(entry['cv'], 'macro_f1')} |")  # fmt: skip
    lines.append("")
    for name, entry in baselines.items():
        if entry["same_as_best"]:
            lines.append(f"- The best configuration is {name} itself.")
        else:
            lines.append(f"- The best configuration {_verdict(best_cv, name, entry['cv'], folds)}.")
    reused = [name for name, entry in baselines.items() if not entry["same_as_best"]
              and any(r.get("reused_from") for r in entry["cv"]["folds"])]  # fmt: skip
    if reused:
        lines.append(f"- Not trained again: {', '.join(reused)} (the folds of the trials that "
                     "ran them, kept when they completed and tested now).")  # fmt: skip
    missing = left_out(settings)
    if missing:
        lines.append(f"- Not compared: {', '.join(missing)} (the `{cfg.space}` space cannot "
                     f"draw it at {settings.training.image_size} px).")  # fmt: skip
    return [*lines, ""]


__all__ = ["FOLDER", "compare", "comparison_markdown", "designs", "left_out"]
