"""`ferzoo train`, `ferzoo evaluate`, `ferzoo cv` and `ferzoo ablate`.

    ferzoo train --model resnet18 --dataset synthetic_faces --image-size 64 --epochs 10
    ferzoo train --model resnet18 --dataset kdef --set stem='msc' --set attention=wca
    ferzoo evaluate results/kdef/resnet18/paper/fold-0/model.keras --dataset kdef
    ferzoo cv --model wca_mcnn --dataset kdef --protocol subject --num-folds 10
    ferzoo ablate --dataset kdef --family resnet18             # MsC/wCA grid (seed 003)
    ferzoo ablate --dataset jaffe --family resnet18 --grid wamf  # WAMF grid (seed 000)

The parsers import nothing heavy; Keras loads when a command runs, after `--backend` has set
KERAS_BACKEND.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")

# The papers' ablation grids. wse_mcnn (seed 003's failure case, Table 7) joins the cnn grid when
# it is registered.
GRIDS: dict[str, dict[str, list[str]]] = {
    "msc_wca": {
        "cnn": ["cnn", "mcnn", "wca_cnn", "wca_mcnn"],
        "resnet18": ["resnet18", "msc_resnet18", "wca_resnet18", "msc_wca_resnet18"],
        "resnet34": ["resnet34", "msc_resnet34", "wca_resnet34", "msc_wca_resnet34"],
    },
    "wamf": {
        "resnet18": ["resnet18_caps", "mf_resnet18_caps", "wa_resnet18_caps", "wamf_resnet18"],
        "resnet34": ["resnet34_caps", "mf_resnet34_caps", "wa_resnet34_caps", "wamf_resnet34"],
    },
}
OPTIONAL_GRID_MEMBERS = {("msc_wca", "cnn"): ["wse_mcnn"]}


def set_backend(backend: str | None) -> None:
    """Set KERAS_BACKEND before Keras is imported; refuse if another backend is already loaded."""
    if not backend:
        return
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != backend:
            raise ValueError(
                f"Keras is already running on {keras.backend.backend()!r}; --backend {backend} "
                "must be chosen before Keras is imported (set KERAS_BACKEND instead). "
                f"Received: backend={backend!r}"
            )
        return
    os.environ["KERAS_BACKEND"] = backend


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """Parse `--set key=value` items; values go through `ast.literal_eval` (bare words stay str).

    Example:
        >>> parse_overrides(["msc_kernels=(3,5)", "attention=wca", "dropout=0.5"])
        {'msc_kernels': (3, 5), 'attention': 'wca', 'dropout': 0.5}
    """
    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise ValueError(
                f"--set takes key=value with a Python identifier as key. Received: {item!r}"
            )
        try:
            overrides[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            overrides[key] = text
    return overrides


def add_backend_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="Keras backend (default: KERAS_BACKEND, else the first installed of tensorflow, jax, torch)",
    )


def _add_data_args(parser: argparse.ArgumentParser, *, fold: bool = True) -> None:
    parser.add_argument("--dataset", default="synthetic_faces", help="TFDS dataset name")
    parser.add_argument("--protocol", default="paper", choices=("paper", "subject"))
    if fold:
        parser.add_argument("--fold", type=int, default=0, help="held-out fold (0-based)")
    parser.add_argument("--num-folds", type=int, default=10, help="folds in the protocol")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None, help="TFDS data directory")
    parser.add_argument("--manual-dir", default=None, help="folder holding the licensed archives")
    add_backend_arg(parser)


def _add_train_args(parser: argparse.ArgumentParser, *, fold: bool = True) -> None:
    _add_data_args(parser, fold=fold)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--lr", "--learning-rate", dest="lr", type=float, default=1e-3)
    parser.add_argument("--patience", type=int, default=30, help="early-stopping patience")
    parser.add_argument("--min-delta", type=float, default=1e-5, help="early-stopping min delta")
    parser.add_argument("--augment", type=float, default=0.0, help="augmentation strength")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="model override for ferzoo.build, e.g. --set msc_kernels=(3,5) --set attention=wca",
    )
    parser.add_argument(
        "--no-resume",
        dest="resume",
        action="store_false",
        help="ignore and delete an existing checkpoint",
    )
    parser.add_argument("--verbose", default="auto", help="Keras fit verbosity: auto, 0, 1, 2")


def _verbose(value: str) -> str | int:
    return int(value) if value.isdigit() else value


def _train_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return dict(
        protocol=args.protocol,
        num_folds=args.num_folds,
        image_size=args.image_size,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        seed=args.seed,
        patience=args.patience,
        min_delta=args.min_delta,
        augment=args.augment,
        model_overrides=parse_overrides(args.overrides),
        resume=args.resume,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
        verbose=_verbose(args.verbose),
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model with the papers' recipe",
        description="Train MODEL on DATASET (Adam 1e-3, early stopping on validation loss, best "
        "weights evaluated once on the test part). Rerunning the same command resumes.",
    )
    p.add_argument("--model", required=True, help="registered model name (ferzoo models)")
    _add_train_args(p)
    p.add_argument(
        "--output", default=None, help="default results/<dataset>/<model>/<protocol>/fold-<k>"
    )
    p.set_defaults(func=run_train)

    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a saved model on a dataset's test part",
        description="Evaluate MODEL.keras on the test part of a dataset and write metrics.json, "
        "metrics.csv, confusion_matrix.csv and confusion_matrix.png.",
    )
    p.add_argument("model_path", metavar="MODEL.keras")
    _add_data_args(p)
    p.set_defaults(image_size=None)
    p.add_argument(
        "--output",
        default=None,
        help="default <model dir>/evaluate/<dataset>/<protocol>/fold-<k>",
    )
    p.set_defaults(func=run_evaluate)

    p = subparsers.add_parser(
        "cv",
        help="train every fold of a protocol, report mean and std",
        description="Train MODEL on every fold (or --folds) and write cv.json and cv.md with the "
        "mean and standard deviation of accuracy and macro F1.",
    )
    p.add_argument("--model", required=True)
    _add_train_args(p, fold=False)
    p.add_argument("--folds", type=int, nargs="+", default=None, help="default: all folds")
    p.add_argument("--output", default=None, help="default results/<dataset>/<model>/<protocol>")
    p.set_defaults(func=run_cv)

    p = subparsers.add_parser(
        "ablate",
        help="train a paper's ablation grid and tabulate it",
        description="Train the ablation grid of a family and write ablation.md (precision, recall, "
        "F1, accuracy, params, MACs, as in the papers' tables), ablation.json and ablation.png.",
    )
    p.add_argument("--family", required=True, choices=("cnn", "resnet18", "resnet34"))
    p.add_argument(
        "--grid",
        choices=tuple(GRIDS),
        default=None,
        help="msc_wca (seed 003, default) or wamf (seed 000; capsule head)",
    )
    p.add_argument(
        "--head", choices=("dense", "capsule"), default="dense", help="capsule = --grid wamf"
    )
    _add_train_args(p)
    p.add_argument(
        "--output",
        default=None,
        help="table folder, default results/<dataset>/ablation/<grid>-<family>/<protocol>/fold-<k>",
    )
    p.set_defaults(func=run_ablate)


def run_train(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    from ferzoo.training import train

    result = train(
        args.model, args.dataset, fold=args.fold, output_dir=args.output, **_train_kwargs(args)
    )
    _print_result(args.model, result)
    return 0


def _print_result(name: str, result: Any) -> None:
    line = f"{name}: best epoch {result.best_epoch + 1}, val_loss {result.val_loss:.4f}"
    if result.test:
        line += (
            f", test accuracy {result.test['accuracy']:.4f}, macro F1 {result.test['macro_f1']:.4f}"
        )
    print(f"{line}\nwrote {result.output_dir}")


def run_evaluate(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    from ferzoo import data as fdata
    from ferzoo import evaluate as ev
    from ferzoo.predict import load_model

    model, info = load_model(args.model_path)
    image_size = args.image_size or info.get("image_size") or int(model.inputs[0].shape[1])
    loaded = fdata.load(
        args.dataset,
        protocol=args.protocol,
        fold=args.fold,
        num_folds=args.num_folds,
        image_size=image_size,
        batch_size=args.batch_size,
        seed=args.seed,
        data_dir=args.data_dir,
        manual_dir=args.manual_dir,
    )
    class_names = list(loaded.class_names)
    trained_on = info.get("class_names")
    if trained_on and len(trained_on) != len(class_names):
        raise ValueError(
            f"{args.model_path} was trained on {len(trained_on)} classes ({', '.join(trained_on)}) "
            f"but {args.dataset} has {len(class_names)} ({', '.join(class_names)}). "
            f"Received: num_classes={len(class_names)}"
        )
    metrics = ev.evaluate_model(model, loaded["test"], class_names)
    metrics.update(
        {
            "model_path": args.model_path,
            "dataset": args.dataset,
            "protocol": args.protocol,
            "fold": args.fold,
        }
    )
    output = args.output or os.path.join(
        os.path.dirname(os.path.abspath(args.model_path)),
        "evaluate",
        args.dataset,
        args.protocol,
        f"fold-{args.fold}",
    )
    ev.write_metrics(
        metrics, output, title=f"{os.path.basename(args.model_path)} on {args.dataset}"
    )
    print(f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}\nwrote {output}")
    return 0


def _mean_std(values: list[float]) -> tuple[float, float]:
    import numpy as np

    arr = np.asarray(values, float)
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0


def run_cv(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    import keras

    from ferzoo import evaluate as ev
    from ferzoo.training import train

    folds = args.folds if args.folds is not None else list(range(args.num_folds))
    base = args.output or os.path.join("results", args.dataset, args.model, args.protocol)
    rows = []
    for fold in folds:
        keras.backend.clear_session()
        result = train(
            args.model,
            args.dataset,
            fold=fold,
            output_dir=os.path.join(base, f"fold-{fold}"),
            **_train_kwargs(args),
        )
        _print_result(f"{args.model} fold {fold}", result)
        rows.append(
            {
                "fold": fold,
                "accuracy": result.test["accuracy"],
                "macro_f1": result.test["macro_f1"],
                "macro_precision": result.test["macro_precision"],
                "macro_recall": result.test["macro_recall"],
                "best_epoch": result.best_epoch,
            }
        )
    summary = {
        "model": args.model,
        "dataset": args.dataset,
        "protocol": args.protocol,
        "folds": rows,
    }
    for key in ("accuracy", "macro_f1", "macro_precision", "macro_recall"):
        mean, std = _mean_std([r[key] for r in rows])
        summary[key] = {"mean": mean, "std": std}
    ev.write_json(os.path.join(base, "cv.json"), summary)
    lines = [
        f"# {args.model} on {args.dataset}, {args.protocol} protocol, {len(rows)} folds",
        "",
        "| fold | accuracy | macro F1 | macro precision | macro recall |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['fold']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | "
            f"{r['macro_precision']:.4f} | {r['macro_recall']:.4f} |"
        )
    cells = [
        f"{summary[k]['mean']:.4f} ± {summary[k]['std']:.4f}"
        for k in ("accuracy", "macro_f1", "macro_precision", "macro_recall")
    ]
    lines.append(f"| mean ± std | {' | '.join(cells)} |")
    with open(os.path.join(base, "cv.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"accuracy {cells[0]}, macro F1 {cells[1]}\nwrote {base}/cv.json and cv.md")
    return 0


def ablation_grid(family: str, grid: str, registered: list[str]) -> list[str]:
    """The model names of a paper's ablation grid, checked against the registry.

    Raises:
        ValueError: for a family without that grid, or when a member is not registered.
    """
    if family not in GRIDS.get(grid, {}):
        raise ValueError(
            f"The {grid} grid has no {family} family; it has {sorted(GRIDS[grid])}. "
            f"Received: family={family!r}, grid={grid!r}"
        )
    names = list(GRIDS[grid][family])
    missing = [n for n in names if n not in registered]
    if missing:
        raise ValueError(
            f"The {grid} grid for {family} needs models that are not registered: {missing}. "
            f"Received: family={family!r}"
        )
    names += [n for n in OPTIONAL_GRID_MEMBERS.get((grid, family), []) if n in registered]
    return names


def ablation_table(rows: list[dict[str, Any]], title: str) -> str:
    """A markdown table in the form of the papers' ablation tables.

    Precision, recall and accuracy in percent, F1 as a fraction (as seed 003 reports them),
    parameters in millions and MACs in G.
    """
    lines = [
        f"# {title}",
        "",
        "| Model | Precision (%) | Recall (%) | F1 | Accuracy (%) | Params (M) | MACs (G) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {100 * r['macro_precision']:.3f} | {100 * r['macro_recall']:.3f} | "
            f"{r['macro_f1']:.6f} | {100 * r['accuracy']:.3f} | {r['params'] / 1e6:.4f} | "
            f"{r['macs'] / 1e9:.4f} |"
        )
    return "\n".join(lines) + "\n"


def plot_ablation(rows: list[dict[str, Any]], path: str, title: str) -> None:
    """Grouped bar chart of accuracy and macro F1 (percent) per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = [r["model"] for r in rows]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.4 * len(names) + 2), 4))
    for offset, key, label in ((-0.2, "accuracy", "accuracy"), (0.2, "macro_f1", "macro F1")):
        values = [100 * r[key] for r in rows]
        bars = ax.bar(x + offset, values, width=0.4, label=label)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks(x, labels=names, rotation=20, ha="right")
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_ablate(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    import keras

    import ferzoo
    from ferzoo import evaluate as ev
    from ferzoo.training import train

    grid = args.grid or ("wamf" if args.head == "capsule" else "msc_wca")
    names = ablation_grid(args.family, grid, ferzoo.list_models())
    output = args.output or os.path.join(
        "results",
        args.dataset,
        "ablation",
        f"{grid}-{args.family}",
        args.protocol,
        f"fold-{args.fold}",
    )
    rows = []
    for name in names:
        keras.backend.clear_session()
        result = train(name, args.dataset, fold=args.fold, **_train_kwargs(args))
        _print_result(name, result)
        rows.append(
            {
                "model": name,
                "accuracy": result.test["accuracy"],
                "macro_precision": result.test["macro_precision"],
                "macro_recall": result.test["macro_recall"],
                "macro_f1": result.test["macro_f1"],
                "params": int(result.profile["params"]),
                "macs": int(result.profile["macs"]),
                "best_epoch": result.best_epoch,
                "output_dir": result.output_dir,
            }
        )
    os.makedirs(output, exist_ok=True)
    title = f"Ablation ({grid}, {args.family}) on {args.dataset}, {args.protocol} protocol, fold {args.fold}"
    ev.write_json(
        os.path.join(output, "ablation.json"), {"grid": grid, "family": args.family, "rows": rows}
    )
    with open(os.path.join(output, "ablation.md"), "w", encoding="utf-8") as f:
        f.write(ablation_table(rows, title))
    plot_ablation(rows, os.path.join(output, "ablation.png"), title)
    print(json.dumps({r["model"]: round(r["accuracy"], 4) for r in rows}))
    print(f"wrote {output}/ablation.md, ablation.json, ablation.png")
    return 0
