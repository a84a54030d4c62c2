"""Optuna sweeps end to end (slow): real trials of tiny models on synthetic_faces/tiny at 32 px
for one epoch; restarts, a worker killed mid-trial, two workers on one study, workers on GPUs,
PostgreSQL. Subprocess workers where the test is about processes. The fast tests, with stand-in
objectives and trainers, are in test_sweeps.py.

PostgreSQL: `scripts/postgres.sh start` prints a URL; export it as FERZOO_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest
from optuna.trial import TrialState

import ferzoo
from ferzoo import sweep
from ferzoo.commands import sweep as sweep_cli
from ferzoo.sweep import timesheet
from ferzoo.sweep.studies import STUDIES
from tests.sweep_testing import RUN, TINY, subprocess_env

optuna.logging.set_verbosity(optuna.logging.WARNING)


# ---------------------------------------------------------------------------------------------
# End to end (slow): real training on synthetic_faces/tiny, 32 px, 1 epoch
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data_dir(tmp_path_factory):
    from ferzoo import data

    folder = str(tmp_path_factory.mktemp("tfds"))
    data.load(TINY, protocol="subject", image_size=32, batch_size=4, data_dir=folder)
    return folder


def _sweep_args(tmp_path, data_dir, storage, n_trials, *extra):
    return [
        "--study", "demo", "--dataset", TINY, "--image-size", "32", "--epochs", "1",
        "--batch-size", "8", "--n-trials", str(n_trials), "--storage", storage,
        "--data-dir", data_dir, "--results-dir", str(tmp_path / "results"),
        "--pruner", "none", "--heartbeat", "1", *extra,
    ]  # fmt: skip


def _spawn(args, log):
    return subprocess.Popen(
        [sys.executable, str(RUN), *args],
        env=subprocess_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _trials(storage_url, name="demo"):
    storage = sweep.open_storage(storage_url, heartbeat_interval=None)
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def _finished(trials):
    return [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]


def _check_no_duplicates(trials, n):
    done = _finished(trials)
    assert len(done) == n, [(t.number, t.state) for t in trials]
    # FAIL only for a surplus trial (two workers asked for the last slot at once), or for one
    # whose heartbeat stalled past the grace period on a loaded machine (1 s heartbeats here):
    # the storage fails it and a retry, which names it, runs its parameters again.
    retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert all(t.user_attrs.get("surplus") or t.number in retried for t in failed), [
        (t.number, t.user_attrs, t.system_attrs) for t in failed
    ]
    keys = [json.dumps(t.params, sort_keys=True) for t in done]
    assert len(set(keys)) == n, keys


@pytest.mark.slow
@pytest.mark.tf_only
def test_a_two_trial_sweep_writes_its_study_and_a_restart_repeats_nothing(
    tmp_path, tiny_data_dir, capsys
):
    url = f"sqlite:///{tmp_path}/optuna.db"
    assert sweep_cli.main(_sweep_args(tmp_path, tiny_data_dir, url, 2)) == 0

    trials = _trials(url)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    storage = sweep.open_storage(url, heartbeat_interval=None)
    for t in trials:
        assert t.user_attrs["params"] > 1000 and t.user_attrs["macs"] > t.user_attrs["params"]
        assert t.user_attrs["epoch_time"] > 0 and t.user_attrs["model"] == "resnet18"
        assert 0.0 <= t.value <= 1.0 and list(t.intermediate_values) == [0]
        files = {a.filename for a in optuna.artifacts.get_all_artifact_meta(t, storage=storage)}
        assert {"curves.png", "val_confusion_matrix.png", "history.csv"} <= files
    out = tmp_path / "results" / "demo"
    best = json.loads((out / "best.json").read_text())
    assert best["value"] == max(t.value for t in trials)
    assert 0.0 <= best["test"]["accuracy"] <= 1.0 and best["dataset"] == TINY
    assert (out / "best" / "confusion_matrix.png").exists()  # the retrained run, on test data
    assert (out / "optimization_history.png").exists()
    assert f"trial {best['trial']}" in (out / "summary.md").read_text()

    # Run again: the study is loaded, not recreated, and nothing is left to do.
    assert sweep_cli.main(_sweep_args(tmp_path, tiny_data_dir, url, 2, "--no-final")) == 0
    assert len(_trials(url)) == 2
    _restart_draws_new_configurations(tmp_path, tiny_data_dir, url, [t.params for t in trials])


def _restart_draws_new_configurations(tmp_path, data_dir, url, first):
    """The same command with --n-trials 4 after 2: 4 trials, 4 configurations (a restarted
    sampler with the old seed would draw the first two again)."""
    assert sweep_cli.main(_sweep_args(tmp_path, data_dir, url, 4, "--no-final")) == 0
    trials = _trials(url)
    done = _finished(trials)
    keys = {json.dumps(t.params, sort_keys=True) for t in done}
    assert len(done) == 4 and len(keys) == 4, [t.params for t in done]
    assert [t.params for t in done[:2]] == first
    # A draw that repeated a trial was closed before training, and says which it repeated.
    for t in trials:
        if t.state == TrialState.FAIL:
            assert t.user_attrs["duplicate_of"] < t.number and "epoch_time" not in t.user_attrs


@pytest.mark.slow
@pytest.mark.tf_only
def test_a_two_objective_sweep_draws_its_front_and_retrains_the_best_under_a_budget(
    tmp_path, tiny_data_dir
):
    url = f"sqlite:///{tmp_path}/optuna.db"
    two = ("--objectives", "val_accuracy,latency_ms")
    assert sweep_cli.main(_sweep_args(tmp_path, tiny_data_dir, url, 3, *two, "--no-final")) == 0
    trials = _trials(url)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert [t.user_attrs.get("paper_model") for t in trials[:2]] == ["resnet18", "msc_wca_resnet18"]
    for t in trials:
        assert t.values[1] == t.user_attrs["latency_ms"] > 0 and not t.intermediate_values
        assert t.user_attrs["latency_engine"] == "onnxruntime", t.user_attrs.get("latency_note")
    # The budget: the fastest trial's latency; the best within it is retrained.
    budget = min(t.values[1] for t in trials)
    fits = [t for t in trials if t.values[1] <= budget]
    expected = max(fits, key=lambda t: (t.values[0], -t.number)).number
    budgeted = ("--max-latency-ms", repr(budget))
    assert sweep_cli.main(_sweep_args(tmp_path, tiny_data_dir, url, 3, *two, *budgeted)) == 0

    out = tmp_path / "results" / "demo"
    best = json.loads((out / "best.json").read_text())
    assert best["trial"] == expected and best["budgets"] == {"latency_ms": budget}
    assert (out / "pareto_front.png").exists()
    summary = (out / "summary.md").read_text()
    assert "## Pareto front" in summary and "## Did the search pay off?" in summary
    assert "| resnet18" in summary and "| msc_wca_resnet18" in summary
    # Where each trial's time went: the parts add up to the trial's duration in the storage.
    for t in trials:
        split = t.user_attrs["time"]
        duration = (t.datetime_complete - t.datetime_start).total_seconds()
        parts = sum(split[k] for k in timesheet.PARTS)  # data, build, compile, steps, ...
        assert abs(parts - duration) <= 0.05 * duration, (split, duration)
        assert min(split["build"], split["compile"], split["steps"], split["validation"]) > 0
        assert f"| {t.number} | {split['data']:.1f} | {split['build']:.1f} |" in summary
    assert "## Where the time went" in summary and "Trials per hour:" in summary


@pytest.mark.slow
@pytest.mark.tf_only
def test_a_demo_sweep_with_the_default_paths_writes_only_under_runs(
    tmp_path, tiny_data_dir, monkeypatch
):
    """`make demo`'s command (no --storage, no --results-dir) in an empty folder, as in a fresh
    clone: the storage, the trials' files and the report all land in the git-ignored runs/."""
    from ferzoo import paths

    if os.path.isabs(paths.RUNS_DIR):
        pytest.skip(f"FERZOO_RUNS_DIR is an absolute path: {paths.RUNS_DIR}")
    work = tmp_path / "clone"
    work.mkdir()
    monkeypatch.chdir(work)
    args = ["--study", "demo", "--dataset", TINY, "--image-size", "32", "--epochs", "1",
            "--batch-size", "8", "--n-trials", "1", "--data-dir", tiny_data_dir,
            "--pruner", "none", "--heartbeat", "1"]  # fmt: skip
    assert sweep_cli.main(args) == 0
    top = paths.RUNS_DIR.split(os.sep)[0]
    assert os.listdir(work) == [top]
    assert (work / paths.SWEEPS_DIR / "demo" / "summary.md").exists()
    assert (work / paths.RUNS_DIR / "optuna.db").exists()


@pytest.mark.slow
@pytest.mark.tf_only
def test_progress_prints_one_line_per_epoch_and_the_output_is_clean(tmp_path, tiny_data_dir):
    """`--progress`: a line per epoch of each fold of the trial, in order, naming them; and no
    line from TensorFlow's C++ log (`E0000 ... use_unbounded_threadpool`, oneDNN notices)."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    args = _sweep_args(tmp_path, tiny_data_dir, url, 1, "--no-final", "--progress",
                       "--cv-folds", "2", "--epochs", "2")  # fmt: skip
    with open(tmp_path / "run.log", "wb") as log:
        assert _spawn(args, log).wait(timeout=400) == 0, (tmp_path / "run.log").read_text()
    text = (tmp_path / "run.log").read_text()
    lines = [line for line in text.splitlines() if line.startswith("trial 0, fold ")]
    heads = [line.split(":")[0] for line in lines]
    assert heads == [f"trial 0, fold {k} of 2, epoch {e}/2" for k in (1, 2) for e in (1, 2)], text
    assert all("val_accuracy" in line and line.endswith(" s)") for line in lines)
    for noise in ("E0000", "use_unbounded_threadpool", "oneDNN", "Traceback"):
        assert noise not in text, text


@pytest.mark.slow
@pytest.mark.tf_only
def test_a_worker_killed_mid_trial_costs_only_that_trial(tmp_path, tiny_data_dir):
    url = f"sqlite:///{tmp_path}/optuna.db"
    args = _sweep_args(tmp_path, tiny_data_dir, url, 2, "--no-final")
    with open(tmp_path / "worker1.log", "wb") as log:
        worker = _spawn(args, log)
        try:
            victim = None
            deadline = time.monotonic() + 400  # generous: CPU may be shared
            while victim is None and time.monotonic() < deadline:
                time.sleep(0.3)
                with contextlib.suppress(KeyError):  # the study does not exist yet
                    trials = _trials(url)
                    done = [t for t in trials if t.state == TrialState.COMPLETE]
                    running = [
                        t for t in trials
                        if t.state == TrialState.RUNNING and "params" in t.user_attrs
                    ]  # fmt: skip
                    if done and running:  # one trial kept, the next one training
                        victim = running[0]
            assert victim is not None, (tmp_path / "worker1.log").read_text()[-2000:]
            os.kill(worker.pid, signal.SIGKILL)
        finally:
            worker.kill()
            worker.wait()
    kept = done[0]
    time.sleep(3.5)  # the grace period (3 heartbeats of 1 s)
    with open(tmp_path / "worker2.log", "wb") as log:
        assert _spawn(args, log).wait(timeout=240) == 0, (tmp_path / "worker2.log").read_text()

    trials = {t.number: t for t in _trials(url)}
    assert trials[victim.number].state == TrialState.FAIL
    retries = [t for t in trials.values() if t.system_attrs.get("failed_trial") == victim.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert retries[0].params == victim.params  # the same configuration, run again
    assert trials[kept.number].state == TrialState.COMPLETE
    assert trials[kept.number].value == kept.value  # no completed trial lost
    assert len(_finished(trials.values())) == 2


@pytest.mark.slow
@pytest.mark.tf_only
def test_two_workers_on_gpus_share_a_study_without_duplicates(tmp_path, tiny_data_dir):
    """`--gpus 0,1 --workers 2` (on this CPU machine the workers still train on the CPU): no
    configuration runs twice, and each trial records the CUDA_VISIBLE_DEVICES its worker was
    given, the device it ran on and the precision it resolved."""
    url = f"sqlite:///{tmp_path}/optuna.db"
    args = _sweep_args(tmp_path, tiny_data_dir, url, 4, "--workers", "2", "--gpus", "0,1",
                       "--no-final")  # fmt: skip
    with open(tmp_path / "run.log", "wb") as log:
        assert _spawn(args, log).wait(timeout=400) == 0, (tmp_path / "run.log").read_text()
    trials = _trials(url)
    _check_no_duplicates(trials, 4)
    done = _finished(trials)
    assert {t.user_attrs["cuda_visible_devices"] for t in done} == {"0", "1"}
    assert {t.user_attrs["worker"] for t in done} == {0, 1}
    assert all(t.user_attrs["device"] and t.user_attrs["precision"] == "float32" for t in done)


@pytest.mark.slow
@pytest.mark.tf_only
def test_postgresql_serves_a_study_that_two_workers_share(tmp_path, tiny_data_dir):
    url = os.environ.get("FERZOO_TEST_POSTGRES_URL")
    if not url:
        pytest.skip(
            "FERZOO_TEST_POSTGRES_URL is unset: start a server with `scripts/postgres.sh start` "
            "and export the URL it prints"
        )
    name = f"pg-{uuid.uuid4().hex[:8]}"
    logs = [open(tmp_path / f"host{i}.log", "wb") for i in range(2)]
    try:
        # Two independent commands, as on two machines: same study, different sampler seeds.
        procs = [
            _spawn(
                _sweep_args(
                    tmp_path,
                    tiny_data_dir,
                    url,
                    2,
                    "--study-name",
                    name,
                    "--seed",
                    str(i),
                    "--no-final",
                ),
                logs[i],
            )  # fmt: skip
            for i in range(2)
        ]
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for log in logs:
            log.close()
    assert codes == [0, 0], [(tmp_path / f"host{i}.log").read_text()[-2000:] for i in range(2)]
    _check_no_duplicates(_trials(url, name), 2)


@pytest.mark.slow
@pytest.mark.tf_only
def test_the_final_stage_writes_what_the_trials_trained_and_trains_no_fold_again(
    tmp_path, tiny_data_dir, monkeypatch
):
    """Issue 30: a sweep whose best is one of the papers' designs, scored on 3 folds and
    finalized on the same 3: the final stage fits nothing, and its test figures are the
    trial's own fold models' test scores."""
    import keras

    from ferzoo import data
    from ferzoo.evaluation import evaluate
    from ferzoo.sweep import kept

    url = f"sqlite:///{tmp_path}/optuna.db"
    folds = ("--cv-folds", "3", "--final-folds", "3")
    assert sweep_cli.main(_sweep_args(tmp_path, tiny_data_dir, url, 2, *folds, "--no-final")) == 0
    fits = []
    fit = keras.Model.fit
    monkeypatch.setattr(keras.Model, "fit", lambda m, *a, **k: fits.append(1) or fit(m, *a, **k))
    assert sweep_cli.main(_sweep_args(tmp_path, tiny_data_dir, url, 2, *folds)) == 0
    assert fits == []  # the best, and the other paper design beside it, were not trained again

    out = tmp_path / "results" / "demo"
    best = json.loads((out / "best.json").read_text())
    summary = (out / "summary.md").read_text()
    assert "Reused, not trained again: fold(s) 0, 1, 2" in summary
    settings = sweep.SweepSettings.of(STUDIES["demo"], "demo", storage_url=url,
                                      results_dir=str(tmp_path / "results"))  # fmt: skip
    for row in best["test"]["cv"]["folds"]:
        assert row["reused_from"] == {"trial": best["trial"], "fold": row["fold"]}
        run = kept.read(settings, best["trial"], row["fold"])
        net = ferzoo.build("resnet18", num_classes=7, input_shape=(32, 32, 3),
                           **best["model_overrides"])  # fmt: skip
        net.set_weights(run["weights"])
        fold = data.load(TINY, protocol="subject", fold=row["fold"], num_folds=10,
                         image_size=32, batch_size=8, data_dir=tiny_data_dir)  # fmt: skip
        scores = evaluate.evaluate_model(net, fold["test"], list(fold.class_names))
        assert row["accuracy"] == pytest.approx(scores["accuracy"], abs=1e-9)
        assert f"| {row['fold']} | {scores['accuracy']:.4f} |" in summary
        files = {p.name for p in (out / "best" / f"fold-{row['fold']}").iterdir()}
        assert {"model.keras", "metrics.json", "config.json", "curves.png", "history.csv"} <= files
