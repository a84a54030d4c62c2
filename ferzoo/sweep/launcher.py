"""Worker processes on this host: one per GPU (`--gpus`), or `--workers N` sharing its devices.

`ferzoo sweep --workers 2` (or `--gpus 0,1`) starts each worker as `python -m ferzoo.sweep.cli
... --no-final --worker-id K` on the same study and waits; Ctrl-C is forwarded. The parent then
writes the report.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from ferzoo.sweep.config import SweepSettings


def _worker_argv(s: SweepSettings, worker_id: int) -> list[str]:
    """The command line of worker `worker_id`: the sweep of `s`, without the final retrain."""
    options = {
        "--study": s.study.name, "--dataset": s.study.dataset, "--study-name": s.study_name,
        "--storage": s.storage_url, "--n-trials": s.n_trials, "--timeout": s.timeout,
        "--epochs": s.epochs, "--image-size": s.image_size, "--batch-size": s.batch_size,
        "--pruner": s.pruner, "--seed": s.seed, "--data-dir": s.data_dir,
        "--manual-dir": s.manual_dir, "--results-dir": s.results_dir,
        "--heartbeat": s.heartbeat_interval, "--max-retry": s.max_retry, "--verbose": s.verbose,
        "--monitor": s.monitor, "--min-epochs": s.min_epochs, "--precision": s.precision,
        "--weights": s.weights, "--cv-folds": s.cv_folds, "--max-latency-ms": s.max_latency_ms,
        "--max-macs": s.max_macs, "--data-on-device": s.data_on_device,
        "--steps-per-execution": s.steps_per_execution,
        "--objectives": ",".join(s.metric_names) if s.objectives else None,
    }  # fmt: skip
    argv = [sys.executable, "-m", "ferzoo.sweep.cli"]
    for flag, value in options.items():
        if value is not None:
            argv += [flag, str(value)]
    if s.keep_trial_dirs:
        argv.append("--keep-trial-dirs")
    if not s.reuse:
        argv.append("--no-reuse")
    return [*argv, "--no-final", "--worker-id", str(worker_id)]


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
    """Start one process per entry of `settings.worker_devices` on the study and wait; forward
    Ctrl-C."""
    plan = list(settings.worker_devices)
    procs = []
    for i in range(len(plan)):
        env = worker_env(plan, i, dict(os.environ))
        procs.append(subprocess.Popen(_worker_argv(settings, i), env=env))
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


__all__ = ["SHARED_GPU_ENV", "run_workers", "worker_env"]
