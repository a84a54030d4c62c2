"""Training: the papers' recipe end to end, with resumable checkpoints.

`train(model, dataset, ...)` loads the data (`ferzoo.data.load`), builds the model
(`ferzoo.build`), trains it with Adam and early stopping on the validation loss, keeps the weights
of lowest validation loss, evaluates them once on the test part and writes the run's files:

    <output_dir>/                 default results/<dataset>/<model>/<protocol>/fold-<k>/
        metrics.json metrics.csv  test metrics (accuracy, macro and per-class P/R/F1, confusion)
        confusion_matrix.csv confusion_matrix.png curves.png history.csv
        config.json               every argument, class names, backend and library versions
        model.keras               the best weights (git-ignored)
        checkpoints/              resume state (git-ignored), see below

Example:

    import ferzoo
    result = ferzoo.train("resnet18", "synthetic_faces", image_size=64, epochs=10)
    result.test["accuracy"], result.best_epoch, result.output_dir

Checkpoints and resume: after every epoch the trainer writes, under `<output_dir>/checkpoints/`,
the model weights (`epoch-<n>.weights.h5`), the optimizer variables (`epoch-<n>.optimizer.npz`),
the best weights so far (`best-<n>.weights.h5`) and, last, `state.json` (written to a temp file
then `os.replace`d), which names those files and holds the history, the best validation loss and
the early-stopping counter. `state.json` is the commit point: a run killed at any moment
(SIGKILL included) leaves either the previous state or the new one, never a half-written one, and
files it does not name are deleted on the next start. Started again with the same arguments and
`resume=True`, `train` loads that state and calls `fit(initial_epoch=<epochs done>)`, so no
completed epoch is lost or repeated. `epochs` may be raised on resume; any other change of the
training arguments is refused (pass `resume=False` to start over). A resumed run sees the
shuffled training order of a fresh pipeline (tf.data restarts its epoch sequence), so its numbers
are not bit-identical to an uninterrupted run's.

Reference:
    The recipe is the papers': Adam at 1e-3, batch 16, 200 epochs (WAMF, "seed 000"); early
    stopping on the validation loss with min delta 1e-5 and patience 30, and the parameters of
    lowest validation loss kept and used on the test set (MsC/wCA, "seed 003"). Capsule-head
    models train with the margin loss (`ferzoo.losses.loss_for`). Early stopping counts an
    improvement only when the loss drops by more than `min_delta` (Keras' rule); the weights kept
    are those of the strictly lowest validation loss, as "the parameters which have the lowest
    loss on the validation set" reads.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from ferzoo import evaluate as ev

STATE_FILE = "state.json"
# Arguments that may differ between a run and its resumption.
_RESUMABLE_CHANGES = {"epochs", "verbose", "evaluate_test", "resume", "output_dir", "callbacks"}


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        history: per-epoch lists (`loss`, `accuracy`, `val_loss`, `val_accuracy`, `epoch_time`),
            over all epochs of the run, resumed ones included.
        best_epoch: 0-based epoch of the lowest validation loss (the weights kept).
        val_loss: the lowest validation loss.
        val_accuracy: the validation accuracy at `best_epoch`.
        test: the test metrics (`ferzoo.evaluate.classification_metrics`), or None when
            `evaluate_test=False`.
        output_dir: where the run's files are.
        model: the trained Keras model, with the best weights.
        epoch_time: median seconds per epoch (of the epochs run by this process and earlier ones).
        profile: `ferzoo.profile(model)`: params, trainable_params, macs.
    """

    history: dict[str, list[float]]
    best_epoch: int
    val_loss: float
    val_accuracy: float
    test: dict[str, Any] | None
    output_dir: str
    model: keras.Model = dataclasses.field(repr=False)
    epoch_time: float
    profile: dict[str, int]


def default_output_dir(dataset: str, model: str, protocol: str, fold: int) -> str:
    """`results/<dataset>/<model>/<protocol>/fold-<k>` (relative to the working directory)."""
    return os.path.join("results", dataset, model, protocol, f"fold-{fold}")


def library_versions() -> dict[str, str]:
    """Versions of Python, NumPy, Keras and the backends that are imported."""
    versions = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "keras": keras.__version__,
    }
    for name in ("tensorflow", "jax", "torch", "tensorflow_datasets"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = getattr(module, "__version__", "?")
    from ferzoo import __version__

    versions["ferzoo"] = __version__
    return versions


def _enable_determinism() -> None:
    """Make TensorFlow ops (tf.data included, which feeds every backend) deterministic."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()


def _to_float(value: Any) -> float:
    return (
        float(keras.ops.convert_to_numpy(value))
        if not isinstance(value, float | int)
        else float(value)
    )


class _CheckpointAndEarlyStop(keras.callbacks.Callback):
    """Early stopping on `val_loss`, best-weights tracking and per-epoch checkpoints, in one.

    Keras' own EarlyStopping resets its counters in `on_train_begin`, so it cannot carry them
    over a restart; this callback keeps them in the checkpoint's state.
    """

    def __init__(self, ckpt_dir: str, state: dict[str, Any], *, patience: int, min_delta: float):
        super().__init__()
        self.ckpt_dir = ckpt_dir
        self.state = state
        self.patience = patience
        self.min_delta = min_delta
        self.best_weights: list[np.ndarray] | None = None
        self._epoch_start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.perf_counter() - self._epoch_start
        logs = dict(logs or {})
        st = self.state
        history = st["history"]
        for key, value in logs.items():
            history.setdefault(key, []).append(_to_float(value))
        history.setdefault("epoch_time", []).append(elapsed)
        monitor = "val_loss" if "val_loss" in logs else "loss"
        current = _to_float(logs[monitor])
        tag = f"{epoch + 1:04d}"
        if np.isfinite(current) and current < st["best_val_loss"]:
            st["best_val_loss"] = current
            st["best_epoch"] = epoch
            self.best_weights = [np.array(w) for w in self.model.get_weights()]
            best_file = f"best-{tag}.weights.h5"
            self.model.save_weights(os.path.join(self.ckpt_dir, best_file))
            st["best_file"] = best_file
        if np.isfinite(current) and current < st["es_best"] - self.min_delta:
            st["es_best"] = current
            st["wait"] = 0
        else:
            st["wait"] += 1
        stop = st["wait"] >= self.patience
        if stop:
            self.model.stop_training = True
        st["epochs_done"] = epoch + 1
        st["stopped_early"] = bool(stop)
        weights_file = f"epoch-{tag}.weights.h5"
        optimizer_file = f"epoch-{tag}.optimizer.npz"
        self.model.save_weights(os.path.join(self.ckpt_dir, weights_file))
        variables = [keras.ops.convert_to_numpy(v) for v in self.model.optimizer.variables]
        with open(os.path.join(self.ckpt_dir, optimizer_file), "wb") as f:
            np.savez(f, *variables)
        st["weights_file"] = weights_file
        st["optimizer_file"] = optimizer_file
        _commit_state(self.ckpt_dir, st)


def _commit_state(ckpt_dir: str, state: dict[str, Any]) -> None:
    """Write state.json atomically, then delete the checkpoint files it no longer names."""
    ev.write_json(os.path.join(ckpt_dir, STATE_FILE), state)
    _prune(ckpt_dir, state)


def _prune(ckpt_dir: str, state: dict[str, Any]) -> None:
    keep = {
        STATE_FILE,
        state.get("weights_file"),
        state.get("optimizer_file"),
        state.get("best_file"),
    }
    for path in glob.glob(os.path.join(ckpt_dir, "*")):
        if os.path.basename(path) not in keep and os.path.isfile(path):
            os.remove(path)


def _load_state(ckpt_dir: str) -> dict[str, Any] | None:
    path = os.path.join(ckpt_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _identity_diff(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]


def _restore_optimizer(model: keras.Model, path: str) -> None:
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    with np.load(path) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    if len(arrays) != len(optimizer.variables):
        raise ValueError(
            f"The optimizer checkpoint {path} holds {len(arrays)} variables but the optimizer has "
            f"{len(optimizer.variables)}; pass resume=False to start over."
        )
    for variable, value in zip(optimizer.variables, arrays, strict=True):
        variable.assign(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def _with_cardinality(data: Any, part: str, batch_size: int) -> Any:
    """Tell tf.data how many batches a filtered part has, so that Keras shows the progress bar's
    total from the first epoch (and does not warn that the input ran out of data)."""
    ds = data[part]
    size = (getattr(data, "sizes", None) or {}).get(part)
    if size is None or not hasattr(ds, "cardinality"):
        return ds
    import tensorflow as tf

    if int(ds.cardinality()) != tf.data.UNKNOWN_CARDINALITY:
        return ds
    return ds.apply(tf.data.experimental.assert_cardinality(-(-int(size) // batch_size)))


def _check_args(epochs, batch_size, learning_rate, patience, min_delta, image_size, fold):
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("image_size", image_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ValueError(f"patience must be a positive int. Received: patience={patience!r}")
    if isinstance(fold, bool) or not isinstance(fold, int) or fold < 0:
        raise ValueError(f"fold must be an int >= 0. Received: fold={fold!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0. Received: learning_rate={learning_rate!r}")
    if not min_delta >= 0:
        raise ValueError(f"min_delta must be >= 0. Received: min_delta={min_delta!r}")


def train(
    model: str | keras.Model = "resnet18",
    dataset: Any = "synthetic_faces",
    *,
    protocol: str = "paper",
    fold: int = 0,
    num_folds: int = 10,
    image_size: int = 224,
    epochs: int = 200,
    batch_size: int = 16,
    learning_rate: float = 1e-3,
    seed: int = 0,
    patience: int = 30,
    min_delta: float = 1e-5,
    augment: float = 0.0,
    output_dir: str | None = None,
    model_overrides: dict[str, Any] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    evaluate_test: bool = True,
    resume: bool = True,
    data_dir: str | None = None,
    manual_dir: str | None = None,
    verbose: str | int = "auto",
) -> TrainResult:
    """Train a model on a dataset with the papers' recipe and write the run's files.

    Args:
        model: a registered model name (`ferzoo.list_models()`), or a built Keras model (its
            `name` is then used in paths; `model_overrides` must be empty).
        dataset: a TFDS dataset name registered by `ferzoo.datasets`, or an already loaded
            `ferzoo.data.LoadedData` (sweeps reuse one across trials; its `name` attribute, if
            any, is used in paths).
        protocol: the split protocol, `"paper"` or `"subject"` (see `ferzoo.data.load`).
        fold: which fold of the protocol to hold out.
        num_folds: how many folds the protocol has (passed to `ferzoo.data.load`).
        image_size: the side of the square input images.
        epochs: the most epochs to train (early stopping may end sooner).
        batch_size: examples per batch.
        learning_rate: Adam's learning rate.
        seed: seeds Keras (Python, NumPy, backend) and the data order; the same seed on the same
            backend gives the same metrics.
        patience: epochs without a validation-loss improvement larger than `min_delta` before
            stopping.
        min_delta: the smallest validation-loss drop that counts as an improvement.
        augment: augmentation strength passed to `ferzoo.data.load` (0 = none).
        output_dir: where to write; default `results/<dataset>/<model>/<protocol>/fold-<k>`.
        model_overrides: keyword overrides for `ferzoo.build` (e.g. `{"attention": "wca"}`).
        callbacks: extra Keras callbacks (e.g. an Optuna pruning callback); they run after the
            checkpointing one, so a pruned trial still leaves a consistent checkpoint.
        evaluate_test: evaluate the best weights on the test part and write the metrics files.
        resume: continue from `<output_dir>/checkpoints/` when its configuration matches;
            False deletes any checkpoint there and starts over.
        data_dir: TFDS data directory.
        manual_dir: TFDS manual directory (the licensed archives).
        verbose: Keras `fit` verbosity (`"auto"`: a progress bar per epoch).

    Returns:
        A `TrainResult`.

    Raises:
        ValueError: on a bad argument, on a checkpoint made with another configuration, and when
            the model's output size differs from the dataset's number of classes.

    Example:
        >>> r = train("cnn", "synthetic_faces", image_size=48, epochs=2)  # doctest: +SKIP
        >>> sorted(r.test)[:2]  # doctest: +SKIP
        ['accuracy', 'class_names']
    """
    _check_args(epochs, batch_size, learning_rate, patience, min_delta, image_size, fold)
    model_overrides = dict(model_overrides or {})
    if isinstance(model, keras.Model) and model_overrides:
        raise ValueError(
            "model_overrides apply to a model name, not to a built model. "
            f"Received: model={model.name!r}, model_overrides={model_overrides}"
        )
    if not isinstance(model, str | keras.Model):
        raise ValueError(f"model must be a model name or a keras.Model. Received: model={model!r}")

    keras.utils.set_random_seed(seed)
    _enable_determinism()

    # Data.
    if isinstance(dataset, str):
        from ferzoo import data as fdata

        data = fdata.load(
            dataset,
            protocol=protocol,
            fold=fold,
            num_folds=num_folds,
            image_size=image_size,
            batch_size=batch_size,
            seed=seed,
            augment=augment,
            data_dir=data_dir,
            manual_dir=manual_dir,
        )
        dataset_name = dataset.replace("/", "-")  # "name/config" stays one path component
    else:
        data = dataset
        dataset_name = str(getattr(data, "name", "custom")).replace("/", "-")
    class_names = [str(n) for n in data.class_names]
    train_ds, val_ds = data["train"], data["validation"]
    if isinstance(dataset, str):  # batched here with batch_size, so the batch counts are known
        train_ds = _with_cardinality(data, "train", batch_size)
        val_ds = _with_cardinality(data, "validation", batch_size)

    # Model.
    if isinstance(model, str):
        import ferzoo

        net = ferzoo.build(
            model,
            num_classes=len(class_names),
            input_shape=(image_size, image_size, 3),
            **model_overrides,
        )
        model_name = model
    else:
        net = model
        model_name = model.name
    ev.check_num_classes(net, class_names)

    from ferzoo import performance
    from ferzoo.losses import loss_for

    # The measured per-backend speed defaults (results/bench.md): batch norm through the
    # backend's fused kernel on TF and torch, convolutions without layout copies on torch
    # (same outputs), and the compile settings.
    performance.optimize(net)
    net.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss_for(net),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        **performance.default_compile_kwargs(),
    )

    output_dir = output_dir or default_output_dir(dataset_name, model_name, protocol, fold)
    ckpt_dir = os.path.join(output_dir, "checkpoints")
    os.makedirs(output_dir, exist_ok=True)

    backend = keras.backend.backend()
    identity = _jsonable(
        {
            "model": model_name,
            "dataset": dataset_name,
            "protocol": protocol,
            "fold": fold,
            "num_folds": num_folds,
            "image_size": image_size,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "seed": seed,
            "patience": patience,
            "min_delta": min_delta,
            "augment": augment,
            "model_overrides": model_overrides,
            "data_dir": data_dir,
            "backend": backend,
            "num_classes": len(class_names),
        }
    )

    # Resume, or start over.
    state = _load_state(ckpt_dir) if resume else None
    if not resume and os.path.isdir(ckpt_dir):
        shutil.rmtree(ckpt_dir)
    if state is not None:
        diff = _identity_diff(state.get("identity", {}), identity)
        if diff:
            raise ValueError(
                f"The checkpoint in {ckpt_dir} was made with other training arguments "
                f"({'; '.join(diff)}). Pass resume=False (--no-resume) to start over, or choose "
                "another output_dir."
            )
        _prune(ckpt_dir, state)
        net.optimizer.build(net.trainable_variables)  # so load_weights finds its variables
        net.load_weights(os.path.join(ckpt_dir, state["weights_file"]))
        _restore_optimizer(net, os.path.join(ckpt_dir, state["optimizer_file"]))
    else:
        state = {
            "identity": identity,
            "epochs_done": 0,
            "history": {},
            "best_val_loss": float("inf"),
            "best_epoch": -1,
            "es_best": float("inf"),
            "wait": 0,
            "stopped_early": False,
        }
    os.makedirs(ckpt_dir, exist_ok=True)

    config = {
        **identity,
        "epochs": epochs,
        "evaluate_test": evaluate_test,
        "resume": resume,
        "manual_dir": manual_dir,
        "output_dir": output_dir,
        "callbacks": [type(c).__name__ for c in (callbacks or [])],
        "verbose": verbose,
        "optimizer": "adam",
        "loss": type(net.loss).__name__ if net.loss is not None else None,
        "class_names": class_names,
        "input_shape": [image_size, image_size, 3],
        "data_sizes": _jsonable(getattr(data, "sizes", None)),
        "versions": library_versions(),
        "resumed_from_epoch": state["epochs_done"],
    }
    ev.write_json(os.path.join(output_dir, "config.json"), config)

    checkpointer = _CheckpointAndEarlyStop(ckpt_dir, state, patience=patience, min_delta=min_delta)
    start = int(state["epochs_done"])
    if start < epochs and not state["stopped_early"]:
        net.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            initial_epoch=start,
            callbacks=[checkpointer, *(callbacks or [])],
            verbose=verbose,
            shuffle=False,  # the pipeline shuffles (seeded); Keras cannot shuffle a tf.data input
        )

    # Keep the weights of lowest validation loss.
    if checkpointer.best_weights is not None:
        net.set_weights(checkpointer.best_weights)
    elif state.get("best_file"):
        net.load_weights(os.path.join(ckpt_dir, state["best_file"]))
    history = state["history"]
    best_epoch = int(state["best_epoch"])
    val_key = "val_accuracy" if "val_accuracy" in history else "accuracy"
    val_accuracy = float(history[val_key][best_epoch]) if best_epoch >= 0 else float("nan")

    tmp_model = os.path.join(output_dir, ".model-tmp.keras")
    net.save(tmp_model)
    os.replace(tmp_model, os.path.join(output_dir, "model.keras"))

    import ferzoo

    profile = ferzoo.profile(net)
    times = history.get("epoch_time", [])
    epoch_time = float(statistics.median(times)) if times else float("nan")
    title = f"{model_name} on {dataset_name} ({protocol}, fold {fold})"
    ev.write_history(history, os.path.join(output_dir, "history.csv"))
    ev.plot_curves(history, os.path.join(output_dir, "curves.png"), title=title)

    test = None
    if evaluate_test:
        test = ev.evaluate_model(net, data["test"], class_names)
        test.update(
            {
                "model": model_name,
                "dataset": dataset_name,
                "protocol": protocol,
                "fold": fold,
                "best_epoch": best_epoch,
                "epochs_run": len(history.get("loss", [])),
                "val_loss": float(state["best_val_loss"]),
                "val_accuracy": val_accuracy,
                "epoch_time": epoch_time,
                "profile": profile,
                "backend": backend,
            }
        )
        ev.write_metrics(test, output_dir, title=title)

    return TrainResult(
        history=history,
        best_epoch=best_epoch,
        val_loss=float(state["best_val_loss"]),
        val_accuracy=val_accuracy,
        test=test,
        output_dir=output_dir,
        model=net,
        epoch_time=epoch_time,
        profile=profile,
    )
