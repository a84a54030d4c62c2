"""`train`: the papers' recipe end to end, as five steps (data, model, resume, fit, report)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Sequence
from typing import Any

import keras

from ferzoo import files
from ferzoo.data.augment import DEFAULT_STRENGTH
from ferzoo.training import checkpoints, report, selection
from ferzoo.training.checkpoints import EpochKeeper
from ferzoo.training.report import TrainResult

# Arguments that may differ between a run and its resumption.
_RESUMABLE = {"epochs", "verbose", "evaluate_test", "resume", "output_dir", "callbacks"}
# Data arguments, with their defaults when `dataset` is a name.
_DATA_DEFAULTS = dict(
    protocol="paper", fold=0, num_folds=10, image_size=224, batch_size=16, augment=DEFAULT_STRENGTH
)


@dataclasses.dataclass
class Spec:
    """A run's resolved arguments (the output of the argument checks)."""

    epochs: int
    learning_rate: float
    seed: int
    selection: selection.Selection
    model_overrides: dict[str, Any]
    callbacks: list[Any]
    evaluate_test: bool
    resume: bool
    checkpoint: bool
    output_dir: str | None
    data_dir: str | None
    manual_dir: str | None
    verbose: Any
    data_args: dict[str, Any]
    subject_pattern: str | None = None
    weights: str | None = None
    label_smoothing: float = 0.0
    class_weight: Any = None
    precision: str = "float32"  # the resolved dtype policy (ferzoo.precision)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    return value


def _data_args(dataset: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The data arguments: from a loaded dataset (a different value given is an error)."""
    from ferzoo.data import LoadedData

    if not isinstance(dataset, LoadedData):
        args = {k: (_DATA_DEFAULTS[k] if v is None else v) for k, v in given.items()}
        from ferzoo.data.loader import check_load_args

        check_load_args(**args)
        return args
    args = {k: getattr(dataset, k) for k in given}
    clash = [f"{k}={v!r} (the data has {args[k]!r})" for k, v in given.items()
             if v is not None and v != args[k]]  # fmt: skip
    if clash:
        raise ValueError(
            f"These arguments differ from the loaded data's: {', '.join(clash)}. Pass them to "
            "ferzoo.data.load instead, or leave them out."
        )
    return args


def load_data(spec: Spec, dataset: Any):
    """Step 1: the `LoadedData` to train on (given, or loaded by name)."""
    from ferzoo import data as fdata

    if isinstance(dataset, fdata.LoadedData):
        return dataset
    if not isinstance(dataset, str):
        raise ValueError(
            f"dataset must be a dataset name or a ferzoo.data.LoadedData. Received: {dataset!r}"
        )
    args = spec.data_args
    return fdata.load(
        dataset,
        seed=spec.seed,
        data_dir=spec.data_dir,
        manual_dir=spec.manual_dir,
        subject_pattern=spec.subject_pattern,
        **{k: args[k] for k in _DATA_DEFAULTS},
    )


def build_model(spec: Spec, model: Any, data) -> tuple[keras.Model, str]:
    """Step 2: the compiled model (built by name, or the given one) and its name."""
    from ferzoo import evaluate as ev
    from ferzoo import performance, precision
    from ferzoo.losses import loss_for
    from ferzoo.metrics import MacroF1

    if isinstance(model, str):
        import ferzoo

        size = spec.data_args["image_size"]
        with precision.scope(spec.precision):  # the layers keep the policy they are built with
            net = ferzoo.build(
                model,
                num_classes=len(data.class_names),
                input_shape=(size, size, 3),
                weights=spec.weights,
                **spec.model_overrides,
            )
    else:
        net = model
    ev.check_num_classes(net, data.class_names)
    # The measured per-backend speed defaults (results/bench.md): fused batch norm on TF and
    # torch, convolutions without layout copies on torch (same outputs), compile settings.
    performance.optimize(net)
    net.compile(
        optimizer=precision.optimizer_for(
            keras.optimizers.Adam(learning_rate=spec.learning_rate), spec.precision
        ),
        loss=loss_for(net, label_smoothing=spec.label_smoothing),
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            MacroF1(len(data.class_names)),
        ],
        **performance.default_compile_kwargs(),
    )
    return net, model if isinstance(model, str) else net.name


def identity_of(spec: Spec, data, model_name: str) -> dict[str, Any]:
    """What a checkpoint must match to be resumed."""
    return files.jsonable(
        {
            "model": model_name,
            "dataset": report.dataset_name(data),
            **{k: spec.data_args[k] for k in _DATA_DEFAULTS},
            "learning_rate": spec.learning_rate,
            "seed": spec.seed,
            "selection": dataclasses.asdict(spec.selection) | {"reason": None},
            "model_overrides": spec.model_overrides,
            "weights": spec.weights,
            "label_smoothing": spec.label_smoothing,
            "class_weight": spec.class_weight,
            "precision": spec.precision,
            "subject_pattern": spec.subject_pattern,
            "data_dir": spec.data_dir,
            "backend": keras.backend.backend(),
            "num_classes": len(data.class_names),
        }
    )


def resume_or_start(spec: Spec, net: keras.Model, output_dir: str, identity: dict) -> EpochKeeper:
    """Step 3: the epoch keeper, with the checkpoint's state restored when it matches.

    Raises:
        ValueError: the checkpoint was made with other arguments.
        DamagedFileError: a checkpoint file is damaged or missing (one line; `--no-resume`).
    """
    ckpt_dir = os.path.join(output_dir, "checkpoints")
    if not spec.resume and os.path.isdir(ckpt_dir):
        shutil.rmtree(ckpt_dir)
    state = checkpoints.load_state(ckpt_dir) if spec.resume and spec.checkpoint else None
    best_weights = None
    if state is not None:
        old = state.get("identity", {})
        diff = [f"{k}: {old.get(k)!r} -> {identity.get(k)!r}"
                for k in sorted(set(old) | set(identity)) if old.get(k) != identity.get(k)]  # fmt: skip
        if diff:
            raise ValueError(
                f"The checkpoint in {ckpt_dir} was made with other training arguments "
                f"({'; '.join(diff)}). Pass resume=False (--no-resume) to start over, or choose "
                "another output_dir."
            )
        best_weights = checkpoints.restore(net, ckpt_dir, state)
    else:
        state = checkpoints.new_state(identity)
    if spec.checkpoint:
        os.makedirs(ckpt_dir, exist_ok=True)
    return EpochKeeper(state, spec.selection, ckpt_dir if spec.checkpoint else None, best_weights)


def class_weights(option: Any, data) -> dict[int, float] | None:
    """Keras' `class_weight`: None, "balanced" (n / (k * count) per class, from the training
    part) or a `{class id or name: weight}` mapping."""
    if option is None:
        return None
    counts = data.label_counts["train"]
    if option == "balanced":
        total, k = sum(counts), len(counts)
        return {i: (total / (k * c) if c else 0.0) for i, c in enumerate(counts)}
    if isinstance(option, dict):
        names = list(data.class_names)
        out = {}
        for key, weight in option.items():
            index = names.index(key) if key in names else key
            if not isinstance(index, int) or not 0 <= index < len(names):
                raise ValueError(f"class_weight names an unknown class. Received: {key!r}")
            out[index] = float(weight)
        return out
    raise ValueError(
        f"class_weight must be None, 'balanced' or a mapping. Received: class_weight={option!r}"
    )


def fit(spec: Spec, net: keras.Model, data, keeper: EpochKeeper) -> None:
    """Step 4: train from the first epoch not yet done, unless the run stopped early."""
    start = int(keeper.state["epochs_done"])
    if start >= spec.epochs or keeper.state["stopped_early"]:
        return
    net.fit(
        data["train"],
        validation_data=data["validation"],
        class_weight=class_weights(spec.class_weight, data),
        epochs=spec.epochs,
        initial_epoch=start,
        callbacks=[keeper, *spec.callbacks],
        verbose=spec.verbose,
        shuffle=False,  # the pipelines shuffle the training part (seeded)
    )


def _precision(value: Any) -> str:
    from ferzoo import precision

    return precision.resolve(precision.check(value))


def _spec(epochs, learning_rate, seed, patience, min_delta, monitor, min_epochs, protocol,
          model, model_overrides, callbacks, **rest) -> Spec:  # fmt: skip
    _positive_int("epochs", epochs)
    if not (isinstance(learning_rate, int | float) and learning_rate > 0):
        raise ValueError(f"learning_rate must be > 0. Received: learning_rate={learning_rate!r}")
    model_overrides = dict(model_overrides or {})
    if isinstance(model, keras.Model) and model_overrides:
        raise ValueError(
            "model_overrides apply to a model name, not to a built model. "
            f"Received: model={model.name!r}, model_overrides={model_overrides}"
        )
    if not isinstance(model, str | keras.Model):
        raise ValueError(f"model must be a model name or a keras.Model. Received: model={model!r}")
    if isinstance(model, str):
        from ferzoo import registry

        registry.check(model, rest["data_args"]["image_size"], **model_overrides)
    smoothing = rest.get("label_smoothing", 0.0)
    if not (isinstance(smoothing, int | float) and 0 <= smoothing < 1):
        raise ValueError(
            f"label_smoothing must be in [0, 1). Received: label_smoothing={smoothing!r}"
        )
    if rest.get("class_weight") not in (None, "balanced") and not isinstance(
        rest["class_weight"], dict
    ):
        raise ValueError(
            "class_weight must be None, 'balanced' or a mapping. "
            f"Received: class_weight={rest['class_weight']!r}"
        )
    rule = selection.resolve(
        protocol, epochs, monitor=monitor, min_epochs=min_epochs, patience=patience,
        min_delta=min_delta,
    )  # fmt: skip
    return Spec(epochs=epochs, learning_rate=float(learning_rate), seed=seed, selection=rule,
                model_overrides=model_overrides, callbacks=list(callbacks or []), **rest)  # fmt: skip


def train(
    model: str | keras.Model = "resnet18",
    dataset: Any = "synthetic_faces",
    *,
    protocol: str | None = None,
    fold: int | None = None,
    num_folds: int | None = None,
    image_size: int | None = None,
    batch_size: int | None = None,
    augment: float | None = None,
    epochs: int = 200,
    learning_rate: float = 1e-3,
    seed: int = 0,
    patience: int = 30,
    min_delta: float = 1e-5,
    monitor: str = "auto",
    min_epochs: int | str = "auto",
    output_dir: str | None = None,
    model_overrides: dict[str, Any] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    evaluate_test: bool = True,
    resume: bool = True,
    checkpoint: bool = True,
    data_dir: str | None = None,
    manual_dir: str | None = None,
    subject_pattern: str | None = None,
    weights: str | None = None,
    label_smoothing: float = 0.0,
    class_weight: Any = None,
    precision: str = "auto",
    verbose: str | int = "auto",
) -> TrainResult:
    """Train a model on a dataset with the papers' recipe and write the run's files.

    Args:
        model: a registered model name (`ferzoo.list_models()`), or a built Keras model (its
            `name` is then used in paths; `model_overrides` must be empty).
        dataset: a dataset name registered by `ferzoo.datasets`, or a `ferzoo.data.LoadedData`
            (then protocol, fold, num_folds, image_size, batch_size and augment come from it;
            give them to `ferzoo.data.load` instead).
        protocol: `"paper"` (default) or `"subject"` (see `ferzoo.data.protocols`).
        fold, num_folds: the held-out fold and the protocol's fold count (default 0 of 10).
        image_size: the side of the square input images (default 224).
        batch_size: examples per batch (default 16).
        augment: augmentation strength of the training part, in [0, 1] (default 0.5,
            `ferzoo.data.augment.DEFAULT_STRENGTH`; 0 turns it off).
        epochs: the most epochs to train (early stopping may end sooner).
        learning_rate: Adam's learning rate.
        seed: seeds Keras (Python, NumPy, backend) and the data order; the same seed on the same
            backend gives the same metrics.
        patience, min_delta: early stopping: epochs without an improvement of the monitored
            metric larger than `min_delta`.
        monitor: the validation metric that picks the kept epoch and stops the run:
            `"val_loss"`, `"val_accuracy"`, `"val_macro_f1"`, or `"auto"` (the papers' lowest
            validation loss under the paper protocol; the highest validation accuracy, ties
            broken by loss, after a warm-up under the subject protocol; see
            `ferzoo.training.selection`).
        min_epochs: no epoch before it is kept and no early stop happens (`"auto"`: 0 under
            the paper protocol, `min(10, max(1, epochs // 5))` under the subject protocol).
        output_dir: where to write; default `runs/<dataset>/<model>/<protocol>/fold-<k>`.
        model_overrides: keyword overrides for `ferzoo.build` (e.g. `{"attention": "wca"}`).
        callbacks: extra Keras callbacks (e.g. an Optuna pruning callback); they run after the
            checkpointing one, so a pruned trial still leaves a consistent checkpoint.
        evaluate_test: evaluate the kept weights on the test part and write the metrics files.
        resume: continue from `<output_dir>/checkpoints/` when its configuration matches;
            False deletes any checkpoint there and starts over.
        checkpoint: write resumable checkpoints (False: sweep trials, nothing but the run's
            summary files is written).
        data_dir, manual_dir: TFDS data directory and the licensed archives' folder (for
            `image_folder`, your folder of labelled faces).
        subject_pattern: `image_folder` only: a regex whose first group in each file name is
            the subject id (the subject protocol needs one).
        weights: initial weights (`ferzoo.build(weights=...)`: a torchvision `.pth`, a
            keras-hub preset folder, a ferzoo `.keras` / `.weights.h5`); the input
            normalisation they imply (ImageNet's mean and std) is applied to every part and
            recorded in config.json.
        label_smoothing: smooth the one-hot targets by this much (0: none).
        class_weight: None, "balanced" (weights inverse to the training part's class counts,
            for imbalanced sets such as FER2013 and AffectNet) or `{class: weight}`.
        precision: the dtype policy: `"float32"`, `"mixed_float16"`, `"mixed_bfloat16"` or
            `"auto"` (float32 on a CPU, mixed precision on a GPU, bfloat16 where the GPU has
            it; `ferzoo.precision.resolve`). A model given built keeps its own policy; the
            resolved policy is recorded in config.json.
        verbose: Keras `fit` verbosity (`"auto"`: a progress bar per epoch).

    Returns:
        A `TrainResult`.

    Raises:
        ValueError: on a bad argument (before any work starts), on a checkpoint made with
            another configuration, and when the model's output size differs from the dataset's
            number of classes. A damaged checkpoint file is a `ferzoo.files.DamagedFileError`
            (a ValueError) naming it, raised before the first epoch.

    Example:
        >>> r = train("cnn", "synthetic_faces", image_size=64, epochs=2)  # doctest: +SKIP
        >>> r.test["accuracy"], r.best_epoch, r.selection["monitor"]  # doctest: +SKIP
    """
    given = dict(protocol=protocol, fold=fold, num_folds=num_folds, image_size=image_size,
                 batch_size=batch_size, augment=augment)  # fmt: skip
    data_args = _data_args(dataset, given)
    spec = _spec(epochs, learning_rate, seed, patience, min_delta, monitor, min_epochs,
                 data_args["protocol"], model, model_overrides, callbacks,
                 evaluate_test=evaluate_test, resume=resume, checkpoint=checkpoint,
                 output_dir=output_dir, data_dir=data_dir, manual_dir=manual_dir,
                 verbose=verbose, data_args=data_args, subject_pattern=subject_pattern,
                 weights=None if weights is None else str(weights),
                 label_smoothing=label_smoothing, class_weight=class_weight,
                 precision=_precision(precision))  # fmt: skip
    keras.utils.set_random_seed(seed)
    report.enable_determinism()
    data = load_data(spec, dataset)
    if spec.weights is not None:
        from ferzoo.pretrained import normalization_for

        data = data.rebatched(normalization=normalization_for(spec.weights))
    net, model_name = build_model(spec, model, data)
    out = spec.output_dir or report.default_output_dir(data, model_name)
    os.makedirs(out, exist_ok=True)
    identity = identity_of(spec, data, model_name)
    keeper = resume_or_start(spec, net, out, identity)
    report.write_config(spec, data, net, out, identity, keeper.state)
    fit(spec, net, data, keeper)
    return report.finish(spec, net, data, keeper, out, model_name)


__all__ = ["Spec", "TrainResult", "train"]
