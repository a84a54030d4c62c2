"""Experiments built on `ferzoo.train`: cross-validation over folds and the papers' ablations.

- `cross_validate(model, dataset, folds, output, **train_kwargs)` trains every fold of a
  protocol under `output/fold-<k>/` and writes `output/cv.json` and `output/cv.md`: per fold the
  accuracy, macro F1, the chance level and (subject protocol) the subjects in each part; then
  mean ± std. Its fold loop, `run_folds`, is the sweep's final retrain's too (a fold may be
  replayed from a run already trained; a single fold may be the run folder itself).
- `ablate(names, dataset, output, **train_kwargs)` trains each model of a grid under
  `output/<model>/` and writes `output/ablation.md` (the papers' table form), `ablation.json`
  and `ablation.png`.

Everything is written below `output` and nowhere else.

Example:

    from ferzoo.evaluation import experiments
    summary = experiments.cross_validate("resnet18", "synthetic_faces", range(4),
                                         "runs/cv-demo", protocol="subject", num_folds=4,
                                         image_size=48, epochs=10)
    summary["accuracy"]        # {"mean": ..., "std": ...}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from ferzoo import files

METRICS = ("accuracy", "macro_f1", "macro_precision", "macro_recall")


def grids() -> dict[str, dict[str, list[str]]]:
    """The papers' ablation grids, from the model families (`Family.ablation_grids`):
    grid name -> `{family column: model names}` (`msc_wca`: dense head, `wamf`: capsule head)."""
    from ferzoo.models import FAMILIES  # noqa: PLC0415  (Keras; `import ferzoo` stays cheap)

    merged: dict[str, dict[str, list[str]]] = {}
    for family in FAMILIES.values():
        for grid, columns in family.ablation_grids.items():
            for column, names in columns.items():
                merged.setdefault(grid, {})[column] = list(names)
    return merged


def __getattr__(name: str) -> Any:
    if name == "GRIDS":  # computed on first use: the families load Keras
        return grids()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """`{"mean", "std"}` (sample standard deviation; 0 for one value)."""
    arr = np.asarray(values, float)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0}


def fold_row(fold: int, result: Any) -> dict[str, Any]:
    """One fold's row: the test metrics, the chance levels and the subjects per part."""
    test = result.test or {}
    row = {"fold": fold, **{k: float(test[k]) for k in METRICS if k in test}}
    row["chance"] = test.get("chance", {})
    row["subjects"] = test.get("subjects", {})
    row["best_epoch"] = result.best_epoch
    row["selection"] = result.selection.get("rule")
    return row


def _fmt_subjects(subjects: dict[str, int]) -> str:
    return "/".join(str(subjects.get(p, 0)) for p in ("train", "validation", "test"))


def cv_markdown(summary: dict[str, Any]) -> str:
    """cv.md: a row per fold, then mean ± std (accuracy and macro F1 beside their chance)."""
    rows = summary["folds"]
    subject = summary["protocol"] == "subject"
    head = "| fold | accuracy | macro F1 | chance (uniform / majority) |"
    head += " subjects train/val/test |" if subject else ""
    lines = [
        f"# {summary['model']} on {summary['dataset']}, {summary['protocol']} protocol, "
        f"{len(rows)} fold(s)",
        "",
        f"Model selection: {rows[0].get('selection') or 'see config.json'}.",
        "",
        head,
        "|---:|---:|---:|---:|" + ("---:|" if subject else ""),
    ]
    for r in rows:
        chance = r.get("chance", {})
        cells = [str(r["fold"]), f"{r['accuracy']:.4f}", f"{r['macro_f1']:.4f}",
                 f"{chance.get('uniform', float('nan')):.4f} / "
                 f"{chance.get('majority', float('nan')):.4f}"]  # fmt: skip
        if subject:
            cells.append(_fmt_subjects(r.get("subjects", {})))
        lines.append("| " + " | ".join(cells) + " |")
    cells = [
        f"{summary[k]['mean']:.4f} ± {summary[k]['std']:.4f}" for k in ("accuracy", "macro_f1")
    ]
    lines.append("| mean ± std | " + " | ".join(cells) + " | |" + (" |" if subject else ""))
    return "\n".join(lines) + "\n"


Replay = Callable[[int, dict[str, Any]], tuple[Any, Any] | None]  # run_folds(replay=...)


def run_folds(
    model: str,
    dataset: str,
    folds: Iterable[int],
    output: str,
    *,
    models: Any = None,
    train_fn: Callable[..., Any] | None = None,
    replay: Replay | None = None,
    one_fold_is_a_run: bool = False,
    **train_kwargs: Any,
) -> tuple[dict[str, Any], list[Any]]:
    """Train `model` on each fold of `folds` (or replay it) and summarize the test metrics.

    The one fold loop of ferzoo: `cross_validate` (`ferzoo cv`) and the sweep's final retrain
    (`ferzoo.sweep.retrain.retrain_best`, the papers' baselines too) are this loop.

    Args:
        model: a registered model name.
        dataset: a dataset name.
        folds: the folds to hold out, in [0, num_folds).
        output: the folder of the runs (`output/fold-<k>/`) and of cv.json / cv.md.
        models: the compiled models to train with (`ferzoo.training.reuse.Models`); None:
            each fold builds its own, after `keras.backend.clear_session()`.
        train_fn: trains one fold, called as `ferzoo.train` is (the default).
        replay: `replay(fold, keywords)`, before a fold is trained, with the keywords it would
            be trained with: `(result, source)` for a run already trained that stands in for it
            (the sweep's kept trial runs, `ferzoo.training.trainer.replay`), or None to train.
            With a `replay`, every row records `reused_from`: its `source`, or None.
        one_fold_is_a_run: with a single fold, train it into `output` itself and write no
            cv.json / cv.md (the sweep's `best/` folder); otherwise (`ferzoo cv`) every fold
            goes under `output/fold-<k>/` and cv.json / cv.md are written.
        **train_kwargs: for `train_fn` (protocol, num_folds, image_size, epochs, ...).

    Returns:
        `(summary, results)`: the content of cv.json (`folds`: the rows, `fold_row`; then
        `{"mean", "std"}` per metric every row has) and the fold results, in order.
    """
    if train_fn is None:
        from ferzoo.training import train as train_fn
    folds = list(folds)
    flat = one_fold_is_a_run and len(folds) == 1
    rows, results = [], []
    for fold in folds:
        out = output if flat else os.path.join(output, f"fold-{fold}")
        keywords = {**train_kwargs, "fold": fold, "output_dir": out}
        found = replay(fold, keywords) if replay is not None else None
        if found is None:
            found = (_train_fold(train_fn, model, dataset, keywords, models), None)
        result, source = found
        row = fold_row(fold, result)
        rows.append(row if replay is None else {**row, "reused_from": source})
        results.append(result)
    summary = {
        "model": model,
        "dataset": dataset,
        "protocol": train_kwargs.get("protocol") or "paper",
        "folds": rows,
        **{k: mean_std([r[k] for r in rows]) for k in METRICS if all(k in r for r in rows)},
    }
    if not flat:
        files.write_json(os.path.join(output, "cv.json"), summary)
        files.write_text(os.path.join(output, "cv.md"), cv_markdown(summary))
    return summary, results


def _train_fold(train_fn, model: str, dataset: str, keywords: dict[str, Any], models: Any):
    if models is None:  # a model of its own: the previous folds' graphs go first
        import keras

        keras.backend.clear_session()
    return train_fn(model, dataset, **keywords, models=models)


def cross_validate(
    model: str, dataset: str, folds: Iterable[int], output: str, **train_kwargs: Any
) -> dict[str, Any]:
    """Train `model` on each fold (under `output/fold-<k>/`) and summarize the test metrics
    (`run_folds`).

    The folds share one built and compiled model, reset to a fresh build's state for each
    (`ferzoo.training.reuse`): the same numbers as separate builds, one compilation. The
    arguments are `run_folds`'s; `train_kwargs` go to `ferzoo.train`.

    Returns:
        The content of cv.json: `folds` (rows), and `{"mean", "std"}` per metric.
    """
    from ferzoo.training.reuse import Models

    models = Models(capacity=1)  # every fold trains one compiled model, reset
    return run_folds(model, dataset, folds, output, models=models, **train_kwargs)[0]


def ablation_grid(family: str, grid: str, registered: Sequence[str]) -> list[str]:
    """The model names of a paper's ablation grid that are registered.

    Raises:
        ValueError: for a family without that grid, or when a member is not registered.
    """
    all_grids = grids()
    if grid not in all_grids:
        raise ValueError(f"grid must be one of {sorted(all_grids)}. Received: grid={grid!r}")
    if family not in all_grids[grid]:
        raise ValueError(
            f"The {grid} grid has no {family} family; it has {sorted(all_grids[grid])}. "
            f"Received: family={family!r}, grid={grid!r}"
        )
    names = all_grids[grid][family]
    missing = [n for n in names if n not in registered]
    if missing:
        raise ValueError(
            f"The {grid} grid for {family} needs models that are not registered: {missing}. "
            f"Received: family={family!r}"
        )
    return names


def ablation_table(rows: list[dict[str, Any]], title: str) -> str:
    """A markdown table in the form of the papers' ablation tables.

    Precision, recall and accuracy in percent, F1 as a fraction (as the MsC-wCA paper reports
    them), parameters in millions and MACs in G.
    """
    header = ["Model", "Precision (%)", "Recall (%)", "F1", "Accuracy (%)", "Params (M)",
              "MACs (G)"]  # fmt: skip
    cells = [
        [r["model"], f"{100 * r['macro_precision']:.3f}", f"{100 * r['macro_recall']:.3f}",
         f"{r['macro_f1']:.6f}", f"{100 * r['accuracy']:.3f}", f"{r['params'] / 1e6:.4f}",
         f"{r['macs'] / 1e9:.4f}"]
        for r in rows
    ]  # fmt: skip
    table = files.markdown_table(header, cells, right=[False] + [True] * 6)
    return "\n".join([f"# {title}", "", *table]) + "\n"


def plot_ablation(rows: list[dict[str, Any]], path: str, title: str) -> None:
    """Grouped bar chart of accuracy and macro F1 (percent) per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["model"] for r in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(names) + 2), 4))
    for offset, key, label in ((-0.2, "accuracy", "accuracy"), (0.2, "macro_f1", "macro F1")):
        bars = ax.bar(x + offset, [100 * r[key] for r in rows], width=0.4, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(x, labels=names, rotation=20, ha="right")
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    files.save_figure(fig, path, dpi=120)
    plt.close(fig)


def ablate(names: Sequence[str], dataset: str, output: str, title: str, **train_kwargs: Any):
    """Train each model of `names` under `output/<model>/`; write the table, JSON and chart.

    Returns:
        The rows of ablation.json (one per model).
    """
    import keras

    from ferzoo.training import train

    rows = []
    for name in names:
        keras.backend.clear_session()
        result = train(name, dataset, output_dir=os.path.join(output, name), **train_kwargs)
        rows.append({
            "model": name,
            **{k: float(result.test[k]) for k in METRICS},
            "params": int(result.profile["params"]),
            "macs": int(result.profile["macs"]),
            "best_epoch": result.best_epoch,
            "output_dir": result.output_dir,
        })  # fmt: skip
    files.write_json(os.path.join(output, "ablation.json"), {"title": title, "rows": rows})
    files.write_text(os.path.join(output, "ablation.md"), ablation_table(rows, title))
    plot_ablation(rows, os.path.join(output, "ablation.png"), title)
    return rows


__all__ = ["METRICS", "ablate", "ablation_grid", "ablation_table", "cross_validate",
           "cv_markdown", "fold_row", "grids", "mean_std", "plot_ablation",
           "run_folds"]  # fmt: skip
