"""Where a sweep's time went: summary.md's table of each trial's time split, and trials/hour.

Each complete trial records `time` (`ferzoo.sweep.objective.time_split`): seconds of data
loading, model build, the first training step (compilation), the other training steps,
validation, and the rest, which add up to the trial's wall time.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import TrialState

PARTS = ("data", "build", "compile", "steps", "validation", "other")


def trials_per_hour(study) -> float | None:
    """Finished (complete or pruned) trials per hour of the study's wall clock, from the first
    trial's start to the last one's end, over all its workers (None before two finish)."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    done = [t for t in done if t.datetime_start and t.datetime_complete]
    if len(done) < 2:
        return None
    span = max(t.datetime_complete for t in done) - min(t.datetime_start for t in done)
    seconds = span.total_seconds()
    return 3600.0 * len(done) / seconds if seconds > 0 else None


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
    share = {k: 100 * total[k] / total["wall"] if total["wall"] else 0.0 for k in PARTS}
    lines = [
        "## Where the time went",
        "",
        "Seconds per complete trial: data loading, model build, the first training step "
        "(compilation), the other training steps, validation, the rest (scoring, artifacts, "
        "latency); they add up to the trial's wall time.",
        "",
        "| trial | " + " | ".join(PARTS) + " | wall |",
        "|---:|" + "---:|" * (len(PARTS) + 1),
        *(_row(str(t.number), t.user_attrs["time"]) for t in trials),
        _row("total", total),
        "",
        "Share of the total: " + ", ".join(f"{k} {share[k]:.0f} %" for k in PARTS) + ".",
    ]
    if rate is not None:
        lines.append(f"Trials per hour: {rate:.1f} (finished trials over the study's wall clock).")
    return [*lines, ""]


__all__ = ["PARTS", "markdown", "trials_per_hour"]
