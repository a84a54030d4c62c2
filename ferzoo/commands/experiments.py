"""`ferzoo cv` and `ferzoo ablate`: many training runs, one table.

    ferzoo cv --model wca_mcnn --dataset kdef --protocol subject --num-folds 10
    ferzoo ablate --dataset kdef --family resnet18                 # MsC-wCA grid
    ferzoo ablate --dataset jaffe --family resnet18 --grid wamf    # WAMF grid (capsule head)

Every run and table goes under `--output` (default under runs/, which git ignores).
"""

from __future__ import annotations

import argparse
import json
import os

import ferzoo
from ferzoo.commands.common import add_train_args, set_backend, train_kwargs
from ferzoo.evaluation import experiments
from ferzoo.paths import RUNS_DIR


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cv",
        help="train every fold of a protocol, report mean and std",
        description="Train MODEL on every fold (or --folds) and write cv.json and cv.md: per fold "
        "accuracy, macro F1, the chance level and the subjects per part; then mean ± std.",
    )
    p.add_argument("--model", required=True)
    add_train_args(p, fold=False)
    p.add_argument("--folds", type=int, nargs="+", default=None, help="default: all folds")
    p.add_argument("--output", default=None, help="default runs/<dataset>/<model>/<protocol>")
    p.set_defaults(func=run_cv)

    p = subparsers.add_parser(
        "ablate",
        help="train a paper's ablation grid and tabulate it",
        description="Train the ablation grid of a family and write ablation.md (precision, recall, "
        "F1, accuracy, params, MACs, as in the papers' tables), ablation.json and ablation.png.",
    )
    # The grids and their families come from the model families (ferzoo.evaluation.experiments.grids);
    # a name that is not one of them is a one-line error when the command runs.
    p.add_argument("--family", required=True, help="a family column of the grid, e.g. resnet18")
    p.add_argument("--grid", default=None,
                   help="msc_wca (the MsC-wCA paper, default) or wamf (the WAMF paper; capsule "
                   "head)")  # fmt: skip
    p.add_argument("--head", choices=("dense", "capsule"), default="dense",
                   help="capsule = --grid wamf")  # fmt: skip
    add_train_args(p)
    p.add_argument("--output", default=None,
                   help="default runs/<dataset>/ablation/<grid>-<family>/<protocol>/fold-<k>")  # fmt: skip
    p.set_defaults(func=run_ablate)


def run_cv(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    kwargs = train_kwargs(args)
    folds = args.folds if args.folds is not None else list(range(args.num_folds))
    for fold in folds:
        if not 0 <= fold < args.num_folds:
            raise ValueError(
                f"--folds must be in [0, --num-folds={args.num_folds}). Received: --folds {fold}"
            )
    base = args.output or os.path.join(
        RUNS_DIR, args.dataset.replace("/", "-"), args.model, args.protocol
    )
    summary = experiments.cross_validate(args.model, args.dataset, folds, base, **kwargs)
    acc, f1 = summary["accuracy"], summary["macro_f1"]
    print(f"accuracy {acc['mean']:.4f} ± {acc['std']:.4f}, macro F1 {f1['mean']:.4f} ± "
          f"{f1['std']:.4f}\nwrote {base}/cv.json and cv.md")  # fmt: skip
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    kwargs = train_kwargs(args)
    grid = args.grid or ("wamf" if args.head == "capsule" else "msc_wca")
    names = experiments.ablation_grid(args.family, grid, ferzoo.list_models())
    for name in names:  # every model of the grid must take these overrides and this size
        ferzoo.registry.check(name, args.image_size, **kwargs["model_overrides"])
    output = args.output or os.path.join(
        RUNS_DIR, args.dataset.replace("/", "-"), "ablation", f"{grid}-{args.family}",
        args.protocol, f"fold-{args.fold}",
    )  # fmt: skip
    title = (f"Ablation ({grid}, {args.family}) on {args.dataset}, {args.protocol} protocol, "
             f"fold {args.fold}")  # fmt: skip
    rows = experiments.ablate(names, args.dataset, output, title, **kwargs)
    print(json.dumps({r["model"]: round(r["accuracy"], 4) for r in rows}))
    print(f"wrote {output}/ablation.md, ablation.json, ablation.png")
    return 0
