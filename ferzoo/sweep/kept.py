"""What complete trials trained, kept for the final stage so that nothing is trained twice.

The final stage trains the best configuration and the papers' designs on `--final-folds` folds
with the trials' own recipe (same folds, parameters, seed and epochs), only evaluating the test
part and writing every file. A trial that completed has trained exactly those runs on its
folds; this module keeps them, out of the sampler's sight (files in the study's folder, never
trial attributes), and the final stage writes a kept fold as a finished run
(`ferzoo.training.trainer.replay`: the test part evaluated then, for the first time) instead of
training it again.

    <study folder>/kept/trial-<n>/fold-<k>/
        run.json      the run's identity, epochs, history and kept epoch (`trainer.kept_of`)
        weights.npz   the kept epoch's weights (read with allow_pickle=False)

Only the runs the final stage can use are written: those of the papers' designs (the
comparison's baselines) and of the trial that is the best so far within the budgets
(`worth_keeping`); a best that is beaten has its folder removed. A pruned trial writes
nothing. A folder is written under a temporary name and renamed, so a crash leaves none or a
whole one; one that is missing, partial or made with other settings is simply trained again
(`read` returns None).

Reference:
    Why not keep every trial: the weights of ResNet-18 are 45 MB a fold; the final stage can
    only want the best and the baselines, and a trial that is not the best when it completes
    never becomes the best (the best by the first value within the budgets only improves).
    Several machines on one PostgreSQL study keep what they trained in their own results
    folders; the machine that writes the report trains again what it does not hold.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.trial import TrialState

from ferzoo import files
from ferzoo.files import DamagedFileError
from ferzoo.sweep import costs
from ferzoo.sweep.config import SweepSettings

FOLDER = "kept"


def trial_dir(settings: SweepSettings, number: int) -> str:
    return os.path.join(settings.study_dir, FOLDER, f"trial-{number}")


def worth_keeping(study, number: int, value: float, settings: SweepSettings,
                  attrs: dict[str, Any]) -> bool:  # fmt: skip
    """Whether trial `number` (value `value`, user attributes `attrs`), completing now, may be
    wanted by the final stage: a paper design, or the best complete trial so far within the
    budgets (`costs.pick_best`'s order: the metric, then the lower number)."""
    if attrs.get("paper_model"):
        return True
    budgets = settings.budgets
    if not costs.within_attrs(attrs, budgets):
        return False
    maximize = settings.study.direction == "maximize"
    mine = (-value if maximize else value, number)
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if other.number != number and costs.within(other, budgets):
            theirs = (-other.values[0] if maximize else other.values[0], other.number)
            if theirs < mine:
                return False
    return True


def write(settings: SweepSettings, number: int, runs: Sequence[tuple[int, dict[str, Any]]]) -> str:
    """Keep trial `number`'s runs (`(fold, trainer.kept_of(...))` pairs); the folder."""
    target = trial_dir(settings, number)
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".trial-{number}-", dir=parent)
    try:
        for fold, run in runs:
            folder = os.path.join(staging, f"fold-{fold}")
            os.makedirs(folder)
            np.savez(os.path.join(folder, "weights.npz"), *run["weights"])
            record = {k: v for k, v in run.items() if k != "weights"}
            files.write_json(os.path.join(folder, "run.json"), record)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def read(settings: SweepSettings, number: int | None, fold: int) -> dict[str, Any] | None:
    """Trial `number`'s kept run on `fold` (as `trainer.kept_of` made it), or None where there
    is none or it cannot be read."""
    if number is None:
        return None
    folder = os.path.join(trial_dir(settings, number), f"fold-{fold}")
    try:
        record = files.read_json(os.path.join(folder, "run.json"))
        from ferzoo.training.checkpoints import read_weights

        weights = read_weights(os.path.join(folder, "weights.npz"), "it is trained again")
    except (OSError, ValueError, DamagedFileError):
        return None
    return {**record, "weights": weights, "source": {"trial": number, "fold": fold}}


def forget_beaten(settings: SweepSettings, study, best: int) -> list[int]:
    """Remove the kept runs of trials that are not paper designs, now that trial `best` is the
    best so far; the trial numbers removed."""
    root = os.path.join(settings.study_dir, FOLDER)
    if not os.path.isdir(root):
        return []
    numbers = [int(m.group(1)) for name in os.listdir(root)
               if (m := re.fullmatch(r"trial-(\d+)", name))]  # fmt: skip
    papers = {t.number for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get("paper_model")}  # fmt: skip
    removed = [n for n in numbers if n != best and n not in papers]
    for number in removed:
        with contextlib.suppress(OSError):
            shutil.rmtree(trial_dir(settings, number))
    return removed


__all__ = ["FOLDER", "forget_beaten", "read", "trial_dir", "worth_keeping", "write"]
