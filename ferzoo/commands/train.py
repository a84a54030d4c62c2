"""`ferzoo train` and `ferzoo evaluate`.

    ferzoo train --model resnet18 --dataset synthetic_faces --image-size 64 --epochs 10
    ferzoo train --model resnet18 --dataset kdef --set stem=msc --set attention=wca
    ferzoo train --model resnet18 --dataset image_folder --manual-dir ~/faces \\
                 --protocol subject --subject-pattern '^(P[0-9]+)_'
    ferzoo evaluate runs/kdef/resnet18/paper/fold-0/model.keras --dataset kdef

The parsers import nothing heavy; Keras loads when a command runs, after `--backend` has set
KERAS_BACKEND.
"""

from __future__ import annotations

import argparse
import os

from ferzoo.commands.common import (
    add_backend_arg,  # noqa: F401  (other command modules import it from here)
    add_data_args,
    add_train_args,
    data_kwargs,
    print_result,
    set_backend,
    train_kwargs,
)
from ferzoo.evaluation import evaluate as ev


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model with the papers' recipe",
        description="Train MODEL on DATASET (Adam 1e-3, early stopping, the kept epoch evaluated "
        "once on the test part). Rerunning the same command resumes.",
    )
    p.add_argument("--model", required=True, help="registered model name (ferzoo models)")
    add_train_args(p)
    p.add_argument(
        "--output", default=None, help="default runs/<dataset>/<model>/<protocol>/fold-<k>"
    )
    p.set_defaults(func=run_train)

    p = subparsers.add_parser(
        "evaluate",
        help="evaluate a saved model on a dataset's test part",
        description="Evaluate MODEL.keras on the test part of a dataset and write metrics.json, "
        "metrics.csv, confusion_matrix.csv and confusion_matrix.png.",
    )
    p.add_argument("model_path", metavar="MODEL.keras")
    add_data_args(p)
    p.set_defaults(image_size=None)
    p.add_argument(
        "--output", default=None, help="default <model dir>/evaluate/<dataset>/<protocol>/fold-<k>"
    )
    p.set_defaults(func=run_evaluate)


def run_train(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    from ferzoo.training import train

    result = train(args.model, args.dataset, output_dir=args.output, **train_kwargs(args))
    print_result(args.model, result)
    return 0


def _check_classes(model_path: str, trained_on, class_names, dataset: str) -> None:
    if trained_on and len(trained_on) != len(class_names):
        raise ValueError(
            f"{model_path} was trained on {len(trained_on)} classes ({', '.join(trained_on)}) "
            f"but {dataset} has {len(class_names)} ({', '.join(class_names)}). "
            f"Received: num_classes={len(class_names)}"
        )


def run_evaluate(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    from ferzoo import data as fdata
    from ferzoo.serving.engines import load_model

    model, info = load_model(args.model_path)
    names = fdata.info(args.dataset, data_dir=args.data_dir).class_names
    _check_classes(args.model_path, info.get("class_names"), names, args.dataset)
    image_size = args.image_size or info.get("image_size") or int(model.inputs[0].shape[1])
    kwargs = data_kwargs(args) | {"image_size": image_size}
    # the faces as the model was trained on them, unless --align
    kwargs["align"] = args.align or bool((info.get("face") or {}).get("align"))
    loaded = fdata.load(args.dataset, **kwargs)
    if info.get("normalization"):
        loaded = loaded.rebatched(normalization=info["normalization"])
    metrics = ev.evaluate_model(model, loaded["test"], list(loaded.class_names))
    metrics.update(model_path=args.model_path, dataset=args.dataset, protocol=args.protocol,
                   fold=args.fold)  # fmt: skip
    output = args.output or os.path.join(
        os.path.dirname(os.path.abspath(args.model_path)),
        "evaluate",
        args.dataset.replace("/", "-"),
        args.protocol,
        f"fold-{args.fold}",
    )
    ev.write_metrics(
        metrics, output, title=f"{os.path.basename(args.model_path)} on {args.dataset}"
    )
    print(f"accuracy {metrics['accuracy']:.4f}, macro F1 {metrics['macro_f1']:.4f}\nwrote {output}")
    return 0
