"""The sweeps' selection rule (--monitor, --min-epochs) and the final report over --final-folds.

Stand-in trainers and objectives only (tests/sweep_testing.py and the helpers of
test_sweeps.py): what reaches `ferzoo.train`, what the study pins, and what summary.md and
best.json say.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from ferzoo import sweep
from ferzoo.commands import sweep as sweep_cli
from ferzoo.sweep import retrain, space
from ferzoo.sweep.studies import STUDIES
from ferzoo.training import options
from tests.sweep_testing import sent_to_worker
from tests.sweep_testing import settings as _settings
from tests.test_sweeps import _add_trials, _fake_train

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free


def test_final_folds_retrain_the_best_on_each_fold_with_mean_and_std(tmp_path):
    settings = _settings(tmp_path, final_folds=3, monitor="val_macro_f1", min_epochs=2)
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    study = sweep.create_or_load_study(settings, storage)
    _add_trials(study, [("conv", "none", 0.002, 0.3), ("msc", "wca", 0.005, 0.6)])
    calls = []
    best = sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train(calls))

    assert [kw["fold"] for _, _, kw in calls] == [0, 1, 2]  # the study's fold first
    assert {kw["num_folds"] for _, _, kw in calls} == {settings.study.num_folds}
    assert {(kw["monitor"], kw["min_epochs"]) for _, _, kw in calls} == {("val_macro_f1", 2)}
    out = Path(settings.study_dir)
    assert [Path(kw["output_dir"]).name for _, _, kw in calls] == ["fold-0", "fold-1", "fold-2"]
    cv = json.loads((out / "best" / "cv.json").read_text())
    assert [r["accuracy"] for r in cv["folds"]] == pytest.approx([0.75, 0.65, 0.55])
    assert cv["accuracy"]["mean"] == pytest.approx(0.65)
    assert cv["accuracy"]["std"] == pytest.approx(0.1)  # sample std of 0.75, 0.65, 0.55
    assert best["test"]["accuracy"] == 0.75 and best["test"]["fold"] == 0
    assert best["monitor"] == "val_macro_f1" and best["final_folds"] == 3
    summary = (out / "summary.md").read_text()
    assert "| 2 | 0.5500 | 0.7000 | 0.1429 / 0.1429 | 20/2/2 |" in summary
    assert "| mean ± std | 0.6500 ± 0.1000 | 0.7000 ± 0.0000 |" in summary
    assert "monitor `val_macro_f1`, min epochs `2`" in summary
    # Finalized again with the same fold count: nothing is retrained.
    sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train(calls))
    assert len(calls) == 3


@pytest.mark.parametrize(
    "study, folds, text",
    [("demo", 11, "more than the protocol's 10 folds"), ("fesr", 2, "needs the subject protocol")],
)
def test_final_folds_outside_the_protocol_are_refused(tmp_path, study, folds, text):
    settings = _settings(tmp_path, study=STUDIES[study], final_folds=folds)
    with pytest.raises(ValueError, match=text):
        retrain.final_folds(settings)
    assert retrain.final_folds(_settings(tmp_path, final_folds=3)) == [0, 1, 2]


def test_cli_monitor_min_epochs_and_final_folds_reach_the_settings_and_workers():
    run = sweep_cli
    args = run.build_parser().parse_args(
        ["--study", "demo", "--monitor", "val_macro_f1", "--min-epochs", "3", "--final-folds", "2"]
    )
    settings = run.settings_from_args(args)
    selection = (settings.training.options["monitor"], settings.training.options["min_epochs"])
    assert (*selection, settings.run.final_folds) == ("val_macro_f1", 3, 2)
    sent = sent_to_worker(settings).training.options
    assert sent["monitor"] == "val_macro_f1"
    assert sent["min_epochs"] == 3
    defaults = run.settings_from_args(run.build_parser().parse_args(["--study", "demo"]))
    selection = (defaults.training.options["monitor"], defaults.training.options["min_epochs"])
    assert (*selection, defaults.run.final_folds) == ("auto", "auto", 1)
    from ferzoo.training.selection import MONITORS

    assert options.named("monitor").choices == ("auto", *MONITORS)  # no Keras imported
    for bad in (["--min-epochs", "-1"], ["--monitor", "val_f1"], ["--final-folds", "0"]):
        with pytest.raises(SystemExit):
            run.build_parser().parse_args(["--study", "demo", *bad])


def test_objective_trains_with_the_sweeps_selection_rule(tmp_path):
    settings = _settings(tmp_path, monitor="val_macro_f1", min_epochs=2)
    calls = []

    def train(model, data, **kwargs):
        calls.append(kwargs)
        from ferzoo.models import InfeasibleSizeError

        raise InfeasibleSizeError("too small for this test")  # stops the trial after the call

    objective = sweep.Objective(
        settings,
        lambda trial, cfg, fixed: ("resnet18", {}, {"learning_rate": 1e-3, "batch_size": 4}),
        train_fn=train,
        load_fn=lambda *a, **k: SimpleNamespace(),
    )
    from ferzoo.sweep.config import InfeasibleTrial

    with pytest.raises(InfeasibleTrial):
        objective(optuna.create_study(direction="maximize").ask())
    [kwargs] = calls
    assert (kwargs["monitor"], kwargs["min_epochs"]) == ("val_macro_f1", 2)


def test_a_study_resumed_with_another_selection_rule_is_refused(tmp_path):
    from ferzoo.sweep.storage import _pinned_values

    storage = sweep.open_storage(f"sqlite:///{tmp_path}/s.db", heartbeat_interval=None)
    sweep.create_or_load_study(_settings(tmp_path), storage)
    with pytest.raises(sweep.StudyMismatchError, match=r"monitor='auto' \(now 'val_loss'\)"):
        sweep.create_or_load_study(_settings(tmp_path, monitor="val_loss"), storage)
    # A study created before the rule was pinned has no such attributes: it ran with "auto".
    settings = _settings(tmp_path, study_name="old")
    old = optuna.create_study(storage=storage, study_name="old", direction="maximize")
    for key, value in _pinned_values(settings).items():
        if key not in ("monitor", "min_epochs"):
            old.set_user_attr(key, value)
    sweep.create_or_load_study(settings, storage)  # resumes
    with pytest.raises(sweep.StudyMismatchError, match=r"min_epochs='auto' \(now 3\)"):
        sweep.create_or_load_study(_settings(tmp_path, study_name="old", min_epochs=3), storage)


def test_only_the_runs_the_final_stage_can_want_are_kept(tmp_path):
    """A completing trial keeps its runs when it is a paper design or the best so far within
    the budgets (ties: the lower number, as `pick_best`); a new best forgets the beaten ones;
    what is kept reads back whole, and a missing or damaged fold reads as nothing."""
    import numpy as np

    from ferzoo.sweep import kept

    settings = _settings(tmp_path)
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    study = sweep.create_or_load_study(settings, storage)
    _add_trials(study, [("conv", "none", 0.002, 0.3), ("msc", "wca", 0.005, 0.6)])
    assert kept.worth_keeping(study, 2, 0.7, settings, {})
    assert not kept.worth_keeping(study, 2, 0.5, settings, {})
    assert not kept.worth_keeping(study, 2, 0.6, settings, {})  # trial 1 has it first
    assert kept.worth_keeping(study, 2, 0.1, settings, {"paper_model": "resnet18"})
    tight = _settings(tmp_path, max_macs=4000)  # every trial so far is over the budget
    assert kept.worth_keeping(study, 2, 0.1, tight, {"macs": 3000})
    assert not kept.worth_keeping(study, 2, 0.9, tight, {"macs": 5000})

    run = {"identity": {"model": "resnet18"}, "epochs": 2,
           "state": {"history": {"loss": [1.0, 0.5]}, "best_epoch": 1, "epochs_done": 2},
           "weights": [np.ones((2, 3), np.float32), np.zeros(3, np.float32)]}  # fmt: skip
    for number in (0, 1):
        kept.write(settings, number, [(0, run), (1, run)])
    back = kept.read(settings, 1, 1)
    assert back["identity"] == run["identity"] and back["source"] == {"trial": 1, "fold": 1}
    np.testing.assert_array_equal(back["weights"][0], run["weights"][0])
    assert kept.read(settings, 1, 2) is None and kept.read(settings, None, 0) is None
    (Path(kept.trial_dir(settings, 1)) / "fold-0" / "weights.npz").write_bytes(b"not a zip")
    assert kept.read(settings, 1, 0) is None  # trained again, not a crash
    assert kept.forget_beaten(settings, study, best=1) == [0]
    assert kept.read(settings, 0, 0) is None and kept.read(settings, 1, 1) is not None


def test_the_sweeps_last_line_and_device_busy_say_the_folds_and_the_steps(tmp_path):
    from datetime import datetime, timedelta

    from ferzoo.sweep import timesheet
    from ferzoo.sweep.session import last_line

    settings = _settings(tmp_path)
    cv = {"accuracy": {"mean": 0.849, "std": 0.106}, "folds": [{}, {}, {}]}
    best = {"trial": 3, "value": 0.9, "test": {"accuracy": 0.9655, "cv": cv}}
    line = last_line(settings, best, "runs/sweeps/demo")
    assert "test accuracy 0.8490 ± 0.1060 over 3 final fold(s)" in line and "0.9655" not in line
    assert "not retrained" in last_line(settings, {"trial": 3, "value": 0.9, "test": None}, "x")

    start = datetime(2026, 12, 7, 12, 0, 0)
    trials = [  # two trials of one worker, back to back: 40 s of steps in 80 s
        SimpleNamespace(user_attrs={"time": {"steps": 30.0}, "worker": 0}, datetime_start=start,
                        datetime_complete=start + timedelta(seconds=50)),
        SimpleNamespace(user_attrs={"time": {"steps": 10.0}, "worker": 0},
                        datetime_start=start + timedelta(seconds=50),
                        datetime_complete=start + timedelta(seconds=80)),
    ]  # fmt: skip
    fake = SimpleNamespace(get_trials=lambda deepcopy=False, states=(): trials)
    assert timesheet.device_busy(fake) == pytest.approx(40.0 / 80.0)


def test_no_reuse_reaches_the_settings_and_the_workers():
    args = sweep_cli.build_parser().parse_args(["--study", "demo", "--no-reuse"])
    settings = sweep_cli.settings_from_args(args)
    assert settings.run.reuse is False and sent_to_worker(settings).run.reuse is False
    default = sweep_cli.settings_from_args(sweep_cli.build_parser().parse_args(["--study", "demo"]))
    assert default.run.reuse is True and sent_to_worker(default).run.reuse is True
