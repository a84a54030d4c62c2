"""Accuracy against cost: a sweep's objectives, the latency a trial is charged, the budgets.

`--objectives val_accuracy,latency_ms` makes a multi-objective study: the validation metric
(maximised, or minimised for a loss) and any of `macs`, `params`, `latency_ms` (minimised).
Optuna's TPE sampler runs in its multi-objective mode (MOTPE) on such a study, the dashboard
shows each objective under its name, and the report draws the Pareto front. `--max-latency-ms`
and `--max-macs` pick the configuration retrained at the end: the best validation metric among
the complete trials within the budgets (single-objective studies too).

Reference:
    The latency is the batch-1 latency of the trial's trained model on the worker, in the engine
    the model will be served with: ONNX Runtime (CPU) on the file `ferzoo export` would write,
    where ONNX Runtime and the backend's exporter are installed, else Keras `predict_on_batch`.
    The median of `REPEATS` runs after two warm-ups (the median, because a worker's host is shared
    and the mean would follow its outliers). Optuna cannot prune a multi-objective study
    (`Trial.report` is single-objective), so its trials run every epoch.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np

COSTS = ("macs", "params", "latency_ms")
REPEATS = 30  # after two warm-up runs (`ferzoo.serving.runtimes.latency_ms`)


def parse(text: str) -> tuple[str, tuple[str, ...]]:
    """`"val_accuracy,latency_ms"` -> `("val_accuracy", ("latency_ms",))`.

    Raises:
        ValueError: the first is not a validation metric, or a later one is not a cost, or one
            is named twice (one line naming it).
    """
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or not names[0].startswith("val_"):
        raise ValueError(
            "objectives must start with a validation metric (e.g. val_accuracy), then any of "
            f"{', '.join(COSTS)}. Received: objectives={text!r}"
        )
    for name in names[1:]:
        if name not in COSTS:
            raise ValueError(
                f"objective {name!r} is not one of {', '.join(COSTS)}. Received: objectives={text!r}"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"an objective is named twice. Received: objectives={text!r}")
    return names[0], tuple(names[1:])


def _batch(model) -> np.ndarray:
    shape = tuple(1 if d is None else int(d) for d in model.inputs[0].shape)
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def _onnx_runner(model, folder: str):
    from ferzoo.serving import runtimes
    from ferzoo.serving.export import export_model

    path = os.path.join(folder, "model.onnx")
    export_model(model, path, "onnx", check=False)
    return runtimes.open_model("onnxruntime", path)


def measure_latency(model) -> dict[str, Any]:
    """The batch-1 latency of `model` (see the module's Reference).

    Returns:
        `{"latency_ms", "latency_engine"}` (`"onnxruntime"` or `"keras"`) and, when ONNX
        Runtime could not be used, `"latency_note"`: why (its first line).
    """
    from ferzoo.serving.runtimes import latency_ms

    x = _batch(model)
    with tempfile.TemporaryDirectory(prefix="ferzoo-latency-") as folder:
        try:
            run = _onnx_runner(model, folder)
        except Exception as err:  # no onnxruntime or exporter, or this model does not export
            note = (str(err).strip().splitlines() or [type(err).__name__])[0]
        else:
            return {"latency_ms": latency_ms(run, x, REPEATS), "latency_engine": "onnxruntime"}
    ms = latency_ms(model.predict_on_batch, x, REPEATS)
    return {"latency_ms": ms, "latency_engine": "keras", "latency_note": note}


def within(trial, budgets: dict[str, float]) -> bool:
    """Whether `trial` records every budgeted cost and each is within its budget."""
    return within_attrs(trial.user_attrs, budgets)


def within_attrs(attrs: dict[str, Any], budgets: dict[str, float]) -> bool:
    """Whether the user attributes `attrs` hold every budgeted cost, each within its budget."""
    return all(attrs.get(key) is not None and attrs[key] <= limit for key, limit in budgets.items())


def describe_budgets(budgets: dict[str, float]) -> str:
    flags = {"latency_ms": "--max-latency-ms", "macs": "--max-macs"}
    return ", ".join(f"{flags.get(k, k)} {v:g}" for k, v in budgets.items())


def pick_best(complete: Sequence, maximize: bool, budgets: dict[str, float]):
    """The complete trial with the best validation metric (its first value) within `budgets`.

    Raises:
        ValueError: no complete trial is within the budgets (the message names the cheapest).
    """
    fits = [t for t in complete if within(t, budgets)]
    if not fits:
        cheapest = {
            k: min((t.user_attrs[k], t.number) for t in complete if k in t.user_attrs)
            for k in budgets
            if any(k in t.user_attrs for t in complete)
        }
        seen = "; ".join(f"the lowest {k} is {v:g} (trial {n})" for k, (v, n) in cheapest.items())
        raise ValueError(
            f"no complete trial is within {describe_budgets(budgets)}"
            + (f": {seen}" if seen else ": no trial recorded it")
        )
    key = (lambda t: -t.values[0]) if maximize else (lambda t: t.values[0])
    return min(fits, key=lambda t: (key(t), t.number))


def pareto_markdown(study, metric: str, costs: Sequence[str], *, image: bool = True) -> list[str]:
    """summary.md's Pareto front: one row per trial on it, the cheapest first (`image`: with
    pareto_front.png above)."""
    front = sorted(study.best_trials, key=lambda t: (t.values[1:], t.number))
    engines = sorted({str(t.user_attrs.get("latency_engine")) for t in front
                      if "latency_engine" in t.user_attrs})  # fmt: skip
    lines = [
        f"## Pareto front ({len(front)} trial(s): {metric} against {', '.join(costs)})",
        "",
        *(["![pareto_front](pareto_front.png)", ""] if image else []),
        f"| trial | {metric} | " + " | ".join(costs) + " | model |",
        "|---:|---:|" + "---:|" * len(costs) + "---|",
    ]
    for t in front:
        cells = [str(t.number), f"{t.values[0]:.4f}", *(f"{v:.4g}" for v in t.values[1:]),
                 str(t.user_attrs.get("model", ""))]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    if engines:
        lines += ["", f"Latency: batch 1, median of {REPEATS} runs, in {', '.join(engines)}."]
    return [*lines, ""]


def plot_pareto(study, names: Sequence[str], path: str) -> None:
    """The Pareto front of a 2- or 3-objective study, as a PNG (Optuna's matplotlib plot)."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    from ferzoo import files
    from ferzoo.sweep.config import quiet_experimental

    with quiet_experimental():
        ax = ovm.plot_pareto_front(study, target_names=list(names))
    fig = ax.figure
    fig.set_size_inches(7, 5)
    files.save_figure(fig, path)
    plt.close(fig)


__all__ = ["COSTS", "describe_budgets", "measure_latency", "parse",
           "pareto_markdown", "pick_best", "plot_pareto", "within", "within_attrs"]  # fmt: skip
