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
        fold_sizes = []
        for r in (cv or {}).get("folds", []):
            fold = _read_json(os.path.join(runs, model, "subject", f"fold-{r['fold']}",
                                           "metrics.json"))  # fmt: skip
            fold_sizes.append(fold["num_examples"] if fold else 0)
        out.append({"model": model, "paper": paper, "cv": cv, "seconds": seconds,
                    "fold_sizes": fold_sizes})  # fmt: skip
    return out


def _subjects(subjects: dict) -> str:
    return "/".join(str(subjects.get(p, 0)) for p in ("train", "validation", "test"))


def _paper_cells(m: dict | None) -> list[str]:
    if not m:
        return ["not run"] * 3
    return [_pct(m["accuracy"]), _pct(m["macro_f1"]), _subjects(m.get("subjects", {}))]


def _cv_cells(cv: dict | None) -> list[str]:
    if not cv:
        return ["not run"] * 4
    acc, f1 = cv["accuracy"], cv["macro_f1"]
    per_fold = " / ".join(_pct(r["accuracy"]) for r in cv["folds"])
    subjects = sorted({_subjects(r.get("subjects", {})) for r in cv["folds"]})
    return [f"{_pct(acc['mean'])} ± {_pct(acc['std'])}", f"{_pct(f1['mean'])} ± {_pct(f1['std'])}",
            ", ".join(subjects), per_fold]  # fmt: skip


def _chance(r: dict) -> str:
    """The highest majority-class chance of the model's runs (the uniform one is 1 / classes)."""
    runs = [r["paper"]] if r["paper"] else []
    runs += r["cv"]["folds"] if r["cv"] else []
    levels = [run.get("chance", {}).get("majority", 0.0) for run in runs]
    return _pct(max(levels)) if levels else ""


def markdown(table: list[dict], cmds: dict, cfg: dict, machine: str) -> str:
    """The page: the table, then each model's two commands."""
    today = datetime.date.today().isoformat()
    lines = [
        f"# Paper split vs subject-independent folds on {cfg['dataset']}",
        "",
        f"Full-size models at {cfg['image_size']} px, {cfg['epochs']} epochs, ferzoo's default "
        "recipe (Adam 1e-3, batch 16, augmentation 0.5 on the training part; kept epoch: the "
        "lowest validation loss on the paper split, the highest validation accuracy after a "
        "warm-up on the subject folds). Test accuracy and macro F1 in %. The paper split is the "
        "papers' random 8:1:1 split of the images, so the same people are in every part; the "
        f"subject folds ({cfg['num_folds']} folds, folds {cfg['folds'].replace(' ', ', ')}) put "
        "each person in one part only. Subjects are counted per part (train/validation/test). "
        "Chance is the test accuracy of always answering the training part's most frequent "
        "class (the highest over the runs; 1/7 = 14.3 answering at random).",
        "",
        "| model | paper split: accuracy | macro F1 | subjects | subject folds: accuracy "
        "(mean ± std) | macro F1 | subjects | per fold | gap (points) | chance | CPU time |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in table:
        gap = ""
        if r["paper"] and r["cv"]:
            gap = f"{100 * (r['paper']['accuracy'] - r['cv']['accuracy']['mean']):+.1f}"
        cells = [r["model"], *_paper_cells(r["paper"]), *_cv_cells(r["cv"]), gap, _chance(r),
                 f"{r['seconds'] / 60:.0f} min"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    sizes = sorted({r["paper"]["num_examples"] for r in table if r["paper"]})
    fold_sizes = sorted({n for r in table for n in r["fold_sizes"]} - {0})
    lines += [
        "",
        f"Test parts: {', '.join(map(str, sizes)) or '?'} images on the paper split (one split: "
        "one image is about 1 point), "
        f"{', '.join(map(str, fold_sizes)) or '?'} per subject fold. On synthetic faces the "
        "expressions are drawn alike on every face, so the gap between the protocols is a few "
        "points; "
        "on real faces it is not (issue 13: JAFFE, resnet18 at 64 px, 0.81 on the random split, "
        "0.14, chance, on a leave-one-subject-out fold with the papers' selection rule).",
        "",
        f"Measured on {machine}, {today}, TensorFlow backend; CPU time is the sum of the "
        "runs' epoch times (training and validation). Made with the commands below (run from "
        "the repository root), then "
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
