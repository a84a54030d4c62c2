"""Optuna sweep over the ferzoo design space on one dataset.

    python sweeps/run.py --study demo                      # synthetic faces, a few minutes on CPU
    python sweeps/run.py --study kdef --manual-dir ~/fer   # KDEF, once its archive is there
    python sweeps/run.py --study kdef --workers 2          # two processes share the study
    python sweeps/run.py --study kdef --storage postgresql://user:pw@db-host/ferzoo  # many hosts
    ferzoo dashboard --study demo                          # browse the trials

Each trial samples a configuration from `sweeps/space.py`, trains it with `ferzoo.train` on the
training part and scores it on the validation part (`val_accuracy`, reported every epoch so the
pruner can stop poor trials early); the test part is never seen during the search. The study
lives in `--storage` (default `sqlite:///results/optuna.db`) and resumes where it stopped: run
the same command again. A worker killed mid-trial costs that trial only (it is retried with the
same parameters). After the study, the best configuration is retrained once and evaluated on the
test part, and `results/<study>/` gets best.json, summary.md and the plots (skip with
`--no-final`).

Exit codes: 0 done; 1 the sweep failed (no trial completed, data missing); 2 bad arguments,
unknown study or unreachable storage; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from studies import STUDIES  # noqa: E402


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


class _StudyChoice(argparse.Action):
    """`--study` with a message listing the known studies (argparse's own is cryptic)."""

    def __call__(self, parser, namespace, value, option_string=None):
        if value not in STUDIES:
            parser.error(
                f"unknown study {value!r}; known studies: {', '.join(STUDIES)} "
                "(see sweeps/studies.py)"
            )
        setattr(namespace, self.dest, value)


def build_parser() -> argparse.ArgumentParser:
    studies = "\n".join(
        f"  {s.name:8s} {s.dataset} ({s.protocol}): {s.description}" for s in STUDIES.values()
    )
    parser = argparse.ArgumentParser(
        prog="sweeps/run.py",
        description="Optuna sweep over ferzoo models on one dataset (validation metric only).",
        epilog=f"studies:\n{studies}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--study",
        required=True,
        action=_StudyChoice,
        metavar="NAME",
        help=f"one of: {', '.join(STUDIES)}",
    )
    parser.add_argument(
        "--n-trials",
        type=_positive_int,
        default=None,
        help="finished (complete or pruned) trials the study should hold, over "
        "all workers (default: the study's)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=None,
        help="stop starting trials after this many seconds",
    )
    parser.add_argument(
        "--epochs", type=_positive_int, default=None, help="epochs per trial (default: the study's)"
    )
    parser.add_argument(
        "--image-size",
        type=_positive_int,
        default=None,
        help="input side in pixels (default: the study's)",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="fix the batch size instead of searching it",
    )
    parser.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL (default sqlite:///results/optuna.db; "
        "postgresql://user:password@host/db to share across machines)",
    )
    parser.add_argument("--study-name", default=None, help="default: the study's name")
    parser.add_argument(
        "--dataset",
        default=None,
        help="another TFDS dataset for the study's space (e.g. synthetic_faces/tiny)",
    )
    parser.add_argument("--pruner", choices=("median", "hyperband", "none"), default="median")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the sampler (plus the worker id) and every trial's training",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="worker processes on this host, sharing the study",
    )
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument(
        "--manual-dir",
        default=None,
        help="where the licensed dataset archives are (TFDS manual_dir)",
    )
    parser.add_argument(
        "--results-dir",
        default="results",
        help="results/<study>/ gets best.json, summary.md, plots, artifacts",
    )
    parser.add_argument(
        "--heartbeat",
        type=_positive_int,
        default=30,
        help="seconds between a running trial's heartbeats; a trial silent for "
        "3 heartbeats is failed and retried",
    )
    parser.add_argument(
        "--max-retry", type=int, default=2, help="retries of a trial whose worker died"
    )
    parser.add_argument(
        "--no-final",
        action="store_true",
        help="skip retraining the best configuration and writing results/<study>/",
    )
    parser.add_argument(
        "--keep-trial-dirs",
        action="store_true",
        help="keep each trial's training files under results/<study>/trials/",
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=0,
        help="Keras fit verbosity inside trials",
    )
    parser.add_argument("--worker-id", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def settings_from_args(args: argparse.Namespace):
    """The `SweepSettings` of parsed arguments."""
    import dataclasses

    from ferzoo.sweep import DEFAULT_STORAGE, SweepSettings

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
    )


def _worker_argv(args: argparse.Namespace, worker_id: int) -> list[str]:
    argv = [sys.executable, os.path.abspath(__file__), "--study", args.study]
    for flag, value in (
        ("--n-trials", args.n_trials),
        ("--timeout", args.timeout),
        ("--epochs", args.epochs),
        ("--image-size", args.image_size),
        ("--batch-size", args.batch_size),
        ("--storage", args.storage),
        ("--study-name", args.study_name),
        ("--dataset", args.dataset),
        ("--pruner", args.pruner),
        ("--seed", args.seed),
        ("--data-dir", args.data_dir),
        ("--manual-dir", args.manual_dir),
        ("--results-dir", args.results_dir),
        ("--heartbeat", args.heartbeat),
        ("--max-retry", args.max_retry),
        ("--verbose", args.verbose),
    ):
        if value is not None:
            argv += [flag, str(value)]
    if args.keep_trial_dirs:
        argv.append("--keep-trial-dirs")
    return [*argv, "--no-final", "--worker-id", str(worker_id)]


def _prepare_data(settings) -> None:
    """Prepare the dataset once, before any worker starts (TFDS builds are not concurrent)."""
    from ferzoo import data

    cfg = settings.study
    data.load(
        cfg.dataset,
        protocol=cfg.protocol,
        fold=cfg.fold,
        image_size=settings.image_size,
        batch_size=settings.batch_size or 16,
        seed=settings.seed,
        data_dir=settings.data_dir,
        manual_dir=settings.manual_dir,
    )


def _run_workers(args: argparse.Namespace, n: int) -> int:
    """Start `n` worker processes on the study and wait for them; forward Ctrl-C."""
    procs = [subprocess.Popen(_worker_argv(args, i)) for i in range(n)]
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the workers too; give them a moment to close their
        # trials, then interrupt those that did not get it (e.g. `kill -INT <this process>`).
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
        raise
    bad = [(i, c) for i, c in enumerate(codes) if c != 0]
    for i, code in bad:
        print(f"error: worker {i} exited with code {code}", file=sys.stderr)
    return 1 if bad else 0


def _sigterm_to_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import optuna

    from ferzoo import sweep

    settings = settings_from_args(args)
    optuna.logging.set_verbosity(optuna.logging.INFO)
    is_worker = args.worker_id is not None
    # Ctrl-C and SIGTERM end the run cleanly (KeyboardInterrupt), even when this process was
    # started in the background of a script, which would otherwise ignore SIGINT.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _sigterm_to_interrupt)

    def fail(message: str, code: int) -> int:
        print(f"error: {message}", file=sys.stderr)
        return code

    try:
        storage = sweep.open_storage(
            settings.storage_url,
            heartbeat_interval=settings.heartbeat_interval,
            max_retry=settings.max_retry,
        )
    except sweep.StorageError as err:
        return fail(str(err), 2)
    try:
        if not is_worker:
            from ferzoo.data import DatasetNotReadyError

            try:
                _prepare_data(settings)
            except DatasetNotReadyError as err:  # carries the builder's download instructions
                return fail(str(err), 1)
            except ValueError as err:  # unknown dataset, protocol not possible for it
                return fail(str(err).splitlines()[0], 2)
        study = sweep.create_or_load_study(settings, storage)
        start = time.monotonic()
        if args.workers > 1:
            code = _run_workers(args, args.workers)
            if code:
                return code
        else:
            import space

            objective = sweep.Objective(settings, space.suggest)
            ran = sweep.run_worker(study, objective, settings)
            print(
                f"[worker {settings.worker_id}] ran {ran} trial(s) in "
                f"{time.monotonic() - start:.0f} s",
                file=sys.stderr,
            )
        counts = sweep.count_trials(study)
        print(
            f"study {settings.study_name!r}: "
            + ", ".join(f"{n} {s.name.lower()}" for s, n in counts.items() if n),
            file=sys.stderr,
        )
        if args.no_final:
            return 0
        import space

        best = sweep.finalize(settings, storage, space.to_build)
        test = best.get("test") or {}
        print(
            f"best: trial {best['trial']} {settings.study.metric}={best['value']:.4f}; "
            f"retrained test accuracy={test.get('accuracy', float('nan')):.4f}; "
            f"see {os.path.join(settings.study_dir, 'summary.md')}"
        )
        return 0
    except (sweep.StorageError, sweep.StudyMismatchError) as err:
        return fail(str(err), 2)
    except sweep.SweepError as err:
        return fail(str(err), 1)
    except KeyboardInterrupt:
        print(
            "interrupted: finished trials are saved in the study; the running one is marked "
            "FAIL. Run the same command again to resume.",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
