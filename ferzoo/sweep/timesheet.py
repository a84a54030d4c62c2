"""Where a sweep's time went: summary.md's table of each trial's time split, how busy the
devices were, and trials/hour.

Each complete trial records `time` (`ferzoo.sweep.trial.time_split`): seconds of data
loading, model build, the first training step (compilation), the other training steps,
validation, the runs' files (`report`), scoring each fold, the latency, the dashboard's
artifacts, keeping the runs for the final stage (`keeping`) and the rest, which add up to the
trial's wall time.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import TrialState

PARTS = ("data", "build", "compile", "steps", "validation", "report", "scoring", "latency",
         "artifacts", "keeping", "other")  # fmt: skip


def trials_per_hour(study) -> float | None:
    """Finished (complete or pruned) trials per hour of the study's wall clock, from the first
    trial's start to the last one's end, over all its workers (None before two finish)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    done = [t for t in done if t.datetime_start and t.datetime_complete]
    if len(done) < 2:
        return None
    seconds = _span(done)
    return 3600.0 * len(done) / seconds if seconds > 0 else None


def _span(trials) -> float:
    """Seconds from the first trial's start to the last one's end (0 for none)."""
    timed = [t for t in trials if t.datetime_start and t.datetime_complete]
    if not timed:
        return 0.0
    span = max(t.datetime_complete for t in timed) - min(t.datetime_start for t in timed)
    return span.total_seconds()


def device_busy(study) -> float | None:
    """The share of the study's wall clock (first trial's start to last trial's end) that its
    workers' devices spent in training steps: the steps of every finished trial over the span
    times the number of workers (None before a trial recorded its time).

    Pruned trials count with the steps they recorded; a trial's validation is not a step."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    steps = sum(float(t.user_attrs["time"].get("steps", 0.0)) for t in done
                if isinstance(t.user_attrs.get("time"), dict))  # fmt: skip
    workers = len({t.user_attrs.get("worker", 0) for t in done}) or 1
    span = _span(done)
    return steps / (span * workers) if steps and span > 0 else None


def _row(label: str, split: dict[str, Any]) -> str:
    cells = [f"{float(split.get(k, 0.0)):.1f}" for k in (*PARTS, "wall")]
    return f"| {label} | " + " | ".join(cells) + " |"


def markdown(study) -> list[str]:
    """summary.md's section: one row per complete trial with a recorded split, their total,
    and trials/hour ([] when no trial recorded one)."""
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if isinstance(t.user_attrs.get("time"), dict)]  # fmt: skip
    if not trials:
        return []
    total = {k: sum(float(t.user_attrs["time"].get(k, 0.0)) for t in trials)
             for k in (*PARTS, "wall")}  # fmt: skip
    rate = trials_per_hour(study)
    busy = device_busy(study)
    share = {k: 100 * total[k] / total["wall"] if total["wall"] else 0.0 for k in PARTS}
    lines = [
        "## Where the time went",
        "",
        "Seconds per complete trial: data loading, model build, the first training step "
        "(compilation), the other training steps, validation, the runs' files and test "
        "evaluation (report), scoring the folds, the latency, the dashboard's artifacts, "
        "keeping the runs for the final stage, the rest (the storage); they add up to the "
        "trial's wall time.",
        "",
        "| trial | " + " | ".join(PARTS) + " | wall |",
        "|---:|" + "---:|" * (len(PARTS) + 1),
        *(_row(str(t.number), t.user_attrs["time"]) for t in trials),
        _row("total", total),
        "",
        "Share of the total: " + ", ".join(f"{k} {share[k]:.0f} %" for k in PARTS) + ".",
    ]
    if busy is not None:
        lines.append(f"Device busy: {100 * busy:.0f} % (the trials' training steps over the "
                     "study's wall clock times its workers).")  # fmt: skip
    if rate is not None:
        lines.append(f"Trials per hour: {rate:.1f} (finished trials over the study's wall clock).")
    return [*lines, ""]


__all__ = ["PARTS", "device_busy", "markdown", "trials_per_hour"]
