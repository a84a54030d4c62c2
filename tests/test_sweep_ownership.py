"""Who owns a sweep's outputs: the report folder of each storage's study, the one process that
retrains a study's best, the metric name the dashboard shows, and what a failed start leaves.

Stand-in trainers only (tests/sweep_testing.py and the helpers of test_sweeps.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
from optuna.study import StudyDirection

from ferzoo import sweep
from ferzoo.commands import sweep as sweep_cli
from ferzoo.sweep import claims, final, ownership, session, space
from ferzoo.sweep.config import report_dir
from tests.sweep_testing import settings as _settings
from tests.sweep_testing import subprocess_env
from tests.test_sweeps import _add_trials, _fake_train

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free

ROOT = Path(__file__).resolve().parents[1]


def _study(settings, rows):
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    _add_trials(sweep.create_or_load_study(settings, storage), rows)
    return storage


def _claim_names(storage) -> list[str]:
    return [s.study_name for s in storage.get_all_studies() if ":final-retrain:" in s.study_name]


# ---------------------------------------------------------------------------------------------
# One report folder per storage and study
# ---------------------------------------------------------------------------------------------


def test_two_storages_with_a_study_of_one_name_keep_two_reports(tmp_path):
    home = _settings(tmp_path)  # tmp/optuna.db beside tmp/results: the plain folder
    other = _settings(tmp_path, storage_url=f"sqlite:///{tmp_path}/other.db")
    home_storage = _study(home, [("conv", "none", 0.002, 0.3), ("msc", "wca", 0.005, 0.6)])
    other_storage = _study(other, [("conv", "wa", 0.001, 0.9)])
    calls = []
    sweep.finalize(home, home_storage, space.to_build, train_fn=_fake_train(calls))
    sweep.finalize(other, other_storage, space.to_build, train_fn=_fake_train(calls))

    home_dir, other_dir = Path(home.study_dir), Path(other.study_dir)
    assert home_dir == tmp_path / "results" / "demo"
    assert other_dir.parent == home_dir.parent and other_dir.name.startswith("demo-")
    assert len(other_dir.name) == len("demo-") + 8
    assert [Path(kw["output_dir"]) for _, _, kw in calls] == [home_dir / "best", other_dir / "best"]
    first = json.loads((home_dir / "best.json").read_text())
    second = json.loads((other_dir / "best.json").read_text())
    assert (first["storage"], first["value"], first["trials"]) == (
        home.run.storage_url,
        0.6,
        {"complete": 2},
    )
    assert (second["storage"], second["value"], second["trials"]) == (
        other.run.storage_url,
        0.9,
        {"complete": 1},
    )
    assert "optuna.db" in (home_dir / "summary.md").read_text()
    assert "other.db" not in (home_dir / "summary.md").read_text()
    assert "other.db" in (other_dir / "summary.md").read_text()
    owner = json.loads((other_dir / ownership.OWNER_FILE).read_text())
    assert owner["study_name"] == "demo" and owner["storage"] == "sqlite:///other.db"


def test_every_spelling_of_one_storage_finds_one_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = "runs/sweeps"
    default = report_dir(results, "sqlite:///runs/optuna.db", "demo")
    assert default == os.path.join("runs", "sweeps", "demo")
    for same in (f"sqlite:///{tmp_path}/runs/optuna.db", "sqlite+pysqlite:///./runs/optuna.db",
                 "sqlite:///runs/../runs/optuna.db?timeout=9"):  # fmt: skip
        assert report_dir(results, same, "demo") == default, same
    other = report_dir(results, "sqlite:///other.db", "demo")
    assert other != default
    assert report_dir(results, f"sqlite:///{tmp_path}/other.db", "demo") == other
    pg = report_dir(results, "postgresql://me:pw@db-host/fz", "demo")
    assert pg == report_dir(results, "postgresql+psycopg2://me:other@DB-host:5432/fz", "demo")
    assert pg not in (default, other, report_dir(results, "postgresql://me@db-host/fz2", "demo"))
    # A storage inside the project keeps its folder name when the project moves as a whole.
    inside = report_dir(results, "sqlite:///runs/other.db", "demo")
    assert inside not in (default, other)
    moved = tmp_path / "moved"
    moved.mkdir()
    monkeypatch.chdir(moved)
    assert report_dir(results, "sqlite:///runs/other.db", "demo") == inside


def test_a_folder_that_holds_another_storages_report_is_refused(tmp_path):
    settings = _settings(tmp_path)
    folder = Path(settings.study_dir)
    folder.mkdir(parents=True)
    # A folder from before owner.json, written by a study of another storage.
    legacy = {"study_name": "demo", "storage": f"sqlite:///{tmp_path}/elsewhere.db", "trial": 7}
    (folder / "best.json").write_text(json.dumps(legacy))
    storage = _study(settings, [("conv", "none", 0.002, 0.3)])
    with pytest.raises(sweep.SweepError, match=r"holds the report of study 'demo' in .*elsewhere"):
        sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train([]))
    assert json.loads((folder / "best.json").read_text()) == legacy  # not written over
    assert sorted(p.name for p in folder.iterdir()) == ["best.json"]
    # Its own old folder is adopted: owner.json is written and the report with it.
    (folder / "best.json").write_text(json.dumps({**legacy, "storage": settings.run.storage_url}))
    sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train([]))
    assert (
        json.loads((folder / ownership.OWNER_FILE).read_text())["storage"] == "sqlite:///optuna.db"
    )
    # owner.json of another study (the same folder, e.g. a digest collision).
    (folder / ownership.OWNER_FILE).write_text(
        json.dumps({"storage": "sqlite:///optuna.db", "study_name": "kdef"})
    )
    with pytest.raises(sweep.SweepError, match="study 'kdef'"):
        ownership.own_report_dir(settings)


# ---------------------------------------------------------------------------------------------
# One process retrains a study's best
# ---------------------------------------------------------------------------------------------


def test_a_held_claim_makes_a_second_finalize_stand_aside(tmp_path):
    settings = _settings(tmp_path)
    storage = _study(settings, [("conv", "none", 0.002, 0.3), ("msc", "wca", 0.005, 0.6)])
    calls = []
    with claims.Claim(storage, "demo", interval=30):  # the first process, retraining
        with pytest.raises(claims.ClaimHeld) as held:
            sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train(calls))
    message = str(held.value)
    assert len(message.splitlines()) == 1
    assert f"host {socket.gethostname()} pid {os.getpid()} since " in message
    assert calls == [] and not (Path(settings.study_dir) / "best.json").exists()
    assert _claim_names(storage) == []  # released
    sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train(calls))
    assert len(calls) == 1 and _claim_names(storage) == []


def test_the_command_run_twice_retrains_once_and_names_the_holder(tmp_path, monkeypatch, capsys):
    argv = ["--study", "demo", "--n-trials", "2", "--epochs", "2", "--image-size", "32",
            "--storage", f"sqlite:///{tmp_path}/optuna.db",
            "--results-dir", str(tmp_path / "results")]  # fmt: skip
    settings = sweep_cli.settings_from_args(sweep_cli.build_parser().parse_args(argv))
    storage = _study(settings, [("conv", "none", 0.002, 0.3), ("msc", "wca", 0.005, 0.6)])
    monkeypatch.setattr(session, "prepare_data", lambda settings: None)
    retrained = []
    monkeypatch.setattr(final, "retrain_best", lambda *a, **k: retrained.append(a) or None)
    with claims.Claim(storage, "demo", interval=30):
        assert sweep_cli.main(argv) == 0
    out, err = capsys.readouterr()
    [line] = out.splitlines()
    assert "the final retrain is taken by host" in line and f"pid {os.getpid()}" in line
    assert retrained == [] and f"trial files in {settings.study_dir}" in err
    assert sweep_cli.main(argv) == 0  # the claim released: this one retrains
    assert len(retrained) == 1 and (Path(settings.study_dir) / "best.json").exists()


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leave_claim(storage, generation=0, holder=None):
    """A claim left in `storage`: its holder is this process, changed by `holder` (None: the
    claim was never recorded)."""
    name = f"demo:final-retrain:{generation}"
    study_id = storage.create_new_study([StudyDirection.MINIMIZE], name)
    if holder is not None:
        record = {"host": socket.gethostname(), "pid": os.getpid(), "since": "then",
                  "heartbeat": time.time(), "stale_after": 90.0, **holder}  # fmt: skip
        storage.set_study_system_attr(study_id, "holder", record)


@pytest.mark.parametrize(
    "holder, taken",
    [
        (dict(pid=-1), True),  # a process of this host that no longer runs (pid set below)
        (dict(host="elsewhere", heartbeat=time.time() - 1000), True),  # silent for long
        (dict(host="elsewhere"), False),  # another host's live holder
        (dict(), False),  # this process
    ],
)
def test_a_stale_claim_is_taken_over_and_a_live_one_is_not(tmp_path, holder, taken):
    settings = _settings(tmp_path)
    storage = _study(settings, [("conv", "none", 0.002, 0.3)])
    if holder.get("pid") == -1:
        holder = {**holder, "pid": _dead_pid()}
    _leave_claim(storage, holder=holder)
    calls = []
    if taken:
        sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train(calls))
        assert len(calls) == 1 and _claim_names(storage) == []  # the stale claim is gone too
    else:
        host = holder.get("host", socket.gethostname())
        with pytest.raises(claims.ClaimHeld, match=f"taken by host {host} pid"):
            sweep.finalize(settings, storage, space.to_build, train_fn=_fake_train(calls))
        assert calls == [] and _claim_names(storage) == ["demo:final-retrain:0"]


def test_a_claim_never_recorded_is_taken_over_after_a_grace(tmp_path, monkeypatch):
    monkeypatch.setattr(claims, "UNRECORDED_GRACE", 0.05)
    storage = sweep.open_storage(f"sqlite:///{tmp_path}/c.db", heartbeat_interval=None)
    _leave_claim(storage, generation=4)  # its process died before it recorded itself
    with claims.Claim(storage, "demo", interval=30) as claim:
        assert _claim_names(storage) == ["demo:final-retrain:5"]
        assert claim.holders()[0].pid == os.getpid()
    assert _claim_names(storage) == []


_CONTENDER = textwrap.dedent(
    """
    import os, sys, time
    from ferzoo.sweep.claims import Claim, ClaimHeld
    from ferzoo.sweep.storage import open_storage

    url, start, release = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    storage = open_storage(url, heartbeat_interval=None)
    time.sleep(max(0.0, start - time.time()))
    try:
        with Claim(storage, "demo", interval=1):
            print("took", flush=True)
            deadline = time.time() + 120
            while not os.path.exists(release) and time.time() < deadline:
                time.sleep(0.05)
    except ClaimHeld as held:
        print(held, flush=True)
    """
)


@pytest.mark.slow
def test_of_processes_racing_for_the_claim_one_takes_it(tmp_path):
    url = f"sqlite:///{tmp_path}/optuna.db"
    storage = sweep.open_storage(url, heartbeat_interval=None)  # the tables exist before the race
    release = tmp_path / "release"
    start = time.time() + 4  # all have imported by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CONTENDER, url, str(start), str(release)],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        deadline = time.monotonic() + 120
        while sum(p.poll() is not None for p in procs) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # the two that stood aside end; the holder waits for `release`
    finally:
        release.touch()
        outputs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert sorted(o == "took" for o in outputs) == [False, False, True], outputs
    assert all("the final retrain is taken by host" in o for o in outputs if o != "took")
    assert _claim_names(storage) == []


# ---------------------------------------------------------------------------------------------
# The dashboard's metric name; bad arguments leave nothing behind
# ---------------------------------------------------------------------------------------------


def test_the_study_is_named_after_its_metric(tmp_path):
    settings = _settings(tmp_path)
    storage = sweep.open_storage(settings.run.storage_url, heartbeat_interval=None)
    assert sweep.create_or_load_study(settings, storage).metric_names == ["val_accuracy"]
    # A study made before the name was set gets it when it is resumed.
    old = optuna.create_study(storage=storage, study_name="old", direction="maximize")
    assert old.metric_names is None
    sweep.create_or_load_study(_settings(tmp_path, study_name="old"), storage)
    assert optuna.load_study(study_name="old", storage=storage).metric_names == ["val_accuracy"]


def test_a_negative_max_retry_is_an_argument_error(capsys):
    parse = sweep_cli.build_parser().parse_args
    assert parse(["--study", "demo", "--max-retry", "0"]).max_retry == 0
    for bad in ("-1", "two"):
        with pytest.raises(SystemExit) as exit_info:
            parse(["--study", "demo", "--max-retry", bad])
        assert exit_info.value.code == 2
        assert f"--max-retry: expected an int >= 0, got '{bad}'" in capsys.readouterr().err


def test_an_unknown_dataset_leaves_no_database(tmp_path, capsys):
    db = tmp_path / "new" / "x.db"
    code = sweep_cli.main(["--study", "demo", "--dataset", "nosuch",
                           "--storage", f"sqlite:///{db}",
                           "--results-dir", str(tmp_path / "results")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ferzoo: error: Unknown dataset"), err
    assert not db.exists() and not db.parent.exists() and not (tmp_path / "results").exists()


def test_a_failed_start_removes_the_database_it_created(tmp_path):
    db = tmp_path / "a" / "b" / "x.db"
    made = session._new_dirs(str(db))
    assert made == [str(tmp_path / "a" / "b"), str(tmp_path / "a")]
    sweep.open_storage(f"sqlite:///{db}", heartbeat_interval=None)  # Optuna's empty tables
    session._remove_unused(str(db), made)
    assert not (tmp_path / "a").exists()
    # A database that holds a study meanwhile is kept.
    storage = sweep.open_storage(f"sqlite:///{db}", heartbeat_interval=None)
    optuna.create_study(storage=storage, study_name="demo")
    session._remove_unused(str(db), made)
    assert db.exists()


def test_the_dashboard_serves_the_artifacts_of_the_storages_own_study(tmp_path):
    from argparse import Namespace

    from ferzoo.commands.dashboard import artifact_store_for

    results, other = str(tmp_path / "results"), f"sqlite:///{tmp_path}/other.db"
    args = Namespace(artifact_dir=None, study="demo", results_dir=results, storage=other)
    store = artifact_store_for(args)
    folder = Path(report_dir(results, other, "demo")) / "artifacts"
    assert folder.is_dir() and folder.parent.name.startswith("demo-")
    assert not (tmp_path / "results" / "demo").exists()  # the default storage's study's folder
    (folder / "id-1").write_bytes(b"curves")
    with store.open_reader("id-1") as f:
        assert f.read() == b"curves"
