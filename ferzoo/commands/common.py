"""What the training commands share: the backend choice and the arguments, derived from
`ferzoo.training.options` (`--set` overrides: `parse_overrides`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ferzoo.runtime.devices import BACKENDS
from ferzoo.training import options
from ferzoo.training.options import parse_overrides


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


def add_backend_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="Keras backend (default: KERAS_BACKEND, else tensorflow, jax, torch: the first "
        "installed)",
    )


#: Options of the data that `ferzoo evaluate` has no use for (its data is only read).
_TRAINING_ONLY = ("augment",)


def add_data_args(parser: argparse.ArgumentParser, *, fold: bool = True) -> None:
    """`--dataset`, the data and paths options (`ferzoo.training.options`; `--fold` unless
    `fold` is False), `--seed` and `--backend`."""
    parser.add_argument("--dataset", default="synthetic_faces",
                        help="dataset name (ferzoo data info NAME)")  # fmt: skip
    skip = (*_TRAINING_ONLY, *(() if fold else ("fold",)))
    for option in options.of_part("data", "paths"):
        if option.on_command_line and option.name not in skip:
            option.add_to(parser)
    options.named("seed").add_to(parser)
    add_backend_arg(parser)


def add_detector_arg(parser: argparse.ArgumentParser) -> None:
    """`--detector NAME`: the face detector of a dataset prepared now (`ferzoo data build`)."""
    options.named("detector").add_to(parser)


def add_train_args(parser: argparse.ArgumentParser, *, fold: bool = True) -> None:
    """The data arguments (`add_data_args`), then every other training option that has a
    flag (`ferzoo.training.options`)."""
    add_data_args(parser, fold=fold)
    done = {action.dest for action in parser._actions}
    for option in options.OPTIONS:
        if option.on_command_line and option.name not in done and option.name != "fold":
            option.add_to(parser)


def data_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The `ferzoo.data.load` keyword arguments that `add_data_args` parsed."""
    picked = [o for o in options.of_part("data", "paths") if hasattr(args, o.name)]
    return {o.name: o.from_args(args) for o in picked} | {"seed": args.seed}


def train_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """`ferzoo.train` keyword arguments: every option that `add_train_args` parsed."""
    return {o.name: o.from_args(args) for o in options.OPTIONS if hasattr(args, o.name)}


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


__all__ = ["add_backend_arg", "add_data_args", "add_detector_arg", "add_train_args",
           "data_kwargs", "parse_overrides", "print_result", "set_backend", "train_kwargs"]  # fmt: skip
