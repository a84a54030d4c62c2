"""Worker processes on this host: one per GPU (`--gpus`), or `--workers N` sharing its devices.

`ferzoo sweep --workers 2` (or `--gpus 0,1`) starts each worker as `python -m
ferzoo.sweep.worker_main` and writes it its settings on its standard input, whole, as one JSON
document (`SweepSettings.to_json`) with its worker id; the worker runs trials on the same study
and never the final retrain. The parent waits, forwards Ctrl-C, then writes the report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from ferzoo.sweep.config import SweepSettings


def worker_settings(settings: SweepSettings, worker_id: int) -> dict:
    """What worker `worker_id` is sent: the sweep's settings as a worker of it runs them (no
    final retrain, no workers of its own)."""
    mine = settings.replace(worker_id=worker_id, launched=True, final=False, devices=(None,))
    return mine.to_json()


# JAX and TensorFlow take most of a GPU's memory when they start: several workers on one GPU
# would all but the first fail. These make them allocate as they go (a variable set is kept).
SHARED_GPU_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def worker_env(plan: list[str | None], index: int, base: dict[str, str]) -> dict[str, str]:
    """The environment of worker `index` of `plan`: its CUDA_VISIBLE_DEVICES and, where its GPU
    is shared with other workers, no memory preallocation and its part of the share of the
    GPU's memory that the data may take (`ferzoo.training.device_input.share`)."""
    from ferzoo.training.device_input import DEVICE_SHARE, SHARE_VARIABLE

    env = dict(base)
    devices = plan[index]
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = devices
        sharing = plan.count(devices)
        if sharing > 1:
            env.update({k: v for k, v in SHARED_GPU_ENV.items() if k not in base})
            env.setdefault(SHARE_VARIABLE, f"{DEVICE_SHARE / sharing:.6g}")
    return env


def run_workers(settings: SweepSettings) -> int:
    """Start one process per entry of `settings.workers.devices` on the study and wait; forward
    Ctrl-C."""
    plan = list(settings.workers.devices)
    procs = []
    argv = [sys.executable, "-m", "ferzoo.sweep.worker_main"]
    for i in range(len(plan)):
        env = worker_env(plan, i, dict(os.environ))
        procs.append(subprocess.Popen(argv, env=env, stdin=subprocess.PIPE, text=True))
        with procs[-1].stdin as pipe:
            json.dump(worker_settings(settings, i), pipe)
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        _stop(procs)
        raise
    bad = [(i, c) for i, c in enumerate(codes) if c != 0]
    for i, code in bad:
        print(f"ferzoo: error: worker {i} exited with code {code}", file=sys.stderr)
    return 1 if bad else 0


def _stop(procs: list[subprocess.Popen]) -> None:
    # Ctrl-C in a terminal reaches the workers too; give them a moment to close their trials,
    # then interrupt those that did not get it (e.g. `kill -INT <this process>`).
    deadline = time.monotonic() + 5
    while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    for p in procs:
        try:
            p.wait(timeout=120)
        except subprocess.TimeoutExpired:
            p.kill()


__all__ = ["SHARED_GPU_ENV", "run_workers", "worker_env", "worker_settings"]
