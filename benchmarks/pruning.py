"""Benchmark (not a test): the demo sweep with and without pruning, epochs spent and best value.

    python benchmarks/pruning.py                       # demo study, 8 trials x 4 epochs per arm
    python benchmarks/pruning.py --n-trials 12 --epochs 5 --pruners median hyperband none

Each arm runs `sweeps/run.py --study demo` into its own study of one SQLite file, with the same
sampler seed. The demo's trials are all TPE start-up trials (random, seeded), so every arm
samples the same configurations in the same order and the arms differ only in where the pruner
stops trials. Reported per arm: trials complete / pruned, epochs trained (the sum of the
epochs each trial reported), wall time, the best validation accuracy and its trial.

Writes `results/benchmarks/pruning.md` and `pruning.json` (and prints the table). Wall times
depend on the machine and its load: quote the machine and date with them.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_module():
    spec = importlib.util.spec_from_file_location("sweeps_run", ROOT / "sweeps" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_arm(pruner: str, args: argparse.Namespace, storage: str) -> dict:
    """One sweep with `pruner`; its figures."""
    import optuna
    from optuna.trial import TrialState

    from ferzoo import sweep

    name = f"pruning-{pruner}"
    argv = [
        "--study", "demo", "--study-name", name, "--storage", storage, "--pruner", pruner,
        "--n-trials", str(args.n_trials), "--epochs", str(args.epochs),
        "--image-size", str(args.image_size), "--seed", str(args.seed), "--no-final",
        "--results-dir", args.scratch,
    ]  # fmt: skip
    if args.dataset:
        argv += ["--dataset", args.dataset]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    start = time.monotonic()
    code = _run_module().main(argv)
    wall = time.monotonic() - start
    if code != 0:
        raise SystemExit(f"the {pruner} arm failed with exit code {code}")
    study = optuna.load_study(
        study_name=name, storage=sweep.open_storage(storage, heartbeat_interval=None)
    )
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = max(complete, key=lambda t: t.value)
    return {
        "pruner": pruner,
        "trials_complete": len(complete),
        "trials_pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "epochs_trained": sum(len(t.intermediate_values) for t in trials),
        "epochs_budget": args.n_trials * args.epochs,
        "best_value": best.value,
        "best_trial": best.number,
        # The best validation accuracy seen at any epoch (pruned trials included).
        "best_reported": max(v for t in trials for v in t.intermediate_values.values()),
        "wall_s": round(wall, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pruners", nargs="+", default=["median", "none"],
                        choices=("median", "hyperband", "none"))  # fmt: skip
    parser.add_argument("--dataset", default=None, help="default: the demo's synthetic_faces")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output", default=str(ROOT / "results" / "benchmarks"))
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="ferzoo-pruning-") as scratch:
        args.scratch = scratch
        storage = f"sqlite:///{scratch}/pruning.db"
        rows = [run_arm(p, args, storage) for p in args.pruners]

    import keras

    meta = {
        "command": "python benchmarks/pruning.py " + " ".join(argv or sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs ({platform.processor() or '?'})",
        "backend": keras.backend.backend(),
        "n_trials": args.n_trials,
        "epochs": args.epochs,
        "image_size": args.image_size,
    }
    header = "| pruner | complete | pruned | epochs trained / budget | best val_accuracy (trial) | best at any epoch | wall s |"
    lines = [
        "# Pruning on the demo study",
        "",
        f"`{meta['command']}` on {meta['machine']}, Keras backend {meta['backend']}, "
        f"{meta['date']}; {args.n_trials} trials x {args.epochs} epochs at {args.image_size} px.",
        "",
        header,
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['pruner']} | {r['trials_complete']} | {r['trials_pruned']} | "
            f"{r['epochs_trained']} / {r['epochs_budget']} | {r['best_value']:.4f} "
            f"({r['best_trial']}) | {r['best_reported']:.4f} | {r['wall_s']} |"
        )
    text = "\n".join(lines) + "\n"
    os.makedirs(args.output, exist_ok=True)
    Path(args.output, "pruning.md").write_text(text, encoding="utf-8")
    Path(args.output, "pruning.json").write_text(
        json.dumps({"meta": meta, "arms": rows}, indent=2) + "\n", encoding="utf-8"
    )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
