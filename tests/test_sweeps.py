"""Optuna sweeps: the search space, pruning, the worker loop, the report, reliability, the dashboard.

The fast tests use stand-in objectives and trainers. The `slow` ones train real (tiny) models on
synthetic_faces/tiny at 32 px for one epoch, in worker subprocesses where the test is about
processes (SIGKILL mid-trial, two workers on one study, PostgreSQL, the dashboard server).

PostgreSQL: `scripts/postgres.sh start` prints a URL; export it as FERZOO_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import keras
import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState

from ferzoo import sweep
from ferzoo.commands import sweep as sweep_cli
from ferzoo.sweep import launcher, space
from ferzoo.sweep.studies import STUDIES
from tests.sweep_testing import settings as _settings
from tests.sweep_testing import subprocess_env

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ---------------------------------------------------------------------------------------------
# The search space
# ---------------------------------------------------------------------------------------------


def _first_choice(param, values):
    return param.choices[0] if param.choices is not None else param.low


def _pick(**picks):
    def choose(param, values):
        if param.name in picks:
            return picks[param.name]
        return _first_choice(param, values)

    return choose


def test_space_conditional_parameters_appear_only_with_their_parent():
    plain = space.sample("full", _pick(backbone="cnn", stem="conv", attention="wa", head="dense"))
    assert "msc_kernels" not in plain and "wca_ratio" not in plain and "routings" not in plain
    assert "mf" not in plain and "mf_kernels" not in plain  # MF only joins ResNet stages
    full = space.sample(
        "full",
        _pick(backbone="resnet34", stem="msc", attention="wca", mf=True, head="capsule"),
    )
    for name in ("msc_kernels", "wca_ratio", "mf_kernels", "routings"):
        assert name in full, name
    no_mf = space.sample("full", _pick(backbone="resnet18", mf=False))
    assert "mf" in no_mf and "mf_kernels" not in no_mf


@pytest.mark.parametrize("name", ["demo", "full"])
def test_min_image_sizes_match_what_builds(name):
    """The cheap size table agrees with the builders: each combination builds at its minimum
    and refuses one pixel less."""
    import ferzoo

    for label, size in space.min_image_sizes(name).items():
        backbone, stem, head = (part.split()[0] for part in label.split(", "))
        overrides = dict(space.get_space(name).base_overrides.get(backbone, {}))
        overrides.update(stem=stem, head=head)
        if stem == "msc":
            overrides["msc_kernels"] = (3, 5, 7, 9)
        if name == "full" and stem == "msc":
            assert size == ferzoo.registry.min_image_size(backbone, **overrides), label
        with pytest.raises(ValueError, match="too small"):
            ferzoo.build(backbone, input_shape=(size - 1, size - 1, 3), **overrides)


def test_an_image_size_below_every_minimum_is_refused():
    assert space.check_image_size("demo", 48) == []
    ruled_out = space.check_image_size("full", 48)
    assert any(r.startswith("cnn, conv stem") for r in ruled_out)
    assert not any(r.startswith("resnet18, conv stem, dense") for r in ruled_out)
    smallest = min(space.min_image_sizes("demo").values())  # the MsC stem at stride 1
    assert smallest < 17 and any("conv stem" in r for r in space.check_image_size("demo", 16))
    with pytest.raises(
        ValueError, match=rf"image_size {smallest - 1} is below .* \({smallest} px\)"
    ):
        space.check_image_size("demo", smallest - 1)


def test_to_build_maps_parameters_to_overrides():
    name, overrides, kw = space.to_build(
        {"backbone": "resnet18", "stem": "msc", "msc_kernels": "1,3,5,7", "attention": "wa",
         "mf": True, "mf_kernels": "3,3,3,3", "head": "capsule", "routings": 2,
         "learning_rate": 0.002, "batch_size": 32, "augment": 0.3},
        "full",
    )  # fmt: skip
    assert name == "resnet18"
    assert overrides == {
        "stem": "msc",
        "msc_kernels": (1, 3, 5, 7),
        "stage_attention": "wa",  # WA in every stage on a ResNet (the WAMF paper)
        "fusion": "mf",
        "mf_kernels": (3, 3, 3, 3),
        "head": "capsule",
        "routings": 2,
    }
    assert kw == {"learning_rate": 0.002, "batch_size": 32, "augment": 0.3}
    name, overrides, _ = space.to_build({"backbone": "cnn", "attention": "wa", "mf": True}, "full")
    assert (name, overrides) == ("cnn", {"attention": "wa"})  # no stages, no MF on the CNN
    name, overrides, kw = space.to_build({"attention": "wca", "wca_ratio": 4}, "demo")
    assert overrides["depths"] == (1, 1, 1, 1) and overrides["attention_kwargs"] == {"ratio": 4}
    assert kw["batch_size"] == 16  # the demo does not search it
    with pytest.raises(ValueError, match="space must be one of"):
        space.to_build({}, "nope")


def test_fixed_values_are_not_sampled():
    asked = []

    def choose(param, values):
        asked.append(param.name)
        return _first_choice(param, values)

    values = space.sample("full", choose, fixed={"batch_size": 8})
    assert values["batch_size"] == 8 and "batch_size" not in asked


@pytest.mark.parametrize(
    "params",
    [
        {"stem": "msc", "msc_kernels": "5,7", "attention": "wa", "mf": True},
        {"stem": "msc", "msc_kernels": "3,5", "attention": "wca", "wca_ratio": 16},
        {"stem": "conv", "attention": "none", "mf": False},
    ],
)
def test_demo_space_builds_at_32_px(params):
    import ferzoo

    name, overrides, _ = space.to_build(params, "demo")
    model = ferzoo.build(name, num_classes=7, input_shape=(32, 32, 3), **overrides)
    assert model.output_shape == (None, 7)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_study_names_a_dataset_and_protocol_it_can_run(name):
    """Without any data: the study's dataset (and config) is registered, its protocol is one
    the dataset's facts allow, its image size leaves configurations to search, and a trial
    suggested by Optuna builds at that size with the dataset's number of classes."""
    import ferzoo
    from ferzoo import data
    from ferzoo.datasets import builder_class, facts

    cfg = STUDIES[name]
    num_classes = data.info(cfg.dataset).num_classes  # a bad "name/config" raises here
    assert num_classes >= 2, cfg.dataset
    if cfg.protocol == "subject":
        assert facts.of(builder_class(cfg.dataset)).has_subjects, cfg.dataset
    else:
        assert cfg.protocol == "paper"
    ruled_out = space.check_image_size(cfg.space, cfg.image_size)
    assert len(ruled_out) < len(space.min_image_sizes(cfg.space)), ruled_out
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(8):  # a draw may be one of the combinations ruled out at this size
        model_name, overrides, kwargs = space.suggest(study.ask(), cfg)
        try:
            model = ferzoo.build(
                model_name,
                num_classes=num_classes,
                input_shape=(cfg.image_size, cfg.image_size, 3),
                **overrides,
            )
        except ValueError as err:
            assert "too small for" in str(err)
            continue
        assert model.output_shape == (None, num_classes)
        assert kwargs["batch_size"] > 0
        return
    pytest.fail(f"no suggested trial of study {name!r} builds at {cfg.image_size} px")


# ---------------------------------------------------------------------------------------------
# Pruning (every backend)
# ---------------------------------------------------------------------------------------------


class _FakeTrial:
    def __init__(self, prune_at: int | None):
        self.prune_at = prune_at
        self.reports: list[tuple[int, float]] = []
        self.user_attrs: dict = {}

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return self.prune_at is not None and self.reports[-1][0] >= self.prune_at

    def set_user_attr(self, key, value):
        self.user_attrs[key] = value


def _tiny_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_pruning_callback_reports_every_epoch_and_prunes():
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 8, 8, 3), dtype=np.float32), rng.integers(0, 3, 8)
    trial = _FakeTrial(prune_at=1)
    callback = sweep.PruningCallback(trial, "val_accuracy")
    with pytest.raises(optuna.TrialPruned, match="epoch 1"):
        _tiny_model().fit(x, y, validation_data=(x, y), epochs=4, verbose=0, callbacks=[callback])
    assert [step for step, _ in trial.reports] == [0, 1]  # stopped at the pruner's word
    assert all(0.0 <= v <= 1.0 for _, v in trial.reports)
    assert trial.user_attrs["pruned_at_epoch"] == 1
    assert trial.user_attrs["params"] == 3 * 3 * 3 * 4 + 4 + 4 * 3 + 3
    assert trial.user_attrs["macs"] > 0 and trial.user_attrs["epoch_time"] > 0

    trial = _FakeTrial(prune_at=None)
    _tiny_model().fit(x, y, validation_data=(x, y), epochs=3, verbose=0,
                      callbacks=[sweep.PruningCallback(trial, "val_accuracy")])  # fmt: skip
    assert [step for step, _ in trial.reports] == [0, 1, 2]


def test_pruning_callback_names_a_missing_metric():
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 8, 8, 3), dtype=np.float32), rng.integers(0, 3, 4)
    with pytest.raises(ValueError, match="val_accuracy"):
        _tiny_model().fit(x, y, epochs=1, verbose=0,
                          callbacks=[sweep.PruningCallback(_FakeTrial(None), "val_accuracy")])  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The worker loop and the study (stand-in objectives)
# ---------------------------------------------------------------------------------------------


def test_run_worker_stops_at_n_finished_trials_and_resumes(tmp_path):
    settings = _settings(tmp_path, n_trials=3)
    study = optuna.create_study(direction="maximize")
    calls = []

    def objective(trial):
        calls.append(trial.number)
        x = trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            raise optuna.TrialPruned()  # pruned trials count towards n_trials
        return x

    assert sweep.run_worker(study, objective, settings) == 3
    counts = sweep.count_trials(study)
    assert counts[TrialState.COMPLETE] == 2 and counts[TrialState.PRUNED] == 1
    assert sweep.run_worker(study, objective, settings) == 0  # resumed: nothing left to do
    settings = settings.replace(n_trials=4)
    assert sweep.run_worker(study, objective, settings) == 1
    assert calls == [0, 1, 2, 3]


def test_run_worker_gives_up_after_failures_in_a_row(tmp_path):
    settings = _settings(tmp_path, n_trials=10)
    study = optuna.create_study(direction="maximize")

    def objective(trial):
        raise RuntimeError("broken setup")

    with pytest.raises(sweep.SweepError, match="3 trials in a row failed.*broken setup"):
        sweep.run_worker(study, objective, settings, max_consecutive_failures=3)
    assert sweep.count_trials(study)[TrialState.FAIL] == 3


def test_a_trial_beyond_n_trials_is_closed_without_running(tmp_path, monkeypatch):
    # Race: another worker asks for the last slot between our count and our ask.
    settings = _settings(tmp_path, n_trials=2)
    study = optuna.create_study(direction="maximize")
    study.add_trial(optuna.create_trial(value=0.5))
    stale = sweep.count_trials(study)  # 1 complete: one slot seems free
    held = study.ask()  # ... but another worker takes it
    monkeypatch.setattr("ferzoo.sweep.worker.count_trials", lambda _study: stale)
    called = []
    assert sweep.run_worker(study, lambda t: called.append(t) or 1.0, settings) == 0
    assert called == []  # the surplus trial never trained
    surplus = study.trials[-1]
    assert surplus.state == TrialState.FAIL and surplus.user_attrs["surplus"] is True
    assert study.trials[held.number].state == TrialState.RUNNING  # untouched


def test_resuming_with_other_settings_is_refused(tmp_path):
    storage = sweep.open_storage(f"sqlite:///{tmp_path}/s.db", heartbeat_interval=None)
    sweep.create_or_load_study(_settings(tmp_path, epochs=2), storage)
    sweep.create_or_load_study(_settings(tmp_path, epochs=2), storage)  # same: fine
    with pytest.raises(sweep.StudyMismatchError, match="epochs=2 \\(now 3\\)"):
        sweep.create_or_load_study(_settings(tmp_path, epochs=3), storage)


def test_mask_url_hides_the_password():
    assert sweep.mask_url("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert sweep.mask_url("sqlite:///results/optuna.db") == "sqlite:///results/optuna.db"


# ---------------------------------------------------------------------------------------------
# After the study: best.json, summary.md, plots (stand-in trainer)
# ---------------------------------------------------------------------------------------------

_DEMO_DISTRIBUTIONS = {
    "stem": CategoricalDistribution(["conv", "msc"]),
    "attention": CategoricalDistribution(["none", "wca", "wa"]),
    "learning_rate": FloatDistribution(1e-3, 1e-2, log=True),
}


def _add_trials(study, rows):
    for stem, attention, lr, value in rows:
        study.add_trial(
            optuna.create_trial(
                params={"stem": stem, "attention": attention, "learning_rate": lr},
                distributions=_DEMO_DISTRIBUTIONS,
                value=value,
                user_attrs={"params": 1000, "macs": 5000, "epoch_time": 0.5, "model": "resnet18"},
            )
        )


def _fake_train(calls):
    def train(model, dataset, **kwargs):
        calls.append((model, dataset, kwargs))
        fold = kwargs.get("fold", 0)
        test = {"accuracy": 0.75 - 0.1 * fold, "macro_f1": 0.7, "num_examples": 14,
                "chance": {"uniform": 1 / 7, "majority": 2 / 14},
                "subjects": {"train": 20, "validation": 2, "test": 2}}  # fmt: skip
        selection = {"monitor": "val_accuracy", "rule": "highest val_accuracy (stand-in)"}
        return SimpleNamespace(test=test, val_accuracy=0.8, best_epoch=1, selection=selection)

    return train


def test_finalize_retrains_the_best_and_writes_the_report(tmp_path):
    settings = _settings(tmp_path)
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    study = sweep.create_or_load_study(settings, storage)
    _add_trials(study, [("conv", "none", 0.002, 0.3), ("msc", "wca", 0.005, 0.6),
                        ("conv", "wa", 0.001, 0.4)])  # fmt: skip
    calls = []
    best = sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train(calls))

    assert best["trial"] == 1 and best["value"] == 0.6
    assert best["test"]["accuracy"] == 0.75
    [(model, dataset, kwargs)] = calls
    assert (model, dataset) == ("resnet18", "synthetic_faces")
    assert kwargs["evaluate_test"] is True and kwargs["epochs"] == settings.training.epochs
    assert kwargs["model_overrides"]["stem"] == "msc"
    assert kwargs["learning_rate"] == 0.005
    out = Path(settings.study_dir)
    assert json.loads((out / "best.json").read_text())["params"]["attention"] == "wca"
    summary = (out / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "trial" not in line]
    assert [r.split("|")[1].strip() for r in rows[:3]] == ["1", "2", "0"]  # ranked by value
    assert "0.75" in summary  # the test accuracy of the retrained best
    # ... beside its chance level (uniform / majority) and subjects per part, as `ferzoo cv`.
    assert "| 0 | 0.7500 | 0.7000 | 0.1429 / 0.1429 | 20/2/2 |" in summary
    assert kwargs["monitor"] == "auto" and kwargs["min_epochs"] == "auto"
    assert best["test"]["chance"]["uniform"] == pytest.approx(1 / 7)
    assert best["test"]["subjects"] == {"train": 20, "validation": 2, "test": 2}
    assert not (out / "best" / "cv.json").exists()  # one fold: no cross-validation files
    assert (out / "optimization_history.png").stat().st_size > 1000
    assert (out / "param_importances.png").stat().st_size > 1000
    assert not list(out.glob("*.tmp*"))  # atomic writes left nothing behind


def test_finalize_with_one_trial_skips_the_importances(tmp_path):
    settings = _settings(tmp_path)
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    study = sweep.create_or_load_study(settings, storage)
    _add_trials(study, [("conv", "none", 0.002, 0.3)])
    sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train([]))
    out = Path(settings.study_dir)
    assert (out / "optimization_history.png").exists()
    assert not (out / "param_importances.png").exists()
    assert (
        "param_importances: skipped: needs >= 2 complete trials" in (out / "summary.md").read_text()
    )


def test_finalize_without_complete_trials_says_so(tmp_path):
    settings = _settings(tmp_path)
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    study = sweep.create_or_load_study(settings, storage)
    study.add_trial(optuna.create_trial(state=TrialState.FAIL))
    with pytest.raises(sweep.SweepError, match="no trial"):
        sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train([]))
    assert "No trial completed" in (Path(settings.study_dir) / "summary.md").read_text()


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def test_unknown_study_lists_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        sweep_cli.main(["--study", "sfew"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown study 'sfew'" in err
    assert "demo, ck_plus, jaffe, kdef, fesr, fer2013, fer2013_ferplus, raf_db, affectnet" in err


def test_unreachable_storage_is_one_line_and_exit_2(capsys):
    code = sweep_cli.main(
        [
            "--study",
            "demo",
            "--storage",
            "postgresql://me:pw@127.0.0.1:9/nowhere",
            "--n-trials",
            "1",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ferzoo: error: cannot open the Optuna storage postgresql")
    assert "pw@" not in err and "Traceback" not in err


def test_several_steps_per_call_on_torch_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    code = sweep_cli.main(["--study", "demo", "--storage", f"sqlite:///{tmp_path}/o.db",
                           "--steps-per-execution", "4"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert "steps_per_execution=4" in err and not (tmp_path / "o.db").exists()


@pytest.mark.tf_only
def test_missing_dataset_prints_the_builder_instructions(tmp_path, capsys):
    empty = tmp_path / "manual"
    empty.mkdir()
    code = sweep_cli.main([
        "--study", "jaffe", "--storage", f"sqlite:///{tmp_path}/o.db",
        "--data-dir", str(tmp_path / "tfds"), "--manual-dir", str(empty),
        "--results-dir", str(tmp_path / "results"),
    ])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "jaffe" in err.lower() and "manual_dir" in err
    assert "Traceback" not in err
    # Nothing was created for a study that never started: the database made for it is gone.
    assert not (tmp_path / "o.db").exists()


def test_a_fresh_study_with_a_fixed_seed_is_reproducible(tmp_path):
    settings = _settings(tmp_path)
    assert sweep.sampler_seed(settings, 0) == settings.training.seed  # fresh study, worker 0
    assert sweep.sampler_seed(_settings(tmp_path, worker_id=1), 0) == settings.training.seed + 1
    restarted = {sweep.sampler_seed(settings, 3) for _ in range(3)}
    assert (
        settings.training.seed not in restarted and len(restarted) == 3
    )  # a new seed every restart


def test_gpus_give_each_worker_its_device():
    parse = sweep_cli.build_parser().parse_args
    plan = sweep_cli.worker_plan
    assert plan(parse(["--study", "demo", "--gpus", "0,1"])) == ["0", "1"]
    assert plan(parse(["--study", "demo", "--gpus", "0,1", "--workers-per-gpu", "2"])) == [
        "0", "1", "0", "1"
    ]  # fmt: skip
    assert plan(parse(["--study", "demo", "--gpus", "2,3", "--workers", "3"])) == ["2", "3", "2"]
    assert plan(parse(["--study", "demo", "--workers", "2"])) == [None, None]
    assert plan(parse(["--study", "demo"])) == [None]
    with pytest.raises(SystemExit):
        parse(["--study", "demo", "--gpus", "first"])


def test_workers_sharing_a_gpu_do_not_preallocate_its_memory():
    env = launcher.worker_env
    alone = env(["0", "1"], 1, {"PATH": "/bin"})
    assert alone == {"PATH": "/bin", "CUDA_VISIBLE_DEVICES": "1"}  # one worker per GPU: as is
    shared = env(["0", "1", "0", "1"], 2, {"TF_FORCE_GPU_ALLOW_GROWTH": "false"})
    assert shared["CUDA_VISIBLE_DEVICES"] == "0"
    assert shared["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert shared["TF_FORCE_GPU_ALLOW_GROWTH"] == "false"  # the user's setting is kept
    assert env([None, None], 0, {}) == {}  # no --gpus: the host's devices, untouched


# ---------------------------------------------------------------------------------------------
# The dashboard
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get_json(url: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.mark.slow
def test_dashboard_serves_the_study_and_its_artifacts(tmp_path):
    storage_url = f"sqlite:///{tmp_path}/optuna.db"
    storage = sweep.open_storage(storage_url, heartbeat_interval=None)
    study = optuna.create_study(study_name="demo", storage=storage, direction="maximize")
    trial = study.ask()
    trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True)
    store_dir = tmp_path / "results" / "demo" / "artifacts"
    store_dir.mkdir(parents=True)
    curves = tmp_path / "curves.png"
    curves.write_bytes(b"\x89PNG fake curves")
    store = optuna.artifacts.FileSystemArtifactStore(str(store_dir))
    artifact_id = optuna.artifacts.upload_artifact(
        artifact_store=store, file_path=str(curves), study_or_trial=trial
    )
    study.tell(trial, 0.5)

    port = _free_port()
    cmd = [sys.executable, "-m", "ferzoo.cli", "dashboard", "--storage", storage_url,
           "--port", str(port), "--results-dir", str(tmp_path / "results")]  # fmt: skip
    server = subprocess.Popen(
        cmd, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        studies = _get_json(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["demo"]
        study_id = studies[0]["study_id"]
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{study_id}")
        [served] = detail["trials"][0]["artifacts"]
        assert served["artifact_id"] == artifact_id and served["filename"] == "curves.png"
        trial_id = detail["trials"][0]["trial_id"]
        url = f"http://127.0.0.1:{port}/artifacts/{study_id}/{trial_id}/{artifact_id}"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.read() == b"\x89PNG fake curves"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_dashboard_refuses_an_unknown_study(tmp_path, capsys):
    from ferzoo import cli

    storage_url = f"sqlite:///{tmp_path}/optuna.db"
    storage = sweep.open_storage(storage_url, heartbeat_interval=None)
    optuna.create_study(study_name="demo", storage=storage)
    assert cli.main(["dashboard", "--storage", storage_url, "--study", "kdef"]) == 2
    err = capsys.readouterr().err
    assert "no study 'kdef'" in err and "studies there: demo" in err
    assert cli.main(["dashboard", "--storage", f"sqlite:///{tmp_path}/none.db"]) == 2
    assert "run a sweep first" in capsys.readouterr().err


def test_artifact_dirs_reads_from_every_folder(tmp_path):
    from optuna.artifacts.exceptions import ArtifactNotFound

    from ferzoo.commands.dashboard import ArtifactDirs

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    (tmp_path / "b" / "id-1").write_bytes(b"one")
    store = ArtifactDirs([str(tmp_path / "a"), str(tmp_path / "b")])
    with store.open_reader("id-1") as f:
        assert f.read() == b"one"
    with pytest.raises(ArtifactNotFound):
        store.open_reader("id-2")
