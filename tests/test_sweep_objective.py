"""`ferzoo.sweep.Objective`, one trial, with a stand-in trainer and dataset (fast, any backend):
the value is the study's metric at the kept epoch, what a trial records, duplicates, errors."""

from __future__ import annotations

import os
from types import SimpleNamespace

import keras
import numpy as np
import optuna
import pytest

from ferzoo import sweep
from ferzoo.sweep.config import DuplicateTrial
from tests.sweep_testing import sent_to_worker
from tests.sweep_testing import settings as sweep_settings

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free

optuna.logging.set_verbosity(optuna.logging.WARNING)

CLASSES = ("a", "b", "c")


class _Data:
    """Three images, one batch per part; no `rebatched`, so every trial gets it as it is."""

    class_names = CLASSES

    def __getitem__(self, part):
        images = np.random.default_rng(0).random((3, 4, 4, 3), dtype=np.float32)
        return [(images, np.array([0, 1, 2]))]


def _model():
    return keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(3, "softmax")]
    )


def _objective(tmp_path, history, best_epoch=1):
    calls = {"train": [], "load": 0}

    def train(model_name, data, **kwargs):
        calls["train"].append(dict(kwargs, model_name=model_name, data=data))
        with open(os.path.join(kwargs["output_dir"], "history.csv"), "w") as f:
            f.write("epoch,val_accuracy\n")
        return SimpleNamespace(
            history=history,
            best_epoch=best_epoch,
            profile={"params": 123, "macs": 4567},
            epoch_time=0.25,
            val_loss=0.8,
            model=_model(),
        )

    def load(*args, **kwargs):
        calls["load"] += 1
        return _Data()

    def suggest(trial, cfg, fixed):
        lr = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        return "resnet18", {"widths": (8, 16, 32, 64)}, {"learning_rate": lr, "batch_size": 4}

    objective = sweep.Objective(
        sweep_settings(tmp_path, epochs=3), suggest, train_fn=train, load_fn=load
    )
    return objective, calls


def test_the_value_is_the_metric_at_the_kept_epoch_and_the_trial_records_it(tmp_path):
    history = {"val_accuracy": [0.2, 0.6, 0.7], "loss": [1.0, 0.9, 0.8]}
    objective, calls = _objective(tmp_path, history, best_epoch=1)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    trial = study.ask()
    # The kept epoch's 0.6, not the best epoch's 0.7 (the kept one is chosen on validation).
    assert objective(trial) == pytest.approx(0.6)
    [call] = calls["train"]
    assert call["model_name"] == "resnet18" and call["model_overrides"] == {
        "widths": (8, 16, 32, 64)
    }
    assert call["epochs"] == 3 and call["learning_rate"] == trial.params["learning_rate"]
    assert call["evaluate_test"] is False  # a trial never sees the test part
    assert not os.path.exists(call["output_dir"])  # the trial's folder is removed
    attrs = trial.user_attrs
    assert (attrs["params"], attrs["macs"], attrs["best_epoch"], attrs["epochs_run"]) == (
        123, 4567, 1, 3
    )  # fmt: skip
    assert attrs["model"] == "resnet18" and 0.0 <= attrs["val_macro_f1"] <= 1.0
    study.tell(trial, 0.6)
    stored = study.trials[0]
    metas = optuna.artifacts.get_all_artifact_meta(stored, storage=storage)
    names = {a.filename for a in metas}
    assert names >= {"history.csv", "val_confusion_matrix.png"}

    # A second trial reuses the worker's dataset: loaded once.
    trial = study.ask()
    objective(trial)
    assert calls["load"] == 1 and len(calls["train"]) == 2


def test_a_trial_with_the_parameters_of_an_earlier_one_does_not_train(tmp_path):
    objective, calls = _objective(tmp_path, {"val_accuracy": [0.5], "loss": [1.0]}, 0)
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial({"learning_rate": 1e-3})
    study.enqueue_trial({"learning_rate": 1e-3})
    first = study.ask()
    study.tell(first, objective(first))
    second = study.ask()
    with pytest.raises(DuplicateTrial, match="trial 0"):
        objective(second)
    assert second.user_attrs["duplicate_of"] == 0 and len(calls["train"]) == 1


def test_a_history_without_the_metric_names_it(tmp_path):
    objective, _ = _objective(tmp_path, {"accuracy": [0.5], "loss": [1.0]}, 0)
    with pytest.raises(sweep.SweepError, match="'val_accuracy'.*accuracy"):
        objective(optuna.create_study(direction="maximize").ask())


def test_cv_folds_score_a_trial_on_each_fold_and_take_the_mean(tmp_path):
    """`--cv-folds 3` on synthetic_faces: three folds trained, each fold's value recorded, the
    objective their mean; pruning steps run on, fold after fold."""
    loads, trained = [], []

    def load(name, **kwargs):
        loads.append(kwargs["fold"])
        data = _Data()
        data.fold = kwargs["fold"]
        return data

    def train(model_name, data, **kwargs):
        trained.append((data.fold, kwargs["callbacks"][0].step_offset))
        accuracy = {0: 0.3, 1: 0.5, 2: 0.7}[data.fold]
        return SimpleNamespace(history={"val_accuracy": [0.1, accuracy], "loss": [1.0, 0.9]},
                               best_epoch=1, profile={}, epoch_time=0.1, val_loss=0.8,
                               model=_model())  # fmt: skip

    run = sweep_settings(tmp_path, epochs=2, cv_folds=3)
    assert run.study.dataset == "synthetic_faces" and run.trial_folds == [0, 1, 2]
    objective = sweep.Objective(
        run,
        lambda trial, cfg, fixed: (
            "resnet18",
            {},
            {"learning_rate": trial.suggest_float("lr", 1e-4, 1e-2), "batch_size": 4},
        ),
        train_fn=train,
        load_fn=load,
    )
    study = optuna.create_study(direction="maximize")
    for _ in range(2):
        trial = study.ask()
        assert objective(trial) == pytest.approx(0.5)
        study.tell(trial, 0.5)
    assert trial.user_attrs["fold_values"] == pytest.approx([0.3, 0.5, 0.7])
    assert trial.user_attrs["cv_folds"] == [0, 1, 2]
    assert trial.user_attrs["fold_std"] == pytest.approx(0.2)
    assert loads == [0, 1, 2]  # each fold loaded once per worker
    assert trained[:3] == [(0, 0), (1, 2), (2, 4)]  # fold k reports steps k * epochs + e


def test_cv_folds_default_to_three_on_the_datasets_of_few_subjects(tmp_path):
    from ferzoo.sweep.studies import STUDIES

    assert [STUDIES[n].cv_folds for n in ("jaffe", "ck_plus", "kdef", "demo", "fer2013")] == [
        3, 3, 3, 1, 1
    ]  # fmt: skip
    assert sweep_settings(tmp_path, study=STUDIES["jaffe"]).trial_folds == [0, 1, 2]
    with pytest.raises(ValueError, match="cv_folds=11"):
        _ = sweep_settings(tmp_path, cv_folds=11).trial_folds
    # From the command line, and on to the workers a sweep launches.
    from ferzoo.commands import sweep as cli

    given = cli.settings_from_args(
        cli.build_parser().parse_args(["--study", "demo", "--cv-folds", "3"])
    )
    assert given.trial_folds == [0, 1, 2]
    assert sent_to_worker(given, 1).trial_folds == [0, 1, 2]
