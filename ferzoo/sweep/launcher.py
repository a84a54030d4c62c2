"""Worker processes on this host: one per GPU (`--gpus`), or `--workers N` sharing its devices.

`ferzoo sweep --workers 2` (or `--gpus 0,1`) starts each worker as `python -m ferzoo.sweep.cli
... --no-final --worker-id K` on the same study and waits; Ctrl-C is forwarded. The parent then
writes the report.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def worker_plan(args: argparse.Namespace) -> list[str | None]:
    """The CUDA_VISIBLE_DEVICES of each worker to start (None: inherit), one entry a worker.

    `--gpus 0,1` starts one worker per GPU (times `--workers-per-gpu`); `--workers N` with
    `--gpus` deals N workers round-robin over the GPUs; without `--gpus`, N workers share the
    host's devices.
    """
    if not args.gpus:
        return [None] * (args.workers or 1)
    count = args.workers or len(args.gpus) * args.workers_per_gpu
    return [args.gpus[i % len(args.gpus)] for i in range(count)]


_FORWARDED = (
    "n_trials", "timeout", "epochs", "image_size", "batch_size", "storage", "study_name",
    "dataset", "pruner", "seed", "data_dir", "manual_dir", "results_dir", "heartbeat",
    "max_retry", "verbose", "monitor", "min_epochs", "precision", "weights",
)  # fmt: skip


def _worker_argv(args: argparse.Namespace, worker_id: int) -> list[str]:
    argv = [sys.executable, "-m", "ferzoo.sweep.cli", "--study", args.study]
    for name in _FORWARDED:
        value = getattr(args, name)
        if value is not None:
            argv += [f"--{name.replace('_', '-')}", str(value)]
    if args.keep_trial_dirs:
        argv.append("--keep-trial-dirs")
    return [*argv, "--no-final", "--worker-id", str(worker_id)]


# JAX and TensorFlow take most of a GPU's memory when they start: several workers on one GPU
# would all but the first fail. These make them allocate as they go (a variable set is kept).
SHARED_GPU_ENV = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}


def worker_env(plan: list[str | None], index: int, base: dict[str, str]) -> dict[str, str]:
    """The environment of worker `index` of `plan`: its CUDA_VISIBLE_DEVICES, and no memory
    preallocation where its GPU is shared with another worker."""
    env = dict(base)
    devices = plan[index]
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = devices
        if plan.count(devices) > 1:
            env.update({k: v for k, v in SHARED_GPU_ENV.items() if k not in base})
    return env


def run_workers(args: argparse.Namespace, plan: list[str | None]) -> int:
    """Start one process per entry of `plan` on the study and wait; forward Ctrl-C."""
    procs = []
    for i in range(len(plan)):
        env = worker_env(plan, i, dict(os.environ))
        procs.append(subprocess.Popen(_worker_argv(args, i), env=env))
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


__all__ = ["SHARED_GPU_ENV", "run_workers", "worker_env", "worker_plan"]
