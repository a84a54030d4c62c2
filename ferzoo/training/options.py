"""Every training option, declared once.

An `Option` is one keyword of `ferzoo.train`. Its declaration says where the value lives (the
part of the run's configuration, `ferzoo.training.config`, or how a call runs: `"run"`, the
fields of `trainer.Spec`), its default, its command-line flag (`ferzoo train`, `ferzoo cv`,
`ferzoo ablate`), whether a checkpoint must match it to resume (the run's identity) and whether
a sweep passes it to every run it trains (and pins it in the study). Everything else is derived
from `OPTIONS`: the flags (`ferzoo.commands.common.add_train_args`), `ferzoo.train`'s signature
and the keywords `RunConfig.of` takes, the configuration's fields and config.json, the identity,
the sweep's flags and its workers' settings. Adding an option is one entry here (and the code
that uses its value).

No Keras import: the command line's parsers read this table.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

from ferzoo import defaults

#: Where an option's value lives: the parts of `RunConfig` ("paths": the data's folders, held by
#: `DataConfig` but not by the loaded data; "selection": the inputs of the selection rule, which
#: `TrainingConfig.selection` holds resolved), or "run": how one call runs (`trainer.Spec`).
PARTS = ("data", "paths", "model", "training", "selection", "run")
#: What a sweep does with an option: "" nothing (the sweep sets or searches it itself), "pass"
#: give every run its value, "pin" that too and keep it with the study (a study resumed with
#: another value would mix incomparable trials).
SWEEP = ("", "pass", "pin")


@dataclasses.dataclass(frozen=True)
class Option:
    """One keyword of `ferzoo.train`.

    Attributes:
        name: the keyword.
        part: where its value lives (`PARTS`).
        default: its value when not given (a data option given as None also takes it, or the
            loaded data's value).
        doc: what it does, for `ferzoo.train`'s docstring.
        help: the command line's help (default: `doc`); None: no flag.
        flags: the command line's flags (default `--<name with dashes>`).
        parse: the flag's argparse type, or "store_true" / "store_false" / "append".
        choices, metavar: the flag's argparse choices and metavar.
        field: its name in its part of the configuration (default: `name`).
        identity: a checkpoint resumes only with the same value.
        sweep: what a sweep does with it (`SWEEP`).
        convert: turns the parsed flag's value into the keyword's (e.g. `--set` items to a dict).
    """

    name: str
    part: str
    default: Any
    doc: str
    help: str | None = ""
    flags: tuple[str, ...] = ()
    parse: Any = None
    choices: tuple[Any, ...] | None = None
    metavar: str | None = None
    field: str = ""
    identity: bool = True
    sweep: str = ""
    convert: Callable[[Any], Any] | None = None

    def __post_init__(self):
        if self.part not in PARTS:
            raise ValueError(f"part must be one of {PARTS}. Received: part={self.part!r}")
        if self.sweep not in SWEEP:
            raise ValueError(f"sweep must be one of {SWEEP}. Received: sweep={self.sweep!r}")
        if not self.field:
            object.__setattr__(self, "field", self.name)

    @property
    def on_command_line(self) -> bool:
        return self.help is not None

    def add_to(self, parser: Any, *, checked: bool = False) -> None:
        """Its flag on `parser` (an argparse parser or group; dest: `name`). `checked`: the
        value is converted (`convert`) as the arguments are parsed, a bad one refused there."""
        flags = self.flags or (f"--{self.name.replace('_', '-')}",)
        kwargs: dict[str, Any] = {"dest": self.name, "help": self.help or self.doc}
        if self.parse in ("store_true", "store_false", "append"):
            kwargs["action"] = self.parse
        elif self.parse is not None:
            kwargs["type"] = self.parse
        kwargs["default"] = [] if self.parse == "append" else self.default
        if checked and self.convert and "action" not in kwargs:
            kwargs["type"] = _argparse_type(self.convert)
        kwargs.update({k: getattr(self, k) for k in ("choices", "metavar") if getattr(self, k)})
        parser.add_argument(*flags, **kwargs)

    def from_args(self, args: argparse.Namespace) -> Any:
        """The keyword's value from parsed arguments."""
        value = getattr(args, self.name)
        return self.convert(value) if self.convert else value


def _argparse_type(convert: Callable[[Any], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    return parse


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


def auto_or_int(least: int) -> Callable[[str], int | str]:
    """An argparse type: "auto" or an int >= `least`."""

    def parse(text: str) -> int | str:
        if text == "auto":
            return text
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"expected 'auto' or an int >= {least}, got {text!r}")
        return value

    return parse


def min_epochs_of(value: Any) -> int | str:
    """`--min-epochs`: "auto" or an int (a ValueError naming the flag otherwise)."""
    if value == "auto":
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if isinstance(value, bool) or number < 0:
        raise ValueError(
            f"--min-epochs must be 'auto' or an int >= 0. Received: --min-epochs {value}"
        )
    return number


def verbosity(text: str) -> int | str:
    """An argparse type: Keras' fit verbosity ("auto", 0, 1 or 2)."""
    if text in ("auto", "0", "1", "2"):
        return text if text == "auto" else int(text)
    raise argparse.ArgumentTypeError(f"expected auto, 0, 1 or 2, got {text!r}")


#: Where a run's images are (`ferzoo.training.device_input`).
DATA_ON_DEVICE = ("auto", "on", "off")
#: `ferzoo.train`'s `outputs`: "all" files (`ferzoo.training.report`'s list) or "summary"
#: (config.json, history.csv, timings.json and the test metrics: a sweep trial's fold).
OUTPUTS = ("all", "summary")


def _data_options() -> tuple[Option, ...]:
    O = Option  # noqa: E741, N806  (the table reads as one)
    return (
        O("protocol", "data", defaults.PROTOCOL, '`"paper"` (the papers\' random split) or '
          '`"subject"` (subject-independent; see `ferzoo.data.protocols`)', "the split protocol",
          choices=("paper", "subject")),
        O("fold", "data", 0, "the held-out fold, 0-based", "held-out fold (0-based)", parse=int),
        O("num_folds", "data", defaults.NUM_FOLDS, "the protocol's fold count",
          "folds in the protocol", parse=int),
        O("image_size", "data", defaults.IMAGE_SIZE, "the side of the square input images",
          parse=int),
        O("batch_size", "data", defaults.BATCH_SIZE, "examples per batch", parse=int),
        O("augment", "data", defaults.AUGMENT_STRENGTH,
          "augmentation strength of the training part in [0, 1] (random resized crop, flip, "
          "rotation, brightness/contrast, on the device in the training step by "
          "`ferzoo.layers.FaceAugment`; 0: off; validation and test never)", parse=float),
        O("align", "data", False, "train on faces aligned by their five landmarks (rotated and "
          "scaled to a canonical eye position) instead of their boxes; recorded in config.json's "
          "`face`, which `ferzoo predict` follows", parse="store_true", sweep="pin"),
        O("detector", "data", None, "the face detector of a dataset prepared by this run "
          "(default YuNet; a prepared dataset keeps the one it was built with)",
          choices=defaults.DETECTOR_NAMES, sweep="pin"),
        O("data_dir", "paths", None, "the TFDS data directory", sweep="pass"),
        O("manual_dir", "paths", None, "the folder of your licensed copy (`image_folder`: your "
          "folder of labelled faces)", identity=False, sweep="pass"),
        O("subject_pattern", "paths", None, "`image_folder` only: a regex whose first group in "
          "each file name is the subject id (the subject protocol needs one)", metavar="REGEX",
          sweep="pin"),
    )  # fmt: skip


def _training_options() -> tuple[Option, ...]:
    from ferzoo.runtime.precision import CHOICES as PRECISIONS  # Keras-free
    from ferzoo.training.selection import AUTO, MONITORS

    O = Option  # noqa: E741, N806  (the table reads as one)
    return (
        O("epochs", "training", defaults.EPOCHS, "the most epochs to train (early stopping may "
          "end sooner; may be raised on resume)", parse=int, identity=False),
        O("learning_rate", "training", defaults.LEARNING_RATE, "Adam's learning rate",
          flags=("--lr", "--learning-rate"), parse=float),
        O("seed", "training", 0, "seeds Keras (Python, NumPy, backend) and the data order: the "
          "same seed on the same backend gives the same metrics", parse=int),
        O("label_smoothing", "training", 0.0, "smooth the one-hot targets by this much, in "
          "[0, 1)", parse=float, sweep="pin"),
        O("class_weight", "training", None, 'None, "balanced" (weights inverse to the training '
          "part's class counts, for imbalanced sets such as FER2013 and AffectNet) or "
          "`{class: weight}`", "weight the loss by inverse class frequency (imbalanced datasets)",
          choices=("balanced",), sweep="pin"),
        O("monitor", "selection", AUTO, 'the validation metric that picks the kept epoch and '
          'stops the run: "val_loss", "val_accuracy", "val_macro_f1" or "auto" (the papers\' '
          "lowest validation loss under the paper protocol; the highest validation accuracy, "
          "ties broken by loss, after a warm-up under the subject protocol; "
          "`ferzoo.training.selection`)", choices=(AUTO, *MONITORS), identity=False, sweep="pin"),
        O("min_epochs", "selection", AUTO, "no epoch before it is kept and no early stop happens "
          '("auto": 0 under the paper protocol, `min(10, max(1, epochs // 5))` under the subject '
          "protocol)", convert=min_epochs_of, identity=False, sweep="pin"),
        O("patience", "selection", defaults.PATIENCE, "early stopping: epochs without an "
          "improvement of the monitored metric larger than `min_delta`", parse=int,
          identity=False, sweep="pin"),
        O("min_delta", "selection", defaults.MIN_DELTA, "early stopping: the smallest change of "
          "the monitored metric that counts as an improvement", parse=float, identity=False,
          sweep="pin"),
        O("model_overrides", "model", None, 'keyword overrides for `ferzoo.build` (e.g. '
          '`{"attention": "wca"}`; a model given built takes none)', "model override for "
          "ferzoo.build, e.g. --set msc_kernels=(3,5) --set attention=wca", flags=("--set",),
          parse="append", metavar="KEY=VALUE", field="overrides", convert=parse_overrides),
        O("weights", "model", None, "initial weights (`ferzoo.build(weights=...)`: a torchvision "
          ".pth, a keras-hub preset folder, a ferzoo .keras / .weights.h5); the input "
          "normalisation they imply is applied to every part and recorded in config.json",
          metavar="PATH", sweep="pin"),
        O("precision", "model", "auto", 'the dtype policy: "float32", "mixed_float16", '
          '"mixed_bfloat16" or "auto" (float32 on a CPU, mixed precision on a GPU, bfloat16 '
          "where the GPU has it); a model given built keeps its own; config.json records the "
          "resolved policy", choices=PRECISIONS, sweep="pass"),
    )  # fmt: skip


def _run_options() -> tuple[Option, ...]:
    O = Option  # noqa: E741, N806  (the table reads as one)
    return (
        O("resume", "run", True, "continue from `<output_dir>/checkpoints/` when its "
          "configuration matches; False deletes any checkpoint there and starts over",
          "ignore and delete an existing checkpoint", flags=("--no-resume",),
          parse="store_false"),
        O("verbose", "run", "auto", 'Keras fit verbosity ("auto": a progress bar per epoch; 2: '
          "one line per epoch)", "Keras fit verbosity: auto, 0, 1, 2", parse=verbosity),
        O("data_on_device", "run", "auto", '"on": the training and validation images are placed '
          'on the device once and each step gathers its batch there; "off": the host gathers '
          'uint8 batches; "auto": on when they fit in a quarter of the device\'s memory (the '
          "same history either way; config.json records the choice and why)",
          "hold the training and validation images on the device and gather each batch there "
          "(auto: when they fit in a quarter of its memory)", choices=DATA_ON_DEVICE,
          sweep="pass"),
        O("steps_per_execution", "run", "auto", "training steps per Python call on TensorFlow "
          'and JAX (1 on PyTorch), or "auto": 1, raised after the first epoch on a GPU when a '
          "step is short (`ferzoo.training.step_loop`; timings.json records the count)",
          parse=auto_or_int(1), metavar="N", sweep="pass"),
        O("output_dir", "run", None, "where to write; default "
          "`runs/<dataset>/<model>/<protocol>/fold-<k>`", None),
        O("callbacks", "run", (), "extra Keras callbacks (e.g. an Optuna pruning callback); they "
          "run after the checkpointing one, so a pruned trial still leaves a consistent "
          "checkpoint", None),
        O("evaluate_test", "run", True, "evaluate the kept weights on the test part and write "
          "the metrics files", None),
        O("checkpoint", "run", True, "write resumable checkpoints (False: nothing but the run's "
          "summary files)", None),
        O("outputs", "run", "all", '"all" (every file of `ferzoo.training.report`) or "summary" '
          "(config.json, history.csv, timings.json and the test metrics: no model.keras and no "
          "curves, as a sweep trial's folds write)", None),
    )  # fmt: skip


#: Every training option, in the order of `ferzoo.train`'s signature.
OPTIONS: tuple[Option, ...] = (*_data_options(), *_training_options(), *_run_options())


def named(name: str) -> Option:
    """The option called `name`."""
    for option in OPTIONS:
        if option.name == name:
            return option
    raise KeyError(name)


def of_part(*parts: str) -> tuple[Option, ...]:
    """The options of `parts`, in the table's order."""
    return tuple(o for o in OPTIONS if o.part in parts)


def signature(head: list[inspect.Parameter], tail: list[inspect.Parameter]):
    """`ferzoo.train`'s signature: `head`, every option keyword-only with its default (a data
    option's is None: the recipe's default, or the loaded data's), then `tail`."""
    kw = inspect.Parameter.KEYWORD_ONLY
    params = [inspect.Parameter(o.name, kw, default=None if o.part == "data" else o.default)
              for o in OPTIONS]  # fmt: skip
    return inspect.Signature([*head, *params, *tail])


def docs(indent: str = "        ") -> str:
    """The options as the `Args:` entries of a docstring."""
    import textwrap

    lines = []
    for o in OPTIONS:
        default = "" if o.default in (None, (), "") else f" (default {o.default!r})"
        text = f"{o.name}: {o.doc}{default}."
        lines += textwrap.wrap(text, 96, initial_indent=indent, subsequent_indent=indent + "    ")
    return "\n".join(lines)
