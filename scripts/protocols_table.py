"""results/protocols.md: the papers' random split beside subject-independent folds, per model.

    python scripts/protocols_table.py commands                  # the runs, one command a line
    python scripts/protocols_table.py commands | sh             # run them (CPU: long)
    python scripts/protocols_table.py table --output results/protocols.md

The runs go under `--runs` (default runs/protocols, git-ignored): `<model>/paper/` holds one
`ferzoo train` run (metrics.json, history.csv), `<model>/subject/` a `ferzoo cv` run (cv.json,
fold-<k>/history.csv). The table quotes each command beside its figures.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import platform
import sys

MODELS = ("resnet18", "msc_wca_resnet18", "wamf_resnet18")
DEFAULTS = dict(dataset="synthetic_faces", image_size=48, epochs=12, num_folds=4, folds="0 1 2 3")


def commands(runs: str, cfg: dict) -> dict[str, dict[str, str]]:
    """`{model: {"paper": command, "subject": command}}` with the default recipe."""
    common = f"--dataset {cfg['dataset']} --image-size {cfg['image_size']} --epochs {cfg['epochs']}"
    out = {}
    for model in MODELS:
        out[model] = {
            "paper": f"ferzoo train --model {model} {common} --protocol paper "
            f"--output {runs}/{model}/paper --verbose 0",
            "subject": f"ferzoo cv --model {model} {common} --protocol subject "
            f"--num-folds {cfg['num_folds']} --folds {cfg['folds']} "
            f"--output {runs}/{model}/subject --verbose 0",
        }
    return out


def _read_json(path: str) -> dict | None:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _train_seconds(folder: str) -> float:
    """The sum of a run's per-epoch times (history.csv), 0 when it has none."""
    path = os.path.join(folder, "history.csv")
    if not os.path.exists(path):
        return 0.0
    with open(path) as f:
        return sum(float(row.get("epoch_time") or 0) for row in csv.DictReader(f))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def rows(runs: str) -> list[dict]:
    """One row per model with its paper-split and subject-fold figures (None where not run)."""
    out = []
    for model in MODELS:
        paper = _read_json(os.path.join(runs, model, "paper", "metrics.json"))
        cv = _read_json(os.path.join(runs, model, "subject", "cv.json"))
        seconds = _train_seconds(os.path.join(runs, model, "paper"))
        if cv:
            seconds += sum(
                _train_seconds(os.path.join(runs, model, "subject", f"fold-{r['fold']}"))
                for r in cv["folds"]
            )
        out.append({"model": model, "paper": paper, "cv": cv, "seconds": seconds})
    return out


def _paper_cells(m: dict | None) -> list[str]:
    if not m:
        return ["not run"] * 4
    chance = m.get("chance", {})
    return [_pct(m["accuracy"]), _pct(m["macro_f1"]), _pct(chance.get("majority", 0)),
            str(m["best_epoch"] + 1)]  # fmt: skip


def _cv_cells(cv: dict | None) -> list[str]:
    if not cv:
        return ["not run"] * 4
    acc, f1 = cv["accuracy"], cv["macro_f1"]
    majority = [r.get("chance", {}).get("majority", 0) for r in cv["folds"]]
    per_fold = " / ".join(_pct(r["accuracy"]) for r in cv["folds"])
    return [f"{_pct(acc['mean'])} ± {_pct(acc['std'])}", f"{_pct(f1['mean'])} ± {_pct(f1['std'])}",
            _pct(max(majority)), per_fold]  # fmt: skip


def markdown(table: list[dict], cmds: dict, cfg: dict, machine: str) -> str:
    """The page: the table, then each model's two commands."""
    today = datetime.date.today().isoformat()
    lines = [
        f"# Paper split vs subject-independent folds on {cfg['dataset']}",
        "",
        f"Full-size models at {cfg['image_size']} px, {cfg['epochs']} epochs, ferzoo's default "
        "recipe (Adam 1e-3, batch 16, augmentation 0.5 on the training part; the kept epoch: "
        "lowest validation loss under the paper split, highest validation accuracy after a "
        "warm-up under the subject folds). Accuracy and macro F1 in %, on the test part. "
        f"The paper split is the papers' random 8:1:1 image split (the same people on both "
        f"sides); the subject folds put each person in one part only ({cfg['num_folds']} "
        f"folds, folds {cfg['folds'].replace(' ', ', ')}). Chance: always guessing the training "
        "part's most frequent class (the highest over the folds); uniform chance is 14.3.",
        "",
        "| model | paper: accuracy | paper: macro F1 | paper: chance | paper: kept epoch "
        "| subject: accuracy | subject: macro F1 | subject: chance | subject: per fold "
        "| gap (points) | CPU time |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in table:
        gap = ""
        if r["paper"] and r["cv"]:
            gap = f"{100 * (r['paper']['accuracy'] - r['cv']['accuracy']['mean']):+.1f}"
        cells = [r["model"], *_paper_cells(r["paper"]), *_cv_cells(r["cv"]), gap,
                 f"{r['seconds'] / 60:.0f} min"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Measured on {machine}, {today}, TensorFlow backend; CPU time is the sum of the "
        "runs' epoch times. Made with the commands below, then "
        "`python scripts/protocols_table.py table --output results/protocols.md`.",
        "",
    ]
    for model, pair in cmds.items():
        lines += [f"`{model}`:", "", "```", pair["paper"], pair["subject"], "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("commands", "table"))
    parser.add_argument("--runs", default=os.path.join("runs", "protocols"))
    parser.add_argument("--output", default=None, help="table: the markdown file (default stdout)")
    parser.add_argument("--machine", default=f"{os.cpu_count()}-core CPU ({platform.machine()})")
    for key, value in DEFAULTS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", default=value, type=type(value))
    args = parser.parse_args(argv)
    cfg = {k: getattr(args, k) for k in DEFAULTS}
    cmds = commands(args.runs, cfg)
    if args.action == "commands":
        for pair in cmds.values():
            print(pair["paper"])
            print(pair["subject"])
        return 0
    text = markdown(rows(args.runs), cmds, cfg, args.machine)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
