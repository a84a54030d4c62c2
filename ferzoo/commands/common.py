"""What the training commands share: the backend choice, `--set` overrides, the arguments."""

from __future__ import annotations

import argparse
import ast
import os
import sys
from typing import Any

from ferzoo import defaults
from ferzoo.devices import BACKENDS
from ferzoo.precision import CHOICES as PRECISIONS
from ferzoo.training.selection import AUTO, MONITORS


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
        help="Keras backend (default: KERAS_BACKEND, else tensorflow, jax, torch: the first "
        "installed)",
    )


def add_data_args(parser: argparse.ArgumentParser, *, fold: bool = True) -> None:
    add = parser.add_argument
    add("--dataset", default="synthetic_faces", help="dataset name (ferzoo data info NAME)")
    add("--protocol", default="paper", choices=("paper", "subject"))
    if fold:
        add("--fold", type=int, default=0, help="held-out fold (0-based)")
    add("--num-folds", type=int, default=defaults.NUM_FOLDS, help="folds in the protocol")
    add("--image-size", type=int, default=defaults.IMAGE_SIZE)
    add("--batch-size", type=int, default=defaults.BATCH_SIZE)
    add("--seed", type=int, default=0)
    add("--data-dir", default=None, help="TFDS data directory")
    add("--manual-dir", default=None,
        help="folder holding your licensed copy (image_folder: your folder of faces)")  # fmt: skip
    add("--subject-pattern", default=None, metavar="REGEX",
        help="image_folder: the first group of REGEX in each file name is the subject id")  # fmt: skip
    add_face_args(parser)
    add_backend_arg(parser)


def add_detector_arg(parser: argparse.ArgumentParser) -> None:
    """`--detector NAME`: the face detector of a dataset prepared now (`ferzoo data build`)."""
    parser.add_argument("--detector", choices=defaults.DETECTOR_NAMES, default=None,
                        help="face detector of a dataset prepared now (default yunet; a "
                        "prepared dataset keeps the one it was built with)")  # fmt: skip


def add_face_args(parser: argparse.ArgumentParser) -> None:
    """`--detector` and `--align` (the faces a run trains on)."""
    add_detector_arg(parser)
    parser.add_argument("--align", action="store_true",
                        help="align each face by its five landmarks (rotated and scaled to a "
                        "canonical eye position) instead of cropping its box")  # fmt: skip


def add_train_args(parser: argparse.ArgumentParser, *, fold: bool = True) -> None:
    add_data_args(parser, fold=fold)
    add = parser.add_argument
    add("--epochs", type=int, default=defaults.EPOCHS)
    add("--lr", "--learning-rate", dest="lr", type=float, default=defaults.LEARNING_RATE)
    add("--patience", type=int, default=defaults.PATIENCE, help="early-stopping patience")
    add("--min-delta", type=float, default=defaults.MIN_DELTA, help="early-stopping min delta")
    add("--monitor", choices=(AUTO, *MONITORS), default=AUTO,
        help="the validation metric that picks the kept epoch (auto: val_loss under the paper "
        "protocol, val_accuracy after a warm-up under the subject protocol)")  # fmt: skip
    add("--min-epochs", default="auto",
        help="no epoch before it is kept and no early stop happens (auto, or an int)")  # fmt: skip
    add("--augment", type=float, default=defaults.AUGMENT_STRENGTH,
        help=f"augmentation strength of the training part in [0, 1] (random resized crop, "
        f"flip, rotation, brightness/contrast; default {defaults.AUGMENT_STRENGTH}, 0: off)")  # fmt: skip
    add("--label-smoothing", type=float, default=0.0, help="label smoothing in [0, 1)")
    add("--class-weight", choices=("balanced",), default=None,
        help="weight the loss by inverse class frequency (imbalanced datasets)")  # fmt: skip
    add("--precision", choices=PRECISIONS, default="auto",
        help="dtype policy (auto: float32 on a CPU, mixed_bfloat16 or mixed_float16 on a GPU)")  # fmt: skip
    add("--weights", default=None, metavar="PATH",
        help="initial weights: a torchvision .pth, a keras-hub preset folder, a ferzoo "
        ".keras or .weights.h5")  # fmt: skip
    add("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
        help="model override for ferzoo.build, e.g. --set msc_kernels=(3,5) --set attention=wca")  # fmt: skip
    add("--no-resume", dest="resume", action="store_false",
        help="ignore and delete an existing checkpoint")  # fmt: skip
    add("--verbose", default="auto", help="Keras fit verbosity: auto, 0, 1, 2")
    add_step_args(add)


def add_step_args(add) -> None:
    """`--data-on-device` and `--steps-per-execution` (`ferzoo train` and the sweeps)."""
    add("--data-on-device", choices=("auto", "on", "off"), default="auto",
        help="hold the training and validation images on the device and gather each batch "
        "there (auto: when they fit in a quarter of its memory)")  # fmt: skip
    add("--steps-per-execution", type=_steps, default="auto", metavar="N",
        help="training steps per Python call on TensorFlow and JAX (auto: 1, raised after "
        "the first epoch on a GPU when steps are short)")  # fmt: skip


def _steps(text: str) -> int | str:
    """'auto' or an int >= 1 (argparse type)."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or an int >= 1, got {text!r}")
    return int(text)


def _min_epochs(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"--min-epochs must be 'auto' or an int. Received: --min-epochs {value}"
        ) from None


# Parsed arguments that `ferzoo.data.load` and `ferzoo.train` take under the same name; the
# fold, the image size and the batch size each command sets its own way.
_DATA_ARGS = ("protocol", "num_folds", "seed", "data_dir", "manual_dir", "subject_pattern",
              "align", "detector")  # fmt: skip
_TRAIN_ARGS = ("image_size", "epochs", "batch_size", "patience", "min_delta", "monitor",
               "augment", "label_smoothing", "class_weight", "weights", "precision", "resume")  # fmt: skip


def data_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The `ferzoo.data.load` keyword arguments that `add_data_args` parsed (no fold, image
    size or batch size)."""
    return {name: getattr(args, name) for name in _DATA_ARGS}


def train_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """`ferzoo.train` keyword arguments from the parsed training arguments (no fold)."""
    verbose = int(args.verbose) if str(args.verbose).isdigit() else args.verbose
    return dict(
        data_kwargs(args),
        **{name: getattr(args, name) for name in _TRAIN_ARGS},
        learning_rate=args.lr,
        min_epochs=_min_epochs(args.min_epochs),
        model_overrides=parse_overrides(args.overrides),
        verbose=verbose,
        data_on_device=args.data_on_device,
        steps_per_execution=args.steps_per_execution,
    )


def print_result(name: str, result: Any) -> None:
    line = f"{name}: kept epoch {result.best_epoch + 1} ({result.selection.get('monitor')})"
    line += f", val_loss {result.val_loss:.4f}, val_accuracy {result.val_accuracy:.4f}"
    if result.test:
        line += f", test accuracy {result.test['accuracy']:.4f}"
        line += f", macro F1 {result.test['macro_f1']:.4f}"
    timings = getattr(result, "timings", None) or {}
    if timings:  # ferzoo.training.timing.PARTS, then the wall time
        from ferzoo.training.timing import PARTS

        parts = ", ".join(f"{k} {timings[k]:.1f}" for k in PARTS if k in timings)
        line += f"\ntime (s): {parts}; wall {timings['wall']:.1f}"
        if timings.get("steps_per_execution", 1) != 1:
            line += f"; {timings['steps_per_execution']} steps per call"
    print(f"{line}\nwrote {result.output_dir}")


__all__ = ["add_backend_arg", "add_data_args", "add_detector_arg", "add_face_args", "add_train_args", "data_kwargs", "parse_overrides",
           "print_result", "set_backend", "train_kwargs"]  # fmt: skip
