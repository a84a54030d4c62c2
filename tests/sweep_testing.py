"""What the sweep tests share: the entry point, the tiny dataset, settings, a subprocess env."""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras

from ferzoo import sweep
from ferzoo.sweep.studies import STUDIES

RUN = Path(__file__).resolve().parents[1] / "sweeps" / "run.py"
TINY = "synthetic_faces/tiny"


def sent_to_worker(settings: sweep.SweepSettings, worker_id: int = 0) -> sweep.SweepSettings:
    """The settings a worker of `settings` reads back from the JSON it is sent."""
    from ferzoo.sweep import launcher

    text = json.dumps(launcher.worker_settings(settings, worker_id))
    return sweep.SweepSettings.from_json(json.loads(text))


def settings(tmp_path, **kwargs) -> sweep.SweepSettings:
    """Settings of a small demo sweep under `tmp_path` (sqlite storage, 32 px), with `kwargs`
    (a training option a sweep passes, e.g. `monitor`, goes into `training`)."""
    base = dict(
        study_name="demo",
        storage_url=f"sqlite:///{tmp_path}/optuna.db",
        n_trials=3,
        epochs=2,
        image_size=32,
        results_dir=str(tmp_path / "results"),
        heartbeat_interval=0,  # no heartbeat: in-memory storages have none
        baselines=False,  # the comparison's own tests turn it on (test_sweep_baselines.py)
    )
    base.update(kwargs)
    study = base.pop("study", STUDIES["demo"])
    return sweep.SweepSettings.of(study, base.pop("study_name"), **base)


def subprocess_env() -> dict[str, str]:
    """The environment of a worker or server subprocess: this test's backend, quiet TensorFlow."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": keras.backend.backend()}
