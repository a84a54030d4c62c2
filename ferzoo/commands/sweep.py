"""`ferzoo sweep --study NAME` (= `python sweeps/run.py`): the sweep's command line.

    python sweeps/run.py --study demo                      # synthetic faces, a few minutes on CPU
    python sweeps/run.py --study kdef --manual-dir ~/fer   # KDEF, once its archive is there
    python sweeps/run.py --study kdef --workers 2          # two processes share the study
    python sweeps/run.py --study kdef --gpus 0,1,2,3       # one worker per GPU
    python sweeps/run.py --study kdef --storage postgresql://user:pw@db-host/ferzoo  # many hosts
    python sweeps/run.py --study kdef --objectives val_accuracy,latency_ms --max-latency-ms 5
    ferzoo dashboard --study demo                          # browse the trials

Each trial samples a configuration from `ferzoo.sweep.space`, trains it with `ferzoo.train` on
the training part and scores it on the validation part (reported every epoch so the pruner can
stop poor trials early); the test part is never seen during the search. The study lives in
`--storage` (default `sqlite:///runs/optuna.db`) and resumes where it stopped: run the same
command again. A worker killed mid-trial costs that trial only. After the study, the best
configuration is retrained and evaluated on the test part (`--final-folds N`: on N folds of the
protocol, with per-fold accuracy, macro F1, chance level, subjects per part and mean ± std), the
papers' models that the space can draw are retrained on the same folds beside it (summary.md
says by how much the best beat them; skip with `--no-baselines`), and
`runs/sweeps/<study>/` gets best.json, summary.md and the plots (skip with `--no-final`); a study
of another storage gets `runs/sweeps/<study>-<8 hex digits naming the storage>/`.
`--monitor` and `--min-epochs` set which epoch of every run is kept (`ferzoo.train`'s rule; the
study's metric, read at that epoch, stays the objective).

Exit codes: 0 done; 1 the sweep failed (no trial completed, data missing); 2 bad arguments,
unknown study or unreachable storage; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from ferzoo.sweep.config import (
    DEFAULT_RESULTS_DIR,
    DEFAULT_STORAGE,
    PRUNERS,
    ObjectiveSettings,
    RunSettings,
    SweepSettings,
    TrainingSettings,
    WorkerSettings,
)
from ferzoo.sweep.costs import parse as parse_objectives
from ferzoo.sweep.studies import STUDIES
from ferzoo.training import options, selection

SCRIPT = "ferzoo sweep"
DESCRIPTION = "Optuna sweep over ferzoo models on one dataset (validation metric only)."


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


def _count(text: str) -> int:
    """An int >= 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}")
    return value


def _objectives(text: str) -> tuple[str, tuple[str, ...]]:
    """`--objectives`: the validation metric and the costs (argparse type)."""
    try:
        metric, costs = parse_objectives(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if metric not in selection.MONITORS:
        raise argparse.ArgumentTypeError(
            f"the first objective must be one of {', '.join(selection.MONITORS)}, got {metric!r}"
        )
    return metric, costs


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


def _add_training_args(parser: argparse.ArgumentParser) -> None:
    """The training options every run of the sweep is given (`ferzoo.training.options`: those
    declared with sweep "pass" or "pin"; a pinned one is kept with the study)."""
    group = parser.add_argument_group(
        "options of every run", "given to every trial and the final retrain; those marked "
        "pinned are kept with the study, which refuses to resume with other values",
    )  # fmt: skip
    for option in options.OPTIONS:
        if option.sweep and option.on_command_line:
            option.add_to(group, checked=True)


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
    add("--trials-per-device", "--workers-per-gpu", dest="trials_per_device", type=pos_int,
        default=1, metavar="N",
        help="trials at once on each listed GPU, a worker process each: one trial's host work "
        "(data, scoring, files) overlaps another's steps; the data on the device is not shared "
        "between processes, so each gets 1/N of its share (default 1)")  # fmt: skip
    add("--results-dir", default=DEFAULT_RESULTS_DIR,
        help="<results-dir>/<study>/ gets best.json, summary.md, plots, artifacts "
        "(<study>-<digits>/ for a storage other than <results-dir>/../optuna.db)")  # fmt: skip
    add("--heartbeat", type=pos_int, default=30,
        help="seconds between heartbeats; a trial silent for 3 is failed and retried")  # fmt: skip
    add("--max-retry", type=_count, default=2, help="retries of a trial whose worker died")
    add("--no-final", action="store_true", help="skip retraining the best and the report")
    add("--final-folds", type=pos_int, default=1, metavar="N",
        help="retrain the best on N folds of the protocol, from the study's fold on, and "
        "report each fold and mean ± std (default 1: the study's fold)")  # fmt: skip
    add("--no-baselines", action="store_true",
        help="skip retraining the papers' models the space can draw (resnet18, "
        "msc_wca_resnet18, wamf_resnet18) on the final folds beside the best")  # fmt: skip
    add("--cv-folds", type=pos_int, default=None, metavar="K",
        help="score each trial on K folds of the protocol (the mean; each fold's value is "
        "recorded): K times the training per trial (default: the study's, 3 for jaffe, "
        "ck_plus and kdef, else 1)")  # fmt: skip
    add("--objectives", type=_objectives, default=None, metavar="METRIC,COST,...",
        help="a multi-objective study: the validation metric, then any of macs, params, "
        "latency_ms (batch-1 latency in ONNX Runtime, measured on the worker), minimised; "
        "pinned with the study, e.g. val_accuracy,latency_ms")  # fmt: skip
    add("--max-latency-ms", type=_positive(float), default=None, metavar="MS",
        help="retrain the best configuration whose batch-1 latency is at most MS (each trial's "
        "latency is then measured)")  # fmt: skip
    add("--max-macs", type=_positive(int), default=None, metavar="N",
        help="retrain the best configuration of at most N multiply-accumulates")  # fmt: skip
    add("--keep-trial-dirs", action="store_true", help="keep each trial's training files")
    add("--no-reuse", action="store_true",
        help="build and compile every run afresh, and let the final stage train everything "
        "again (default: one compiled model per architecture and worker, reset for each run; "
        "the final stage writes the runs complete trials kept)")  # fmt: skip
    add("--worker-id", type=_count, default=None, metavar="K",
        help="run as worker K of a study that other processes or hosts share (e.g. a SLURM "
        "array task): the sampler is seeded with --seed plus K, and the data is expected "
        "prepared (default: this process is the only one it starts)")  # fmt: skip
    add("--verbose", type=int, choices=(0, 1, 2), default=0, help="Keras fit verbosity")
    add("--progress", action="store_true", help="one line per epoch of every trial (its fold, "
        "loss, the study's metric, seconds)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=SCRIPT,
        description=DESCRIPTION,
        epilog=studies_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option of the sweep command, on `parser` (shared with `ferzoo sweep`)."""
    _add_study_args(parser)
    _add_run_args(parser)
    _add_training_args(parser)


def studies_epilog() -> str:
    """The `--help` epilog: one line per study."""
    studies = "\n".join(
        f"  {s.name:8s} {s.dataset} ({s.protocol}): {s.description}" for s in STUDIES.values()
    )
    return f"studies:\n{studies}"


def worker_plan(args: argparse.Namespace) -> list[str | None]:
    """The CUDA_VISIBLE_DEVICES of each worker to start (None: inherit), one entry a worker.

    `--gpus 0,1` starts one worker per GPU (times `--trials-per-device`); `--workers N` with
    `--gpus` deals N workers round-robin over the GPUs; without `--gpus`, N workers share the
    host's devices.
    """
    if not args.gpus:
        return [None] * (args.workers or 1)
    count = args.workers or len(args.gpus) * args.trials_per_device
    return [args.gpus[i % len(args.gpus)] for i in range(count)]


def settings_from_args(args: argparse.Namespace) -> SweepSettings:
    """The `SweepSettings` of parsed arguments."""
    from ferzoo.training import step_loop  # no Keras: refuse N > 1 on torch before any work

    step_loop.check(args.steps_per_execution, os.environ.get("KERAS_BACKEND", ""))
    cfg = STUDIES[args.study]
    if args.dataset:
        cfg = dataclasses.replace(cfg, dataset=args.dataset)
    costs: tuple[str, ...] = ()
    if args.objectives:
        metric, costs = args.objectives
        cfg = dataclasses.replace(cfg, metric=metric)
    run = RunSettings(
        study_name=args.study_name or cfg.name,
        storage_url=args.storage or DEFAULT_STORAGE,
        n_trials=args.n_trials or cfg.n_trials,
        timeout=args.timeout,
        pruner=args.pruner,
        results_dir=args.results_dir,
        heartbeat_interval=args.heartbeat,
        max_retry=args.max_retry,
        keep_trial_dirs=args.keep_trial_dirs,
        reuse=not args.no_reuse,
        verbose=args.verbose,
        progress=args.progress,
        final=not args.no_final,
        final_folds=args.final_folds,
        baselines=not args.no_baselines,
    )
    training = TrainingSettings(
        epochs=args.epochs or cfg.epochs,
        image_size=args.image_size or cfg.image_size,
        batch_size=args.batch_size,
        seed=args.seed,
        cv_folds=args.cv_folds,
        options={
            o.name: o.from_args(args) for o in options.OPTIONS if o.sweep and hasattr(args, o.name)
        },  # fmt: skip
    )
    workers = WorkerSettings(
        worker_id=args.worker_id or 0,
        launched=args.worker_id is not None,
        devices=tuple(worker_plan(args)),
        cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
    )
    costs = ObjectiveSettings(costs, args.max_latency_ms, args.max_macs)
    return SweepSettings(cfg, run, training, costs, workers)


def run(args: argparse.Namespace) -> int:
    """Run the sweep of parsed arguments (`ferzoo sweep`, `python sweeps/run.py`); the exit code
    (see the module docstring)."""
    try:
        settings = settings_from_args(args)
    except ValueError as err:  # a bad combination of options: one line, exit 2
        print(f"ferzoo: error: {err}", file=sys.stderr)
        return 2
    from ferzoo.sweep import session

    return session.main(settings)


def main(argv: list[str] | None = None) -> int:
    """`ferzoo sweep`'s options in `argv`: parse them and run the sweep."""
    return run(build_parser().parse_args(argv))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sweep",
        help="Optuna sweep over models on one dataset (= python sweeps/run.py)",
        description=DESCRIPTION,
        epilog=studies_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(p)
    p.set_defaults(func=run)
