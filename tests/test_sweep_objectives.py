"""Accuracy against cost: `--objectives`, the latency a trial is charged, `--max-latency-ms`.

Stand-in trainers and hand-made trials (fast); the end-to-end run is in
test_sweeps_end_to_end.py.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from ferzoo import sweep
from ferzoo.commands import sweep as sweep_cli
from ferzoo.sweep import costs, space
from tests.sweep_testing import sent_to_worker
from tests.sweep_testing import settings as _settings
from tests.test_sweep_baselines import _train
from tests.test_sweep_objective import _Data, _model
from tests.test_sweeps import _DEMO_DISTRIBUTIONS

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.backend_free
@pytest.mark.parametrize(
    "text, message",
    [
        ("latency_ms,val_accuracy", "must start with a validation metric"),
        ("val_accuracy,flops", "objective 'flops' is not one of macs, params, latency_ms"),
        ("val_accuracy,macs,macs", "named twice"),
    ],
)
def test_bad_objectives_are_refused_in_one_line(text, message):
    with pytest.raises(ValueError, match=message):
        costs.parse(text)
    assert costs.parse("val_macro_f1, macs,latency_ms") == (
        "val_macro_f1",
        ("macs", "latency_ms"),
    )


@pytest.mark.backend_free
def test_the_command_line_makes_a_two_objective_study_and_tells_its_workers():
    args = ["--study", "demo", "--objectives", "val_macro_f1,latency_ms", "--max-latency-ms", "5"]
    settings = sweep_cli.settings_from_args(sweep_cli.build_parser().parse_args(args))
    assert settings.study.metric == "val_macro_f1" and settings.objectives.costs == ("latency_ms",)
    assert settings.directions == ["maximize", "minimize"] and settings.budgets == {"latency_ms": 5}
    worker = sent_to_worker(settings, 1)
    assert (worker.study.metric, worker.objectives.costs) == ("val_macro_f1", ("latency_ms",))
    assert worker.budgets == {"latency_ms": 5.0} and worker.workers.worker_id == 1


def test_latency_is_measured_in_onnx_runtime_on_this_backend():
    measured = costs.measure_latency(_model())
    assert measured["latency_engine"] == "onnxruntime", measured.get("latency_note")
    assert measured["latency_ms"] > 0


@pytest.mark.backend_free
def test_a_two_objective_trial_returns_the_metric_and_its_costs(tmp_path):
    settings = _settings(tmp_path, epochs=2, costs=("latency_ms", "macs"))

    def train(model_name, data, **kwargs):
        history = {"val_accuracy": [0.4, 0.6], "loss": [1.0, 0.9]}
        return SimpleNamespace(history=history, best_epoch=1, profile={"params": 12, "macs": 345},
                               epoch_time=0.1, val_loss=0.8, model=_model())  # fmt: skip

    def suggest(trial, cfg, fixed):
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        return "resnet18", {}, {"learning_rate": lr, "batch_size": 4}

    objective = sweep.Objective(settings, suggest, train_fn=train, load_fn=lambda *a, **k: _Data())
    study = optuna.create_study(directions=settings.directions)
    trial = study.ask()
    value, latency, macs = objective(trial)
    assert value == pytest.approx(0.6) and macs == 345
    assert latency == trial.user_attrs["latency_ms"] > 0
    assert trial.user_attrs["latency_engine"] == "onnxruntime"


def _two_objective_study(settings, rows):
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    study = sweep.create_or_load_study(settings, storage)
    for attention, accuracy, latency in rows:
        study.add_trial(
            optuna.create_trial(
                params={"stem": "conv", "attention": attention, "learning_rate": 1e-3},
                distributions=_DEMO_DISTRIBUTIONS,
                values=[accuracy, latency],
                user_attrs={
                    "params": 10,
                    "macs": 99,
                    "model": "resnet18",
                    "latency_ms": latency,
                    "latency_engine": "onnxruntime",
                },  # fmt: skip
            )
        )
    return storage, study


@pytest.mark.backend_free
def test_the_report_draws_the_front_and_retrains_the_best_under_the_latency_budget(tmp_path):
    settings = _settings(tmp_path, costs=("latency_ms",), max_latency_ms=3.0)
    # (attention, val_accuracy, latency_ms): "wa" is the most accurate but over the budget.
    storage, study = _two_objective_study(settings, [("wa", 0.9, 5.0), ("none", 0.7, 2.0),
                                                     ("wca", 0.6, 1.0), ("wca", 0.5, 2.5)])  # fmt: skip
    assert study.metric_names == ["val_accuracy", "latency_ms"]
    calls = []
    record = sweep.finalize(settings, storage, space.to_build, train_fn=_train(calls))

    assert record["trial"] == 1 and record["values"] == {"val_accuracy": 0.7, "latency_ms": 2.0}
    assert record["budgets"] == {"latency_ms": 3.0}
    assert "stage_attention" not in calls[0]["model_overrides"]  # trial 1 ("none") retrained
    out = Path(settings.study_dir)
    assert (out / "pareto_front.png").stat().st_size > 0
    summary = (out / "summary.md").read_text()
    assert "## Pareto front (3 trial(s): val_accuracy against latency_ms)" in summary
    front = [line.split("|")[1].strip() for line in summary.split("## Pareto front")[1]
             .split("Latency:")[0].splitlines() if line.startswith("| ") and "trial" not in line]  # fmt: skip
    assert front == ["2", "1", "0"]  # the cheapest first; trial 3 is dominated by trial 1
    assert "## Best: trial 1 (val_accuracy = 0.7, within --max-latency-ms 3)" in summary

    tight = _settings(tmp_path, costs=("latency_ms",), max_latency_ms=0.5)
    with pytest.raises(sweep.SweepError, match=r"no complete trial is within --max-latency-ms "
                       r"0.5: the lowest latency_ms is 1 \(trial 2\)"):  # fmt: skip
        sweep.finalize(tight, storage, space.to_build, train_fn=_train(calls))


@pytest.mark.backend_free
def test_a_study_resumed_with_other_objectives_is_refused(tmp_path):
    storage = sweep.open_storage(f"sqlite:///{tmp_path}/s.db", heartbeat_interval=None)
    sweep.create_or_load_study(_settings(tmp_path, costs=("latency_ms",)), storage)
    with pytest.raises(sweep.StudyMismatchError, match=r"objectives=\['latency_ms'\] \(now \[\]\)"):
        sweep.create_or_load_study(_settings(tmp_path), storage)
