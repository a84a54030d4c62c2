"""The typed run configuration: checked once, frozen, and recorded alike by `ferzoo.train` and a
sweep trial (issue 21)."""

from __future__ import annotations

import dataclasses
import json

import optuna
import pytest

import ferzoo
from ferzoo import defaults, sweep
from ferzoo.sweep.studies import STUDIES
from ferzoo.training.config import DataConfig, ModelConfig, RunConfig, TrainingConfig
from tests.sweep_testing import TINY, settings

pytestmark = pytest.mark.backend_free


def test_keywords_become_one_checked_frozen_config():
    config = RunConfig.of("resnet18", "synthetic_faces", image_size=48, epochs=3, augment=0.0,
                          model_overrides={"attention": "wca"}, protocol="subject")  # fmt: skip
    assert config.data == DataConfig("synthetic_faces", protocol="subject", image_size=48,
                                     augment=0.0)  # fmt: skip
    assert config.model == ModelConfig("resnet18", {"attention": "wca"}, None, "float32")
    assert (config.training.epochs, config.training.learning_rate) == (3, defaults.LEARNING_RATE)
    # The subject protocol's selection rule, resolved once.
    assert config.training.selection.monitor == "val_accuracy"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.data.image_size = 64
    recorded = json.loads(json.dumps(config.to_json()))
    assert set(recorded) == {"data", "model", "training"}
    assert recorded["data"]["image_size"] == 48 and recorded["model"]["precision"] == "float32"
    assert "rule" in recorded["training"]["selection"]


@pytest.mark.parametrize(
    ("keywords", "named"),
    [
        (dict(epochs=0), "epochs=0"),
        (dict(learning_rate=-1.0), "learning_rate=-1.0"),
        (dict(image_size=8), "image_size=8"),
        (dict(batch_size=0), "batch_size=0"),
        (dict(augment=2.0), "augment=2.0"),
        (dict(label_smoothing=1.0), "label_smoothing=1.0"),
        (dict(class_weight="often"), "class_weight='often'"),
        (dict(model_overrides={"nosuch": 1}), "nosuch"),
        (dict(monitor="val_f1"), "monitor='val_f1'"),
    ],
)
def test_a_bad_value_is_named_before_any_work(keywords, named):
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        RunConfig.of("resnet18", "synthetic_faces", **{"image_size": 32, **keywords})


def test_the_defaults_have_one_definition():
    assert DataConfig("x").image_size == defaults.IMAGE_SIZE
    assert TrainingConfig().epochs == defaults.EPOCHS
    assert RunConfig.of("resnet18", "synthetic_faces").training.selection.patience == (
        defaults.PATIENCE
    )


@pytest.mark.slow
def test_train_and_a_sweep_trial_record_the_same_config(tmp_path):
    """One run, started by `ferzoo.train` and by a sweep trial: the same typed configuration in
    both config.json files."""
    study = dataclasses.replace(STUDIES["demo"], dataset=TINY)
    run_settings = settings(tmp_path, study=study, epochs=1, keep_trial_dirs=True)
    chosen = {"learning_rate": 2e-3, "batch_size": 8, "augment": 0.1}
    overrides = {"attention": "wca", "widths": (16, 16, 32, 32)}
    objective = sweep.Objective(
        run_settings, lambda trial, cfg, fixed: ("resnet18", overrides, chosen)
    )
    objective(optuna.create_study(direction="maximize").ask())
    [trial_config] = tmp_path.glob("results/*/trials/trial-0/config.json")
    ferzoo.train(
        "resnet18",
        TINY,
        protocol=study.protocol,
        image_size=run_settings.training.image_size,
        epochs=1,
        learning_rate=chosen["learning_rate"],
        batch_size=chosen["batch_size"],
        augment=chosen["augment"],
        model_overrides=overrides,
        output_dir=str(tmp_path / "train"),
        evaluate_test=False,
        checkpoint=False,
        verbose=0,
    )
    by_train = json.loads((tmp_path / "train" / "config.json").read_text())["config"]
    by_sweep = json.loads(trial_config.read_text())["config"]
    assert by_sweep == by_train
    assert by_train["model"]["overrides"] == {"attention": "wca", "widths": [16, 16, 32, 32]}
    assert (by_train["data"]["dataset"], by_train["data"]["batch_size"]) == (TINY, 8)
