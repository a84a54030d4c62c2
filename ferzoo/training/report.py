"""The run's files and result: config.json before training, the rest after it.

<output_dir>/                 default runs/<dataset>/<model>/<protocol>/fold-<k>/
    config.json               every argument, the selection rule, class names, versions,
                              the speed settings in effect and the processor
    history.csv curves.png    per-epoch metrics
    metrics.json metrics.csv  test metrics (accuracy, macro and per-class P/R/F1, confusion)
    confusion_matrix.csv confusion_matrix.png
    model.keras               the kept weights and the architecture, for serving: no optimizer
                              state and no compile config (`save_model`; git-ignored)
    checkpoints/              resume state (git-ignored; see ferzoo.training.checkpoints)
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import statistics
import sys
from typing import Any

import keras
import numpy as np

from ferzoo import __version__, files
from ferzoo.evaluation import evaluate as ev
from ferzoo.paths import run_dir
from ferzoo.runtime import cpu, performance
from ferzoo.runtime.profiling import profile as profile_of


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        history: per-epoch lists (`loss`, `accuracy`, `macro_f1`, their `val_` twins,
            `epoch_time`), over all epochs of the run, resumed ones included.
        best_epoch: 0-based epoch whose weights were kept (see `selection`).
        val_loss, val_accuracy, val_macro_f1: the validation metrics at `best_epoch`.
        selection: the model-selection rule used (`Selection.to_json()`).
        test: the test metrics (`ferzoo.evaluation.evaluate.classification_metrics`), or None when
            `evaluate_test=False`.
        output_dir: where the run's files are.
        model: the trained Keras model, with the kept weights.
        epoch_time: median seconds per epoch.
        profile: `ferzoo.profile(model)`: params, trainable_params, macs.
        timings: this call's seconds per part (`ferzoo.training.timing.PARTS`: data, build,
            compile, steps, validation, other) and `wall`, the `steps_per_execution` of its
            last epochs (`ferzoo.training.step_loop`) and whether the network and its compiled
            step were `reused` (`ferzoo.training.reuse`); also in timings.json.
        identity: what a checkpoint of this run must match (`trainer.identity_of`), and what
            a kept run must match to stand for this one (`ferzoo.training.trainer.replay`).
    """

    history: dict[str, list[float]]
    best_epoch: int
    val_loss: float
    val_accuracy: float
    val_macro_f1: float
    selection: dict[str, Any]
    test: dict[str, Any] | None
    output_dir: str
    model: keras.Model = dataclasses.field(repr=False)
    epoch_time: float
    profile: dict[str, int]
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    identity: dict[str, Any] = dataclasses.field(default_factory=dict)


def dataset_name(data) -> str:
    """The dataset's name as one path component ("synthetic_faces/tiny" -> "synthetic_faces-tiny")."""
    return str(getattr(data, "name", "custom")).replace("/", "-")


def default_output_dir(data, model_name: str) -> str:
    """`runs/<dataset>/<model>/<protocol>/fold-<k>` (relative to the working directory)."""
    return run_dir(dataset_name(data), model_name, str(data.protocol), data.fold)


def library_versions() -> dict[str, str]:
    """Versions of Python, NumPy, Keras, ferzoo and the backends that are imported."""
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "keras": keras.__version__,
        "ferzoo": __version__,
    }
    for name in ("tensorflow", "jax", "torch", "tensorflow_datasets"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    return versions


def enable_determinism() -> None:
    """Make TensorFlow's ops deterministic when TensorFlow is the backend (reproducible runs)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def write_config(spec, data, net: keras.Model, output_dir: str, identity: dict, state: dict,
                 where: dict | None = None):  # fmt: skip
    """config.json, written before training starts: the typed configuration under `"config"`
    (`RunConfig.to_json`), and beside it the checkpoint identity, how this call runs (`where`
    the data is, `ferzoo.training.device_input.placement`), and what the data and the model
    turned out to be (classes, sizes, input shape, versions, `performance_of(net)`)."""
    config = {
        **identity,
        "config": spec.config.to_json(),
        "epochs": spec.config.training.epochs,
        "selection": spec.config.training.selection.to_json(),
        "evaluate_test": spec.evaluate_test,
        "resume": spec.resume,
        "checkpoint": spec.checkpoint,
        "manual_dir": spec.config.data.manual_dir,
        "output_dir": output_dir,
        "callbacks": [type(c).__name__ for c in spec.callbacks],
        "verbose": spec.verbose,
        "data_on_device": where,
        "steps_per_execution": spec.steps_per_execution,
        "optimizer": spec.config.training.optimizer,
        "loss": type(net.loss).__name__ if net.loss is not None else None,
        "class_names": list(data.class_names),
        "normalization": getattr(data, "normalization", None),
        "face": getattr(data, "face", None),
        "weights_report": _weights_report(net),
        "input_shape": [int(d) for d in net.inputs[0].shape[1:]],
        "pipeline": getattr(data, "pipeline", None),
        "data_sizes": getattr(data, "sizes", None),
        "label_counts": getattr(data, "label_counts", None),
        "versions": library_versions(),
        "performance": performance_of(net),
        "resumed_from_epoch": state["epochs_done"],
    }
    files.write_json(os.path.join(output_dir, "config.json"), config)


def performance_of(net: keras.Model) -> dict[str, Any]:
    """How the run computes: the speed settings asked (`performance.resolve()`, as
    `ferzoo.train` applies them), those the compiled network runs with
    (`performance.in_effect`: Keras may differ, e.g. no XLA under TensorFlow's op determinism)
    and the processor (`cpu.processor()`: model, cores, vector extensions, level, cap)."""
    return {
        "settings": performance.resolve(),
        "in_effect": performance.in_effect(net),
        "processor": cpu.processor(),
    }


def _weights_report(net: keras.Model) -> dict | None:
    report = getattr(net, "pretrained_report", None)
    return report.to_dict() if report is not None else None


def chance_levels(data) -> dict[str, float]:
    """The test accuracy of guessing: uniform (1 / classes), and always the training part's
    most frequent class (`majority`)."""
    counts = getattr(data, "label_counts", None)
    k = len(data.class_names)
    out = {"uniform": 1.0 / k}
    if counts and sum(counts["test"]):
        majority = int(np.argmax(counts["train"]))
        out["majority"] = counts["test"][majority] / sum(counts["test"])
    return out


def subject_counts(data) -> dict[str, int]:
    """How many subjects each part holds (0 where the dataset has no subject ids)."""
    return {part: len(ids) for part, ids in (getattr(data, "subjects", None) or {}).items()}


def _at(history: dict[str, list[float]], key: str, epoch: int) -> float:
    values = history.get(key, [])
    return float(values[epoch]) if 0 <= epoch < len(values) else math.nan


def save_model(net: keras.Model, path: str) -> None:
    """Save `net` to a `.keras` file for serving, atomically: its architecture and weights only.

    `net.save` would also store the optimizer's state (Adam's two slots: 3x the weights) and
    the compile config; the resumable checkpoints keep those. A clone made from the config, not
    compiled, is saved instead: it loads with `keras.saving.load_model(path)` (no
    custom_objects) and holds the same weights. Compile the loaded model to train it further
    (`ferzoo.evaluation.losses.loss_for(model)` gives the loss).
    """
    bare = type(net).from_config(net.get_config())  # clone_model would compile it again
    if not bare.built and net.get_build_config():  # a subclassed model: as load_model builds it
        bare.build_from_config(net.get_build_config())
    bare.set_weights(net.get_weights())
    with files.atomic_path(path) as tmp:
        bare.save(tmp)


def finish(spec, net: keras.Model, data, keeper, output_dir: str, model_name: str):
    """Step 5: keep the chosen weights, save the model, write the curves and the test metrics
    (with `spec.outputs` "summary", neither the model nor the curves: a sweep trial's fold)."""
    weights = keeper.chosen_weights()
    if weights is not None:
        net.set_weights(weights)
    history = keeper.state["history"]
    best = int(keeper.state["best_epoch"])
    everything = spec.outputs == "all"
    if everything:
        save_model(net, os.path.join(output_dir, "model.keras"))
    profile = profile_of(net)
    times = history.get("epoch_time", [])
    epoch_time = float(statistics.median(times)) if times else math.nan
    title = f"{model_name} on {dataset_name(data)} ({data.protocol}, fold {data.fold})"
    ev.write_history(history, os.path.join(output_dir, "history.csv"))
    if everything:
        ev.plot_curves(history, os.path.join(output_dir, "curves.png"), title=title)
    val = {k: _at(history, f"val_{k}", best) for k in ("loss", "accuracy", "macro_f1")}
    test = None
    if spec.evaluate_test:
        test = ev.evaluate_model(net, data["test"], list(data.class_names))
        test.update(
            model=model_name,
            dataset=dataset_name(data),
            protocol=data.protocol,
            fold=data.fold,
            best_epoch=best,
            epochs_run=len(history.get("loss", [])),
            selection=spec.config.training.selection.to_json(),
            chance=chance_levels(data),
            subjects=subject_counts(data),
            **{f"val_{k}": v for k, v in val.items()},
            epoch_time=epoch_time,
            profile=profile,
            backend=keras.backend.backend(),
        )
        ev.write_metrics(test, output_dir, title=title)
    return TrainResult(
        history=history,
        best_epoch=best,
        val_loss=val["loss"],
        val_accuracy=val["accuracy"],
        val_macro_f1=val["macro_f1"],
        selection=spec.config.training.selection.to_json(),
        test=test,
        output_dir=output_dir,
        model=net,
        epoch_time=epoch_time,
        profile=profile,
    )


__all__ = ["TrainResult", "dataset_name", "default_output_dir", "finish", "library_versions",
           "save_model", "write_config"]  # fmt: skip
