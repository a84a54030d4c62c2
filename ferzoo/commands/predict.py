"""`ferzoo predict`, `ferzoo explain` and `ferzoo export`.

    ferzoo predict results/kdef/resnet18/paper/fold-0/model.keras a.jpg b.png --output out.csv \\
        --annotate annotated/
    ferzoo explain MODEL.keras a.jpg --output gradcam/          # TensorFlow or torch backend
    ferzoo export MODEL.keras --format savedmodel --output serving/resnet18

Exit codes: `predict` and `explain` return 0 when at least one face was classified, 1 when every
image failed (unreadable, or no face found); each failure is printed and recorded (a row with its
`error` in the output file). `export` returns 0 once the export has been checked to give the
model's outputs.
"""

from __future__ import annotations

import argparse
import sys

from ferzoo.commands.train import add_backend_arg, set_backend


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify the faces in images",
        description="Find the faces in each image (Haar detector, as the datasets), classify each "
        "and write a CSV or JSON table; unreadable images and images with no face are reported "
        "and skipped.",
    )
    p.add_argument("model_path", metavar="MODEL")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--output", default=None, help="out.csv or out.json (default: print CSV rows)")
    p.add_argument("--annotate", default=None, metavar="DIR", help="write annotated images here")
    p.add_argument(
        "--class-names",
        nargs="+",
        default=None,
        help="class names (default: from config.json beside the model)",
    )
    p.add_argument(
        "--no-detect",
        dest="detect",
        action="store_false",
        help="classify the whole image instead of detected faces",
    )
    add_backend_arg(p)
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser(
        "explain",
        help="Grad-CAM heat maps over the faces",
        description="Write a Grad-CAM overlay PNG per face (TensorFlow or torch backend).",
    )
    p.add_argument("model_path", metavar="MODEL")
    p.add_argument("images", metavar="IMAGE", nargs="+")
    p.add_argument("--output", required=True, metavar="DIR")
    p.add_argument("--layer", default=None, help="feature layer (default: the last 4D one)")
    p.add_argument("--class-names", nargs="+", default=None)
    p.add_argument("--no-detect", dest="detect", action="store_false")
    add_backend_arg(p)
    p.set_defaults(func=run_explain)

    p = subparsers.add_parser(
        "export",
        help="export a model for serving",
        description="Save MODEL.keras as .keras or as a TensorFlow SavedModel, and check that the "
        "export gives the model's outputs.",
    )
    p.add_argument("model_path", metavar="MODEL.keras")
    p.add_argument("--format", choices=("savedmodel", "keras"), default="savedmodel")
    p.add_argument("--output", required=True, metavar="PATH")
    add_backend_arg(p)
    p.set_defaults(func=run_export)


def _report(records: list[dict]) -> int:
    failures = [r for r in records if "error" in r]
    for r in failures:
        print(f"{r['file']}: {r['error']}", file=sys.stderr)
    faces = len(records) - len(failures)
    print(f"{faces} face(s) classified, {len(failures)} image(s) skipped", file=sys.stderr)
    return 0 if faces else 1


def run_predict(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    from ferzoo import predict as fp

    model, info = fp.load_model(args.model_path, class_names=args.class_names)
    records = fp.predict_images(
        model,
        args.images,
        info["class_names"],
        info["image_size"],
        detect=args.detect,
        annotate_dir=args.annotate,
    )
    if args.output:
        fp.write_records(records, args.output, info["class_names"])
    else:
        for r in records:
            if "error" not in r:
                print(f"{r['file']},{r['face']},{r['label']},{r['score']:.4f}")
    return _report(records)


def run_explain(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    from ferzoo import predict as fp

    model, info = fp.load_model(args.model_path, class_names=args.class_names)
    records = fp.explain_images(
        model,
        args.images,
        info["class_names"],
        info["image_size"],
        args.output,
        layer=args.layer,
        detect=args.detect,
    )
    for r in records:
        if "error" not in r:
            print(f"{r['overlay']}: {r['label']} {r['score']:.4f}")
    return _report(records)


def run_export(args: argparse.Namespace) -> int:
    set_backend(args.backend)
    from ferzoo import predict as fp

    model, info = fp.load_model(args.model_path)
    diff = fp.export_model(model, args.output, args.format, info=info)
    print(f"wrote {args.output} ({args.format}); max |export - keras| = {diff:.3g}")
    return 0
