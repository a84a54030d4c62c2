"""The sweep command line: `python sweeps/run.py --study NAME` (= `python -m ferzoo.sweep.cli`).

    python sweeps/run.py --study demo                      # synthetic faces, a few minutes on CPU
    python sweeps/run.py --study kdef --manual-dir ~/fer   # KDEF, once its archive is there
    python sweeps/run.py --study kdef --workers 2          # two processes share the study
    python sweeps/run.py --study kdef --gpus 0,1,2,3       # one worker per GPU
    python sweeps/run.py --study kdef --storage postgresql://user:pw@db-host/ferzoo  # many hosts
    ferzoo dashboard --study demo                          # browse the trials

Each trial samples a configuration from `ferzoo.sweep.space`, trains it with `ferzoo.train` on
the training part and scores it on the validation part (reported every epoch so the pruner can
stop poor trials early); the test part is never seen during the search. The study lives in
`--storage` (default `sqlite:///runs/optuna.db`) and resumes where it stopped: run the same
command again. A worker killed mid-trial costs that trial only. After the study, the best
configuration is retrained and evaluated on the test part (`--final-folds N`: on N folds of the
protocol, with per-fold accuracy, macro F1, chance level, subjects per part and mean ± std), and
`runs/sweeps/<study>/` gets best.json, summary.md and the plots (skip with `--no-final`).
`--monitor` and `--min-epochs` set which epoch of every run is kept (`ferzoo.train`'s rule; the
study's metric, read at that epoch, stays the objective).

Exit codes: 0 done; 1 the sweep failed (no trial completed, data missing); 2 bad arguments,
unknown study or unreachable storage; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import subprocess
import sys
import time

from ferzoo.precision import CHOICES as PRECISIONS
from ferzoo.sweep.config import DEFAULT_RESULTS_DIR, DEFAULT_STORAGE, PRUNERS
from ferzoo.sweep.studies import STUDIES

SCRIPT = os.path.join("sweeps", "run.py")
# ferzoo.training.selection.MONITORS and "auto" (not imported: that would load Keras).
MONITORS = ("auto", "val_loss", "val_accuracy", "val_macro_f1")


def _positive(kind: type):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def _min_epochs(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an int >= 0, got {text!r}")
    return value


def _gpu_list(text: str) -> list[str]:
    ids = [part.strip() for part in text.split(",") if part.strip()]
    if not ids or any(not i.isdigit() for i in ids):
        raise argparse.ArgumentTypeError(f"expected GPU indices like 0,1,2, got {text!r}")
    return ids


class _StudyChoice(argparse.Action):
    """`--study` with a message listing the known studies (argparse's own is cryptic)."""

    def __call__(self, parser, namespace, value, option_string=None):
        if value not in STUDIES:
            parser.error(
                f"unknown study {value!r}; known studies: {', '.join(STUDIES)} "
                "(see ferzoo/sweep/studies.py)"
            )
        setattr(namespace, self.dest, value)


def _add_study_args(parser: argparse.ArgumentParser) -> None:
    pos_int, pos_float = _positive(int), _positive(float)
    add = parser.add_argument
    add("--study", required=True, action=_StudyChoice, metavar="NAME",
        help=f"one of: {', '.join(STUDIES)}")  # fmt: skip
    add("--n-trials", type=pos_int, default=None,
        help="finished (complete or pruned) trials the study should hold, over all workers")  # fmt: skip
    add("--timeout", type=pos_float, default=None, help="stop starting trials after N seconds")
    add("--epochs", type=pos_int, default=None, help="epochs per trial (default: the study's)")
    add("--image-size", type=pos_int, default=None, help="input side (default: the study's)")
    add("--batch-size", type=pos_int, default=None, help="fix the batch size (not searched)")
    add("--dataset", default=None, help="another dataset for the study's space")
    add("--pruner", choices=PRUNERS, default="median")
    add("--seed", type=int, default=0,
        help="seeds a fresh study's sampler (plus the worker id) and every trial's training")  # fmt: skip
    add("--monitor", choices=MONITORS, default="auto",
        help="the validation metric that picks each trial's kept epoch (auto: val_loss under "
        "the paper protocol, val_accuracy after a warm-up under the subject protocol); the "
        "study's metric, read at that epoch, stays the objective")  # fmt: skip
    add("--min-epochs", type=_min_epochs, default="auto",
        help="no epoch before it is kept and no early stop happens (auto, or an int >= 0)")  # fmt: skip
    add("--weights", default=None, metavar="PATH",
        help="initial weights of every trial and the retrain (a torchvision .pth, a keras-hub "
        "preset folder, a ferzoo .keras or .weights.h5); pinned in the study")  # fmt: skip
    add("--precision", choices=PRECISIONS, default="auto",
        help="dtype policy of every trial (auto: float32 on a CPU, mixed precision on a GPU; "
        "each trial records what it resolved to)")  # fmt: skip


def _add_run_args(parser: argparse.ArgumentParser) -> None:
    pos_int = _positive(int)
    add = parser.add_argument
    add("--storage", default=None,
        help=f"Optuna storage URL (default {DEFAULT_STORAGE}; postgresql://user:password@host/db "
        "to share across machines)")  # fmt: skip
    add("--study-name", default=None, help="default: the study's name")
    add("--workers", type=pos_int, default=None, help="worker processes on this host")
    add("--gpus", type=_gpu_list, default=None, metavar="0,1,...",
        help="one worker per listed GPU (CUDA_VISIBLE_DEVICES set per worker)")  # fmt: skip
    add("--workers-per-gpu", type=pos_int, default=1, help="workers per listed GPU")
    add("--data-dir", default=None, help="TFDS data directory")
    add("--manual-dir", default=None, help="where the licensed archives are (TFDS manual_dir)")
    add("--results-dir", default=DEFAULT_RESULTS_DIR,
        help="<results-dir>/<study>/ gets best.json, summary.md, plots, artifacts")  # fmt: skip
    add("--heartbeat", type=pos_int, default=30,
        help="seconds between heartbeats; a trial silent for 3 is failed and retried")  # fmt: skip
    add("--max-retry", type=int, default=2, help="retries of a trial whose worker died")
    add("--no-final", action="store_true", help="skip retraining the best and the report")
    add("--final-folds", type=pos_int, default=1, metavar="N",
        help="retrain the best on N folds of the protocol, from the study's fold on, and "
        "report each fold and mean ± std (default 1: the study's fold)")  # fmt: skip
    add("--keep-trial-dirs", action="store_true", help="keep each trial's training files")
    add("--verbose", type=int, choices=(0, 1, 2), default=0, help="Keras fit verbosity")
    add("--worker-id", type=int, default=None, help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    studies = "\n".join(
        f"  {s.name:8s} {s.dataset} ({s.protocol}): {s.description}" for s in STUDIES.values()
    )
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description="Optuna sweep over ferzoo models on one dataset (validation metric only).",
        epilog=f"studies:\n{studies}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_study_args(parser)
    _add_run_args(parser)
    return parser


def settings_from_args(args: argparse.Namespace):
    """The `SweepSettings` of parsed arguments."""
    from ferzoo.sweep.config import SweepSettings

    cfg = STUDIES[args.study]
    if args.dataset:
        cfg = dataclasses.replace(cfg, dataset=args.dataset)
    return SweepSettings(
        study=cfg,
        study_name=args.study_name or cfg.name,
        storage_url=args.storage or DEFAULT_STORAGE,
        n_trials=args.n_trials or cfg.n_trials,
        timeout=args.timeout,
        epochs=args.epochs or cfg.epochs,
        image_size=args.image_size or cfg.image_size,
        batch_size=args.batch_size,
        seed=args.seed,
        pruner=args.pruner,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
        results_dir=args.results_dir,
        heartbeat_interval=args.heartbeat,
        max_retry=args.max_retry,
        worker_id=args.worker_id or 0,
        keep_trial_dirs=args.keep_trial_dirs,
        verbose=args.verbose,
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        monitor=args.monitor,
        min_epochs=args.min_epochs,
        precision=args.precision,
        weights=args.weights,
        final_folds=args.final_folds,
    )


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


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the sweep; the exit code (see the module docstring)."""
    from ferzoo import logs

    args = build_parser().parse_args(argv)
    logs.quiet_backends()
    # Ctrl-C and SIGTERM end the run cleanly (KeyboardInterrupt), even when this process was
    # started in the background of a script, which would otherwise ignore SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    from ferzoo.sweep import session

    try:
        return session.run(args, settings_from_args(args))
    except KeyboardInterrupt:
        print(
            "interrupted: finished trials are saved in the study; the running one is marked "
            "FAIL. Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
