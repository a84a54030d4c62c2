"""`ferzoo predict`, `ferzoo explain` and `ferzoo export`.

    ferzoo export MODEL.keras --format onnx --output resnet18.onnx        # checked vs Keras
    ferzoo predict resnet18.onnx photos/ a.jpg clip.mp4 --output faces.csv --annotate out/
    ferzoo predict resnet18.onnx clip.mp4 --every 5 --output clip.csv --annotate clip_faces.mp4
    ferzoo predict resnet18.onnx --camera 0 --max-frames 300 --output live.csv
    ferzoo explain MODEL.keras a.jpg --output gradcam/                     # any backend

Exit codes: 0 when at least one face was classified (or the export was checked), 1 when no
face was found anywhere, 2 for a usage mistake (a missing file, an unknown format, a bad
option value), printed as one line `ferzoo: error: ...` (`--debug` shows the traceback).
Files that cannot be read are skipped, listed on stderr and recorded with their `error`.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

from ferzoo import defaults
from ferzoo.commands.train import add_backend_arg, set_backend


def _keras_backend(args: argparse.Namespace) -> None:
    """Choose the backend (`--backend`) and keep TensorFlow's C++ start-up notes off the log."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    set_backend(args.backend)


def _user_errors(func):
    """Report a ValueError as `ferzoo: error: ...` with exit code 2 (traceback with --debug)."""

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ValueError as err:
            if getattr(args, "debug", False):
                raise
            message = " ".join(str(err).split())
            print(f"ferzoo: error: {message}", file=sys.stderr)
            return 2

    return run


def _count(name: str, text: str | None, minimum: int = 1) -> int | None:
    """An integer option given as text, or a ValueError naming it."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}. Received: {name} {text!r}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--class-names", nargs="+", default=None, help="override the stored names")
    p.add_argument("--detector", choices=defaults.DETECTOR_NAMES, default=None,
                   help="the face detector (default: the one the model's training data was "
                   "prepared with, else yunet); faces are aligned when the model was trained "
                   "on aligned faces")  # fmt: skip
    p.add_argument(
        "--no-detect",
        dest="detect",
        action="store_false",
        help="classify each picture whole (pre-cropped faces) instead of detected faces",
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    add_backend_arg(p)


def _register_predict(subparsers) -> None:
    p = subparsers.add_parser(
        "predict",
        help="classify the faces in images, folders, videos or a camera",
        description="Find the faces (YuNet or the Haar cascade: --detector), crop each as the "
        "datasets did (the box widened by 10 %%, or aligned by the landmarks for a model trained "
        "on aligned faces), classify them in batches with a .keras model (Keras) or an .onnx "
        "file (ONNX Runtime, no Keras), and write a CSV or JSON table: a row per face, and per "
        "video frame (a frame without a face gets a row saying so).",
    )
    p.add_argument("model_path", metavar="MODEL", help="a .keras or .onnx file")
    p.add_argument("inputs", metavar="INPUT", nargs="*", help="image or video files, folders")
    p.add_argument("--camera", default=None, metavar="INDEX", help="read camera INDEX (e.g. 0)")
    p.add_argument("--output", default=None, help="out.csv or out.json (default: print rows)")
    p.add_argument(
        "--annotate",
        default=None,
        metavar="PATH",
        help="a folder for annotated images and videos, or a video file (one video or camera)",
    )
    p.add_argument("--summary", default=None, metavar="DIR", help="where <video>_summary.png "
                   "goes (default: beside --output)")  # fmt: skip
    p.add_argument("--no-summary", action="store_true", help="no per-video summary plot")
    p.add_argument("--every", default="1", metavar="N", help="classify every N-th video frame")
    p.add_argument("--max-frames", default=None, metavar="N", help="stop a video/camera after N")
    p.add_argument("--batch-size", default="16", metavar="N", help="faces per model call")
    p.add_argument("--threads", default=None, metavar="N", help="ONNX Runtime threads")
    p.add_argument("--engine", default="onnxruntime", choices=("onnxruntime", "openvino"),
                   help="what runs an .onnx model (openvino: pip install 'ferzoo[openvino]')")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _common(p)
    p.set_defaults(func=run_predict)


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_predict(subparsers)
    p = subparsers.add_parser(
        "explain",
        help="Grad-CAM heat maps over the faces",
        description="Write a Grad-CAM overlay PNG per face (TensorFlow, PyTorch or JAX). The "
        "feature map is the last one of at least 7x7 unless --layer names one.",
    )
    p.add_argument("model_path", metavar="MODEL.keras")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files or folders")
    p.add_argument("--output", required=True, metavar="DIR")
    p.add_argument("--layer", default=None, help="feature layer (default: the last >= 7x7)")
    _common(p)
    p.set_defaults(func=run_explain)

    p = subparsers.add_parser(
        "export",
        help="export a model for serving (ONNX, TFLite, SavedModel)",
        description="Export MODEL.keras and check that the export gives the model's outputs on "
        "random inputs (max abs difference <= --atol, else nothing is written). ONNX carries "
        "the class names, input size, preprocessing and the run's metrics as metadata.",
    )
    p.add_argument("model_path", metavar="MODEL.keras")
    p.add_argument("--format", default="onnx", help="onnx (default), tflite, savedmodel, keras")
    p.add_argument("--output", required=True, metavar="PATH")
    p.add_argument("--opset", default=None, help="ONNX opset (default: the exporter's)")
    p.add_argument("--atol", type=float, default=1e-4, help="largest accepted difference")
    p.add_argument(
        "--check-runtimes",
        action="store_true",
        help="ONNX: run the file in every installed runtime (ONNX Runtime, OpenVINO, OpenCV DNN) "
        "against Keras and print runtime, loads, max difference, batch-1 latency",
    )
    p.add_argument(
        "--quantize",
        default=None,
        choices=("int8",),
        help="ONNX: write a statically quantised int8 model (ONNX Runtime's tools) to --output "
        "and report its size, latency, accuracy and macro F1 beside the float model's",
    )
    p.add_argument("--calibration", metavar="DATASET", help="with --quantize: the dataset "
                   "whose training images calibrate it and whose test part scores it")  # fmt: skip
    p.add_argument("--calibration-images", type=int, default=256, metavar="N")
    p.add_argument("--data-dir", default=None, help="TFDS data directory (--calibration)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    add_backend_arg(p)
    p.set_defaults(func=run_export)


def _check_model_path(path: str, suffixes: tuple[str, ...]) -> None:
    if os.path.splitext(path)[1].lower() not in suffixes:
        raise ValueError(f"MODEL must be a {' or '.join(suffixes)} file. Received: model={path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"No model file at {path!r}. Received: model={path!r}")


def _sources(args: argparse.Namespace) -> list:
    from ferzoo.serving import inputs

    found = inputs.expand_inputs(args.inputs)
    if args.camera is not None:
        found.append(inputs.Source("camera", str(_count("--camera", args.camera, minimum=0))))
    if not found:
        raise ValueError("Give at least one INPUT (image, folder, video) or --camera INDEX.")
    return found


def _summary_dir(args: argparse.Namespace) -> str | None:
    if args.no_summary:
        return None
    if args.summary:
        return args.summary
    if args.output:
        return os.path.dirname(os.path.abspath(args.output))
    return None


def _print_records(records: list[dict]) -> None:
    for r in records:
        if "error" not in r:
            frame = "" if r.get("frame") is None else r["frame"]
            print(f"{r['file']},{frame},{r['face']},{r['label']},{r['score']:.4f}")


# Said when nothing was classified because the detector found no face.
NO_FACE_HINT = (
    "ferzoo: no face found; pass --no-detect to classify each whole picture (for pictures "
    "that are already cropped to one face)"
)


def _report(stats, detect: bool, interrupted: bool = False) -> int:
    for path, error in stats.failures:
        print(f"{path}: {error} (skipped)", file=sys.stderr)
    read = f"{stats.images} image(s), {stats.frames} frame(s)"
    print(
        f"{stats.faces} face(s) classified in {read}; {stats.no_face} without a face, "
        f"{len(stats.failures)} file(s) skipped" + (" (interrupted)" if interrupted else ""),
        file=sys.stderr,
    )
    for path in stats.annotated + stats.summaries:
        print(f"wrote {path}", file=sys.stderr)
    if not stats.faces and stats.no_face and detect:
        print(NO_FACE_HINT, file=sys.stderr)
    return 0 if stats.faces else 1


@_user_errors
def run_predict(args: argparse.Namespace) -> int:
    from ferzoo.serving import pipeline, records

    _check_model_path(args.model_path, (".keras", ".onnx"))
    records.check_output(args.output)
    every = _count("--every", args.every)
    max_frames = _count("--max-frames", args.max_frames)
    batch_size = _count("--batch-size", args.batch_size)
    threads = _count("--threads", args.threads)
    found = _sources(args)
    pipeline.check_annotate(args.annotate, found)
    if args.model_path.lower().endswith(".keras"):
        _keras_backend(args)
    from ferzoo.serving.predictor import Predictor

    predictor = Predictor(
        args.model_path,
        class_names=args.class_names,
        batch_size=batch_size,
        detect=args.detect,
        threads=threads,
        runtime=args.engine,
        detector=args.detector,
    )
    writer = records.RecordWriter(args.output, predictor.class_names) if args.output else None
    shown: list[dict] | None = None if args.output else []
    interrupted = False
    stats = pipeline.RunStats()
    try:
        pipeline.predict_sources(
            predictor,
            found,
            writer=writer,
            every=every,
            max_frames=max_frames,
            annotate=args.annotate,
            summary_dir=_summary_dir(args),
            quiet=args.quiet,
            records=shown,
            stats=stats,
        )
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if writer is not None:
            writer.close()
    if shown:
        _print_records(shown)
    code = _report(stats, args.detect, interrupted)
    # Ctrl-C (the way a camera run ends, too): what was read is written, then exit code 130.
    return 130 if interrupted else code


@_user_errors
def run_explain(args: argparse.Namespace) -> int:
    from ferzoo.serving import inputs

    _check_model_path(args.model_path, (".keras",))
    paths = [s.path for s in inputs.expand_inputs(args.images) if s.kind == "image"]
    if not paths:
        raise ValueError(f"explain reads images, not videos. Received: images={args.images}")
    _keras_backend(args)
    from ferzoo.serving.gradcam import explain_images
    from ferzoo.serving.predictor import NO_FACE, Predictor

    predictor = Predictor(
        args.model_path, class_names=args.class_names, detect=args.detect, detector=args.detector
    )
    found = explain_images(predictor, paths, args.output, layer=args.layer)
    failures = [r for r in found if "error" in r]
    for r in found:
        if "error" in r:
            print(f"{r['file']}: {r['error']} (skipped)", file=sys.stderr)
        else:
            print(f"{r['overlay']}: {r['label']} {r['score']:.4f} (layer {r['layer']})")
    faces = len(found) - len(failures)
    print(f"{faces} face(s) explained, {len(failures)} image(s) skipped", file=sys.stderr)
    if not faces and args.detect and any(r.get("error") == NO_FACE for r in failures):
        print(NO_FACE_HINT, file=sys.stderr)
    return 0 if faces else 1


@_user_errors
def run_export(args: argparse.Namespace) -> int:
    from ferzoo.serving.export import EXPORT_FORMATS

    if args.format not in EXPORT_FORMATS:
        raise ValueError(
            f"--format must be one of {', '.join(EXPORT_FORMATS)}. Received: format={args.format!r}"
        )
    if (args.check_runtimes or args.quantize) and args.format != "onnx":
        flag = "--check-runtimes" if args.check_runtimes else "--quantize"
        raise ValueError(f"{flag} works on .onnx files only. Received: --format {args.format}")
    if args.quantize and not args.calibration:
        raise ValueError("--quantize int8 needs --calibration DATASET. Received: no --calibration")
    if args.quantize:
        _count("--calibration-images", str(args.calibration_images))
    _check_model_path(args.model_path, (".keras",))
    opset = _count("--opset", args.opset)
    _keras_backend(args)
    from ferzoo.serving import export as ex
    from ferzoo.serving.engines import load_model
    from ferzoo.serving.runtimes import format_table

    model, info = load_model(args.model_path)
    if args.quantize:
        return _export_int8(args, model, info, opset)
    diff = ex.export_model(model, args.output, args.format, info=info, atol=args.atol, opset=opset)
    print(f"wrote {args.output} ({args.format}); max |export - keras| = {diff:.3g}")
    if args.check_runtimes:
        print(format_table(ex.check_runtimes(model, args.output, info)))
    if args.format == "onnx":
        _print_limits(args.output)
    return 0


def _export_int8(args: argparse.Namespace, model, info: dict, opset: int | None) -> int:
    """`ferzoo export --quantize int8`: the float export in a temporary folder, the int8 model
    at --output, and the table of both (size, latency, test accuracy and macro F1)."""
    import tempfile

    import numpy as np

    from ferzoo.serving import export as ex
    from ferzoo.serving import quantize as q
    from ferzoo.serving.runtimes import format_table

    calibration, test, names = q.dataset_images(
        args.calibration, info, int(info["image_size"]), args.calibration_images, args.data_dir
    )
    if info.get("class_names") and len(info["class_names"]) != len(names):
        raise ValueError(
            f"The model has {len(info['class_names'])} classes, {args.calibration} has "
            f"{len(names)}. Received: --calibration {args.calibration}"
        )
    if ex.export_metadata(model, info, "")["input_layout"] == "NCHW":
        calibration = np.moveaxis(calibration, -1, 1)
    with tempfile.TemporaryDirectory() as tmp:
        float_path = os.path.join(tmp, "float32.onnx")
        diff = ex.export_model(model, float_path, "onnx", info=info, atol=args.atol, opset=opset)
        q.quantize_int8(float_path, args.output, calibration)
        rows = q.compare({"float32": float_path, "int8": args.output}, test, names)
        rows["float32"]["path"] = "(not kept)"
        if args.check_runtimes:
            print(format_table(ex.check_runtimes(model, args.output, info)))
    print(f"wrote {args.output} (int8, {len(calibration)} calibration images from "
          f"{args.calibration}); float export max |onnx - keras| = {diff:.3g}")  # fmt: skip
    print(q.format_comparison(rows))
    _print_limits(args.output)
    return 0


def _print_limits(path: str) -> None:
    """A note per runtime known not to run the `.onnx` file (`runtimes.known_limits`)."""
    from ferzoo.serving.runtimes import known_limits

    for runtime, why in known_limits(path).items():
        print(f"note: {runtime} cannot run {os.path.basename(path)}: {why}")
