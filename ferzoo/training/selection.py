"""Model selection: which epoch's weights a run keeps, and when it stops early.

A `Selection` names the validation metric monitored (`val_loss` as the papers, `val_accuracy`,
`val_macro_f1`), a warm-up (`min_epochs`: no early stop and no best-weights choice before it),
the early-stopping patience and minimum improvement, and a tie-break (for the accuracy-like
metrics, the lower validation loss wins among epochs of equal score).

`resolve(protocol, epochs, monitor="auto", min_epochs="auto", ...)` gives ferzoo's defaults:

- `paper` protocol: the papers' rule, lowest validation loss from the first epoch on.
- `subject` protocol: highest validation accuracy, ties broken by validation loss, after a
  warm-up of `min(10, max(1, epochs // 5))` epochs. Reason: a subject-independent validation
  part is a few people (one person, about 21 images, in JAFFE's leave-one-subject-out folds);
  its loss is lowest before the model has learned anything, and rises as the model grows
  confident, so the lowest-loss rule keeps a near-untrained model (measured on real JAFFE: test
  accuracy 0.143, chance, with the weights of epoch 2 of 32).

Example:

    rule = resolve("subject", epochs=60)
    rule.monitor, rule.min_epochs        # ('val_accuracy', 10)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

MONITORS = ("val_loss", "val_accuracy", "val_macro_f1")
AUTO = "auto"
WARMUP_CAP = 10


@dataclasses.dataclass(frozen=True)
class Selection:
    """How a run picks its best epoch and when it stops.

    Attributes:
        monitor: the validation metric (`MONITORS`).
        min_epochs: epochs before which no epoch is chosen and no early stop happens.
        patience: epochs without an improvement larger than `min_delta` before stopping.
        min_delta: the smallest change of the monitor that counts as an improvement.
        tie_break: a second metric (lower wins) among epochs of equal monitor value, or None.
        reason: one sentence saying why this rule, written into the run's config and report.
    """

    monitor: str = "val_loss"
    min_epochs: int = 0
    patience: int = 30
    min_delta: float = 1e-5
    tie_break: str | None = None
    reason: str = ""

    @property
    def maximize(self) -> bool:
        return not self.monitor.endswith("loss")

    def key(self, logs: Mapping[str, float]) -> tuple[float, float] | None:
        """A sortable score of an epoch's logs (larger is better), or None if not finite."""
        value = float(logs.get(self.monitor, math.nan))
        if not math.isfinite(value):
            return None
        second = float(logs.get(self.tie_break, math.inf)) if self.tie_break else 0.0
        second = second if math.isfinite(second) else math.inf
        return (value if self.maximize else -value, -second)

    def eligible(self, epoch: int) -> bool:
        """Whether a 0-based `epoch` may be chosen or stop the run."""
        return epoch + 1 >= self.min_epochs

    def improves(self, value: float, best: float | None) -> bool:
        """Whether `value` beats `best` by more than `min_delta` (the early-stopping rule)."""
        if not math.isfinite(value):
            return False
        if best is None:
            return True
        return value > best + self.min_delta if self.maximize else value < best - self.min_delta

    def describe(self) -> str:
        """One line for logs and reports."""
        text = f"{'highest' if self.maximize else 'lowest'} {self.monitor}"
        if self.tie_break:
            text += f" (ties: lowest {self.tie_break})"
        if self.min_epochs > 1:
            text += f" from epoch {self.min_epochs} on"
        return f"{text}; early stop after {self.patience} epochs without improvement"

    def to_json(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "rule": self.describe()}


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}. Received: {name}={value!r}")
    return value


def resolve(
    protocol: str,
    epochs: int,
    *,
    monitor: str = AUTO,
    min_epochs: int | str = AUTO,
    patience: int = 30,
    min_delta: float = 1e-5,
) -> Selection:
    """ferzoo's selection rule for a protocol, with any of its parts given explicitly.

    Args:
        protocol: `"paper"` or `"subject"` (picks the defaults; see the module docstring).
        epochs: the run's epochs (the subject protocol's warm-up is a fifth of them, at most 10).
        monitor: one of `MONITORS`, or "auto".
        min_epochs: an int >= 0, or "auto".
        patience: early-stopping patience, >= 1.
        min_delta: the smallest improvement, >= 0.

    Returns:
        A `Selection`.
    """
    _check_int("patience", patience, 1)
    if not (isinstance(min_delta, int | float) and min_delta >= 0):
        raise ValueError(f"min_delta must be >= 0. Received: min_delta={min_delta!r}")
    if monitor != AUTO and monitor not in MONITORS:
        raise ValueError(
            f"monitor must be one of {MONITORS} or 'auto'. Received: monitor={monitor!r}"
        )
    if min_epochs != AUTO:
        _check_int("min_epochs", min_epochs, 0)
    subject = protocol == "subject"
    chosen = monitor if monitor != AUTO else ("val_accuracy" if subject else "val_loss")
    if min_epochs == AUTO:
        min_epochs = min(WARMUP_CAP, max(1, epochs // 5)) if subject else 0
    reason = (
        "the papers' rule (lowest validation loss)"
        if (monitor, chosen, subject) == (AUTO, "val_loss", False)
        else "subject protocol default: a validation part of few people has its lowest loss "
        "before the model learns, so ferzoo keeps the most accurate epoch after a warm-up"
        if monitor == AUTO and subject
        else "set by the user"
    )
    return Selection(
        monitor=chosen,
        min_epochs=int(min_epochs),
        patience=int(patience),
        min_delta=float(min_delta),
        tie_break=None if chosen.endswith("loss") else "val_loss",
        reason=reason,
    )


__all__ = ["MONITORS", "Selection", "resolve"]
