"""Where a sweep trial's time goes outside its training steps, and a whole demo sweep's wall time.

    # the trials of one architecture (issue 30): the first, then later ones that change only the
    # learning rate and the augmentation strength, each on --folds folds
    KERAS_BACKEND=tensorflow python benchmarks/trial_overhead.py --output results/trial_overhead.md
    KERAS_BACKEND=tensorflow python benchmarks/trial_overhead.py --no-reuse --append \\
        --output results/trial_overhead.md
    # the same with another checkout's ferzoo (e.g. before a change):
    git worktree add /tmp/before 2c4ad66
    KERAS_BACKEND=jax python benchmarks/trial_overhead.py --tree /tmp/before --label before \\
        --append --output results/trial_overhead.md
    # a whole sweep, timed, with its best trial and retrained test accuracy:
    python benchmarks/trial_overhead.py --sweep --append --output results/trial_overhead.md

The trials run in this process through ferzoo's own `Objective` on `--dataset` (the demo study's
synthetic_faces, subject protocol) with `--keep-trial-dirs`, so each fold's `timings.json`
gives its split; a trial's "outside" is its wall time less its training steps and validation
(data, build, compilation, the run's files, scoring, artifacts, bookkeeping). A benchmark,
not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The trials of one architecture: (learning rate, augmentation strength) of each.
PLAN = [(1e-3, 0.2), (2e-3, 0.2), (1e-3, 0.4), (3e-3, 0.3)]


def vector_extensions() -> str:
    """The processor's SIMD extensions that matter to the frameworks' CPU kernels."""
    try:
        flags = next(line.split(":", 1)[1].split() for line in open("/proc/cpuinfo")
                     if line.startswith("flags"))  # fmt: skip
    except (OSError, StopIteration):
        return "?"
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
    return ", ".join(f for f in wanted if f in flags) or "none of AVX2/AVX-512"


def _settings(args, folder: str):
    from ferzoo.sweep import SweepSettings
    from ferzoo.sweep.studies import STUDIES

    given = dict(n_trials=args.trials,
                 epochs=args.epochs, image_size=args.image_size, results_dir=folder,
                 storage_url=f"sqlite:///{folder}/optuna.db", heartbeat_interval=0,
                 baselines=False, cv_folds=args.folds, keep_trial_dirs=True,
                 data_dir=args.data_dir, batch_size=16)  # fmt: skip
    if args.no_reuse:
        given["reuse"] = False
    if args.data_on_device:
        given["data_on_device"] = args.data_on_device
    return SweepSettings.of(STUDIES["demo"], "bench", **given)


def _suggest(trial, cfg, fixed):
    rate = trial.suggest_categorical("learning_rate", sorted({p[0] for p in PLAN}))
    strength = trial.suggest_categorical("augment", sorted({p[1] for p in PLAN}))
    return "resnet18", {}, {"learning_rate": rate, "batch_size": 16, "augment": strength}


def _fold_splits(settings, number: int, folds: int) -> list[dict]:
    base = os.path.join(settings.study_dir, "trials", f"trial-{number}")
    names = [base] if folds == 1 else [os.path.join(base, f"fold-{k}") for k in range(folds)]
    return [json.load(open(os.path.join(n, "timings.json"))) for n in names]


def run_trials(args) -> list[dict]:
    """The plan's trials in one worker; per trial its split and its folds' splits."""
    import optuna

    from ferzoo.sweep.trial import Objective

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ferzoo-trial-overhead-") as folder:
        settings = _settings(args, folder)
        objective = Objective(settings, _suggest)
        study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
        for rate, strength in PLAN[: args.trials]:
            study.enqueue_trial({"learning_rate": rate, "augment": strength})
        study.optimize(objective, n_trials=args.trials)
        for t in study.trials:
            split = t.user_attrs["time"]
            folds = _fold_splits(settings, t.number, args.folds)
            rows.append({"trial": t.number, "value": t.value, "split": split, "folds": folds})
    return rows


def _outside(split: dict) -> float:
    return split["wall"] - split["steps"] - split["validation"]


def trials_markdown(args, rows: list[dict], label: str) -> str:
    import keras

    lines = [
        f"### {label}: {keras.backend.backend()}, resnet18, {args.folds} folds of "
        f"{args.epochs} epochs at {args.image_size} px",
        "",
        "| trial | value | wall | steps | validation | outside | of it compile | folds' outside "
        "| folds' compile |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        s, folds = r["split"], r["folds"]
        outside = " / ".join(f"{_outside(f):.2f}" for f in folds)
        compile_ = " / ".join(f"{f['compile']:.2f}" for f in folds)
        lines.append(f"| {r['trial']} | {r['value']:.4f} | {s['wall']:.1f} | {s['steps']:.1f} | "
                     f"{s['validation']:.1f} | {_outside(s):.1f} | {s['compile']:.1f} | "
                     f"{outside} | {compile_} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def run_sweep(args, label: str) -> str:
    """A whole demo sweep as a user runs it, timed; its best trial and retrained test figures."""
    with tempfile.TemporaryDirectory(prefix="ferzoo-sweep-") as folder:
        command = [sys.executable, "sweeps/run.py", "--study", "demo", "--n-trials",
                   str(args.sweep_trials), "--epochs", "3", "--image-size", str(args.image_size),
                   "--cv-folds", "3", "--final-folds", "3", "--results-dir",
                   f"{folder}/sweeps", "--storage", f"sqlite:///{folder}/optuna.db"]  # fmt: skip
        command += ["--data-dir", args.data_dir] if args.data_dir else []
        command += ["--no-reuse"] if args.no_reuse else []
        if args.data_on_device:
            command += ["--data-on-device", args.data_on_device]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=args.tree, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        best = json.load(open(os.path.join(folder, "sweeps", "demo", "best.json")))
    cv = best["test"]["cv"]
    shown = " ".join(command[1:]).replace(folder, "TMP")
    return (f"| {label} | {wall:.0f} | {best['trial']} | `{json.dumps(best['params'])}` | "
            f"{cv['accuracy']['mean']:.4f} ± {cv['accuracy']['std']:.4f} | `{shown}` |\n")  # fmt: skip


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default=ROOT, help="the checkout whose ferzoo runs")
    parser.add_argument("--label", default=None, help="the rows' name (default: the tree's)")
    parser.add_argument("--trials", type=int, default=3, help=f"at most {len(PLAN)}")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-reuse", action="store_true", help="the sweep's --no-reuse")
    parser.add_argument("--data-on-device", default=None, choices=("auto", "on", "off"))
    parser.add_argument("--sweep", action="store_true", help="time a whole demo sweep instead")
    parser.add_argument("--sweep-trials", type=int, default=4)
    parser.add_argument("--output", default=None, help="write the markdown page here")
    parser.add_argument("--append", action="store_true", help="add to --output, do not replace")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.tree))  # before ferzoo is first imported
    commit = subprocess.run(["git", "-C", args.tree, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    label = args.label or f"{commit}{' --no-reuse' if args.no_reuse else ''}"
    label += f", --data-on-device {args.data_on_device}" if args.data_on_device else ""
    from ferzoo.runtime import logs

    logs.quiet_backends()
    if args.sweep:
        page = run_sweep(args, label)
    else:
        page = trials_markdown(args, run_trials(args), label)
    sys.path.insert(0, ROOT)
    from benchmarks.data_pipeline import cpu_model, write_page

    page += f"\n{cpu_model()} ({vector_extensions()}), {time.strftime('%Y-%m-%d')}.\n"
    print(page)
    write_page(args, "Where a sweep trial's time goes (issue 30)", page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
