"""Did the search pay off? The papers' models retrained beside the best (summary.md's table).

Stand-in trainers only: which runs the comparison trains, on which folds, and what summary.md
and best.json say about them.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from ferzoo import sweep
from ferzoo.sweep import baselines, space
from tests.sweep_testing import settings as _settings
from tests.test_sweeps import _DEMO_DISTRIBUTIONS

pytestmark = pytest.mark.backend_free

# Test accuracy per fold of each model the stand-in trains, by what tells them apart.
ACCURACY = {"wa": (0.8, 0.75, 0.7), "msc": (0.9, 0.8, 0.7), "plain": (0.7, 0.65, 0.6)}


def _kind(overrides: dict) -> str:
    if overrides.get("stage_attention") == "wa":
        return "wa"
    return "msc" if overrides.get("stem") == "msc" else "plain"


def _train(calls):
    def train(model, dataset, **kwargs):
        calls.append(kwargs)
        accuracy = ACCURACY[_kind(kwargs["model_overrides"])][kwargs["fold"]]
        test = {"accuracy": accuracy, "macro_f1": accuracy - 0.1, "num_examples": 14,
                "chance": {"uniform": 1 / 7, "majority": 2 / 14}, "subjects": {}}  # fmt: skip
        return SimpleNamespace(test=test, val_accuracy=0.8, best_epoch=1, selection={})

    return train


def _study(settings, rows):
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    study = sweep.create_or_load_study(settings, storage)
    for stem, attention, value, paper in rows:
        attrs = {"params": 1000, "macs": 5000, "model": "resnet18"}
        study.add_trial(
            optuna.create_trial(
                params={"stem": stem, "attention": attention, "learning_rate": 1e-3},
                distributions=_DEMO_DISTRIBUTIONS,
                value=value,
                user_attrs=attrs | ({"paper_model": paper} if paper else {}),
            )
        )
    return storage


def test_the_summary_sets_the_best_beside_the_papers_models_on_the_same_folds(tmp_path):
    settings = _settings(tmp_path, baselines=True, final_folds=3)
    storage = _study(settings, [("conv", "none", 0.5, "resnet18"),
                                ("msc", "wca", 0.4, "msc_wca_resnet18"),
                                ("conv", "wa", 0.7, None)])  # fmt: skip
    calls = []
    record = sweep.finalize(settings, storage, space.to_build, train_fn=_train(calls))

    kinds = [(_kind(kw["model_overrides"]), kw["fold"]) for kw in calls]
    assert kinds == [(k, f) for k in ("wa", "plain", "msc") for f in (0, 1, 2)]
    assert {kw["epochs"] for kw in calls} == {settings.training.epochs}
    out = Path(settings.study_dir)
    folders = {str(Path(kw["output_dir"]).relative_to(out)) for kw in calls}
    assert "baselines/resnet18/fold-2" in folders and "baselines/msc_wca_resnet18/fold-0" in folders
    assert record["baselines"]["resnet18"]["trial"] == 0
    assert record["baselines"]["msc_wca_resnet18"]["cv"]["accuracy"]["mean"] == pytest.approx(0.8)

    summary = (out / "summary.md").read_text()
    assert "## Did the search pay off?" in summary
    assert "| the best configuration | 2 | 0.7500 ± 0.0500 | 0.6500 ± 0.0500 |" in summary
    assert "| resnet18 | 0 | 0.6500 ± 0.0500 | 0.5500 ± 0.0500 |" in summary
    assert "| msc_wca_resnet18 | 1 | 0.8000 ± 0.1000 | 0.7000 ± 0.1000 |" in summary
    assert "beat resnet18 by 10.0 points of test accuracy (+10.0 macro F1)." in summary
    assert ("did not beat msc_wca_resnet18: 5.0 points lower test accuracy (-5.0 macro F1); "
            "within the folds' spread (10.0 points)") in summary  # fmt: skip
    assert "Not compared: wamf_resnet18 (the `demo` space cannot draw it at 32 px)" in summary

    # Finalized again: the best and the papers' models are not trained again.
    sweep.finalize(settings, storage, space.to_build, train_fn=_train(calls))
    assert len(calls) == 9
    assert json.loads((out / "best.json").read_text())["baselines"] == record["baselines"]


def test_a_best_that_is_a_papers_model_is_not_trained_twice(tmp_path):
    settings = _settings(tmp_path, baselines=True)
    storage = _study(settings, [("conv", "none", 0.9, "resnet18"), ("conv", "wa", 0.5, None)])
    calls = []
    record = sweep.finalize(settings, storage, space.to_build, train_fn=_train(calls))

    # The best (resnet18's trial) once, then msc_wca_resnet18 with the papers' parameters.
    assert [_kind(kw["model_overrides"]) for kw in calls] == ["plain", "msc"]
    assert calls[1]["learning_rate"] == 1e-3 and calls[1]["batch_size"] == 16
    assert record["baselines"]["resnet18"]["same_as_best"] is True
    assert record["baselines"]["msc_wca_resnet18"]["trial"] is None  # no such trial here
    summary = (Path(settings.study_dir) / "summary.md").read_text()
    assert "- The best configuration is resnet18 itself." in summary
    assert "one fold, so no spread to judge the difference by" in summary


def test_no_baselines_trains_the_best_alone(tmp_path):
    settings = _settings(tmp_path, baselines=False)
    storage = _study(settings, [("conv", "wa", 0.5, None)])
    calls = []
    record = sweep.finalize(settings, storage, space.to_build, train_fn=_train(calls))
    assert len(calls) == 1 and record["baselines"] is None
    assert "Did the search pay off" not in (Path(settings.study_dir) / "summary.md").read_text()


def test_the_papers_models_the_full_space_draws_depend_on_the_image_size(tmp_path):
    from ferzoo.sweep.studies import STUDIES

    wide = _settings(tmp_path, study=STUDIES["kdef"], image_size=112)
    assert baselines.left_out(wide) == []
    assert list(baselines.designs(optuna.create_study(), wide)) == list(space.PAPER_DESIGNS)
