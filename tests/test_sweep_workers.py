"""Worker processes get the sweep's settings whole, as JSON on their standard input, and run
them as written (issue 32)."""

from __future__ import annotations

import io
import json

import pytest

from ferzoo.sweep import SweepSettings, launcher, session, worker_main
from tests.sweep_testing import settings as _settings

pytestmark = pytest.mark.backend_free


class _FakeProcess:
    """What `subprocess.Popen` returns, recording what the launcher gave it."""

    started: list[_FakeProcess] = []

    def __init__(self, argv, env, stdin, text):
        self.argv, self.env, self.stdin = argv, env, io.StringIO()
        self.stdin.close = lambda: None  # read after the launcher's `with` closes it
        _FakeProcess.started.append(self)

    def wait(self, timeout=None):
        return 0

    def poll(self):
        return 0


def test_each_worker_is_sent_the_settings_and_its_id(tmp_path, monkeypatch):
    _FakeProcess.started = []
    monkeypatch.setattr(launcher.subprocess, "Popen", _FakeProcess)
    given = _settings(tmp_path, monitor="val_loss").replace(devices=("0", "0"))
    assert launcher.run_workers(given) == 0
    first, second = _FakeProcess.started
    assert first.argv[1:] == ["-m", "ferzoo.sweep.worker_main"]
    sent = [SweepSettings.from_json(json.loads(p.stdin.getvalue())) for p in (first, second)]
    assert [s.workers.worker_id for s in sent] == [0, 1]
    assert all(s.workers.launched and not s.run.final for s in sent)
    assert sent[1].training.options["monitor"] == "val_loss"
    assert sent[1].replace(worker_id=0, launched=False, final=True, devices=("0", "0")) == given
    # Two workers on GPU 0: each gets the device and half the data's share of its memory.
    assert first.env["CUDA_VISIBLE_DEVICES"] == "0" and "FERZOO_DEVICE_SHARE" in first.env


def test_a_worker_process_runs_the_settings_it_reads(tmp_path, monkeypatch):
    ran = []
    monkeypatch.setattr(session, "main", lambda settings: ran.append(settings) or 0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    given = _settings(tmp_path, n_trials=5)
    text = json.dumps(launcher.worker_settings(given, 3))
    assert worker_main.main(io.StringIO(text)) == 0
    [settings] = ran
    assert (settings.workers.worker_id, settings.workers.cuda_visible_devices) == (3, "1")
    assert settings.run.n_trials == 5 and settings.study == given.study
