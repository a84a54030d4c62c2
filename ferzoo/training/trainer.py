"""`train`: the papers' recipe end to end, as five steps (data, model, resume, fit, report),
each run's time split into data, build, compile, steps, validation and the rest
(`ferzoo.training.timing`; timings.json and `TrainResult.timings`).

The step fits `ferzoo.training.device_input.training_model(net)` on uint8 batches
(`LoadedData.uint8_batches()`), or, with the data on the device, on row indices into the images
held there (`LoadedData.row_batches()`): the gather, the /255 conversion, the augmentation
(`FaceAugment`, training only) and a pretrained model's normalisation run in the compiled
step, on the device. It shares the network's weights and optimizer; the keeper, the
checkpoints, the saved model and the test evaluation all work on the network itself. How many
steps one call runs is `ferzoo.training.step_loop`'s."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np

from ferzoo import data as fdata
from ferzoo import defaults, files, performance, precision
from ferzoo import evaluate as ev
from ferzoo.data.parts import LoadedData
from ferzoo.losses import loss_for
from ferzoo.metrics import MacroF1
from ferzoo.pretrained import normalization_for
from ferzoo.training import checkpoints, device_input, report, reuse, step_loop, timing
from ferzoo.training.checkpoints import EpochKeeper
from ferzoo.training.config import DATA_FIELDS, RunConfig
from ferzoo.training.device_input import training_model
from ferzoo.training.report import TrainResult
from ferzoo.training.reuse import Models

#: What a run writes: "all" its files (README's list in `ferzoo.training.report`), "summary"
#: config.json, history.csv, timings.json and the test metrics only (a sweep trial's fold: no
#: model.keras and no curves, which the trial does not keep).
OUTPUTS = ("all", "summary")


@dataclasses.dataclass(frozen=True)
class Spec:
    """A run: its typed configuration, and how this call runs it (where it writes, whether it
    resumes, its callbacks and verbosity: a resumed run may change these)."""

    config: RunConfig
    callbacks: tuple[Any, ...] = ()
    evaluate_test: bool = True
    resume: bool = True
    checkpoint: bool = True
    output_dir: str | None = None
    verbose: Any = "auto"
    data_on_device: str = "auto"
    steps_per_execution: int | str = "auto"
    outputs: str = "all"

    def __post_init__(self):
        device_input.check_data_on_device(self.data_on_device)
        step_loop.check(self.steps_per_execution, keras.backend.backend())
        if self.outputs not in OUTPUTS:
            raise ValueError(
                f"outputs must be one of {OUTPUTS}. Received: outputs={self.outputs!r}"
            )


def load_data(spec: Spec, dataset: Any) -> LoadedData:
    """Step 1: the `LoadedData` to train on (given, or loaded by name)."""
    if isinstance(dataset, LoadedData):
        return dataset
    c = spec.config
    return fdata.load(c.data.dataset, seed=c.training.seed, **c.data.load_arguments())


def build_model(spec: Spec, model: Any, data, compiled: bool = True) -> tuple[keras.Model, str]:
    """Step 2: the network (built by name, or the given one), compiled unless `compiled` is
    False, and its name."""
    c = spec.config
    if isinstance(model, str):
        import ferzoo  # the public `ferzoo.build` (the registry, every family registered)

        size = c.data.image_size
        with precision.scope(c.model.precision):  # the layers keep the policy they are built with
            net = ferzoo.build(
                model,
                num_classes=len(data.class_names),
                input_shape=(size, size, 3),
                weights=c.model.weights,
                **c.model.overrides,
            )
    else:
        net = model
    ev.check_num_classes(net, data.class_names)
    if compiled:
        # The measured per-backend speed defaults (results/bench.md): fused batch norm on TF
        # and torch, convolutions without layout copies on torch (same outputs), compile
        # settings.
        performance.optimize(net)
        net.compile(
            optimizer=precision.optimizer_for(
                keras.optimizers.Adam(learning_rate=c.training.learning_rate), c.model.precision
            ),
            loss=loss_for(net, label_smoothing=c.training.label_smoothing),
            metrics=_metrics(data),
            **performance.default_compile_kwargs(),
        )
    return net, model if isinstance(model, str) else net.name


def _metrics(data) -> list[keras.metrics.Metric]:
    return [
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        MacroF1(len(data.class_names)),
    ]


def step_model(spec: Spec, net: keras.Model, data, table=None, compiled: bool = True):
    """Step 2b: what `fit` trains: `net` behind a uint8 input (or rows of `table`, the data
    on the device), the run's augmentation (seeded by the run's seed) and the data's
    normalisation (`device_input.training_model`), compiled (unless `compiled` is False) with
    `net`'s optimizer (one optimizer state: `net.save_weights` holds it) and loss."""
    model = training_model(
        net,
        augment=data.augment,
        seed=spec.config.training.seed,
        normalization=getattr(data, "normalization", None),
        table=table,
    )
    if not compiled:
        return model
    steps = spec.steps_per_execution
    model.compile(
        optimizer=net.optimizer,
        loss=net.loss,
        metrics=_metrics(data),
        steps_per_execution=1 if steps == "auto" else steps,
        **performance.default_compile_kwargs(),
    )
    return model


def place_data(spec: Spec, data) -> tuple[dict[str, Any], Any]:
    """Step 1b: whether the data's images go on the device (`device_input.placement`), and
    the `ImageTable` holding them there (one per process and table; or None)."""
    nbytes = sum(array.nbytes for array in data.table_key())
    where = device_input.placement(spec.data_on_device, nbytes)
    return where, device_input.table_layer(data) if where["on"] else None


def networks(spec: Spec, model: Any, data, table, models: Models | None):
    """Steps 2 and 2b: the network and the compiled step that trains it, built under the run's
    seed, or taken from `models` (`ferzoo.training.reuse`: reset to what that build would
    give) when the model is a registered name.

    Returns:
        `(network, step, model name, reused)`.
    """
    c = spec.config

    def fresh(seed: int, compiled: bool = True):
        reuse.set_seed(seed)  # the same draws for a build and its reuse
        net, _ = build_model(spec, model, data, compiled)
        return net, step_model(spec, net, data, table, compiled)

    if models is None or not isinstance(model, str):
        net, step = fresh(c.training.seed)
        return net, step, model if isinstance(model, str) else net.name, False
    key = reuse.key_of(spec, model, data, table)
    net, step, reused = models.acquire(
        key, c.training.seed, c.training.learning_rate, data.augment, fresh, holds=table
    )
    return net, step, model, reused


def identity_of(spec: Spec, data, model_name: str) -> dict[str, Any]:
    """What a checkpoint must match to be resumed."""
    c = spec.config
    return files.jsonable(
        {
            "model": model_name,
            "dataset": report.dataset_name(data),
            **{k: getattr(c.data, k) for k in DATA_FIELDS},
            "learning_rate": c.training.learning_rate,
            "seed": c.training.seed,
            "selection": dataclasses.asdict(c.training.selection) | {"reason": None},
            "model_overrides": c.model.overrides,
            "weights": c.model.weights,
            "label_smoothing": c.training.label_smoothing,
            "class_weight": c.training.class_weight,
            "precision": c.model.precision,
            "subject_pattern": c.data.subject_pattern,
            "data_dir": c.data.data_dir,
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
    return EpochKeeper(
        state,
        spec.config.training.selection,
        ckpt_dir if spec.checkpoint else None,
        best_weights,
        network=net,
    )


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


def fit(
    spec: Spec, model: keras.Model, data, keeper: EpochKeeper, timer: timing.FitTimer, where: dict
) -> int:
    """Step 4: train `model` (`step_model`'s) from the first epoch not yet done, unless the run
    stopped early, on the row batches when the data is on the device (`where["on"]`), else on
    the uint8 batches (`timer`: first of the callbacks; on a GPU, `where["device"]`, an "auto"
    `steps_per_execution` may rise after the first epoch, `step_loop`).

    Returns:
        The steps per call of the last epochs.
    """
    start, epochs = int(keeper.state["epochs_done"]), spec.config.training.epochs
    if start >= epochs or keeper.state["stopped_early"]:
        return model.steps_per_execution
    batches = data.row_batches() if where["on"] else data.uint8_batches()
    arguments = dict(
        validation_data=batches["validation"],
        class_weight=class_weights(spec.config.training.class_weight, data),
        callbacks=[timer, keeper, *spec.callbacks],
        verbose=spec.verbose,
        shuffle=False,  # the pipelines shuffle the training part (seeded)
    )
    tunes = step_loop.tunes(spec.steps_per_execution, keras.backend.backend(), where["device"])
    tunes = tunes and model.steps_per_execution == 1  # a reused step keeps its tuned count
    first = start + 1 if tunes else epochs
    model.fit(batches["train"], epochs=first, initial_epoch=start, **arguments)
    if first < epochs and not (keeper.state["stopped_early"] or model.stop_training):
        per_epoch = -(-data.sizes["train"] // data.batch_size)
        step_loop.use(model, step_loop.auto_steps(timer.step_seconds(), per_epoch))
        model.fit(batches["train"], epochs=epochs, initial_epoch=first, **arguments)
    return model.steps_per_execution


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
    align: bool | None = None,
    detector: str | None = None,
    epochs: int = defaults.EPOCHS,
    learning_rate: float = defaults.LEARNING_RATE,
    seed: int = 0,
    patience: int = defaults.PATIENCE,
    min_delta: float = defaults.MIN_DELTA,
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
    data_on_device: str = "auto",
    steps_per_execution: int | str = "auto",
    outputs: str = "all",
    models: Models | None = None,
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
            `ferzoo.defaults.AUGMENT_STRENGTH`; 0 turns it off), applied on the device by
            `ferzoo.layers.FaceAugment` in the training step (validation and test never).
        align: train on faces aligned by their five landmarks (`ferzoo.data.load`'s `align`;
            default False); recorded in config.json's `face`, which `ferzoo predict` follows.
        detector: the face detector of a dataset prepared by this call (default YuNet;
            `ferzoo.face.DETECTORS`); config.json's `face` records the one the data has.
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
        data_on_device: `"on"`: the training and validation images are placed on the device
            once and each step gathers its batch there; `"off"`: the host gathers uint8
            batches; `"auto"`: on when they fit in a quarter of the device's memory (on a
            CPU the host is the device). The same history either way
            (`ferzoo.training.device_input`; config.json records the choice and why).
        steps_per_execution: training steps per Python call on TensorFlow and JAX (1 on
            PyTorch), or `"auto"`: 1, raised after the first epoch on a GPU when a step is
            short (`ferzoo.training.step_loop`; timings.json records the count used).
        outputs: `"all"` (every file of `ferzoo.training.report`) or `"summary"` (config.json,
            history.csv, timings.json and the test metrics: no model.keras and no curves, as a
            sweep trial's folds write).
        models: a `ferzoo.training.reuse.Models` to take a registered model's network and
            compiled step from, reset to the state this run's seed would build (sweeps and
            `ferzoo cv` train one architecture many times); None: build afresh. With it,
            `TrainResult.model` is shared with the next run of the same architecture.

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
    config = RunConfig.of(
        model, dataset, epochs=epochs, learning_rate=learning_rate, seed=seed,
        patience=patience, min_delta=min_delta, monitor=monitor, min_epochs=min_epochs,
        model_overrides=model_overrides, weights=weights, precision=precision,
        label_smoothing=label_smoothing, class_weight=class_weight, protocol=protocol, fold=fold,
        num_folds=num_folds, image_size=image_size, batch_size=batch_size, augment=augment,
        align=align, detector=detector, data_dir=data_dir, manual_dir=manual_dir,
        subject_pattern=subject_pattern,
    )  # fmt: skip
    spec = Spec(config, tuple(callbacks or ()), evaluate_test, resume, checkpoint, output_dir,
                verbose, data_on_device, steps_per_execution, outputs)  # fmt: skip
    return run(spec, model, dataset, models)


def run(spec: Spec, model: str | keras.Model, dataset: Any, models: Models | None = None):
    """`train`'s five steps on a checked `Spec` (`model` and `dataset` as `train` takes them;
    their names and arguments are the configuration's); with `models`, a registered model's
    network and compiled step are taken from it (`ferzoo.training.reuse`)."""
    clock = timing.Clock()
    reuse.set_seed(spec.config.training.seed)
    report.enable_determinism()
    with clock.phase("data"):
        data = load_data(spec, dataset)
        if spec.config.model.weights is not None:
            data = data.rebatched(normalization=normalization_for(spec.config.model.weights))
        where, table = place_data(spec, data)
    with clock.phase("build"):
        net, stepper, model_name, reused = networks(spec, model, data, table, models)
    out = spec.output_dir or report.default_output_dir(data, model_name)
    os.makedirs(out, exist_ok=True)
    identity = identity_of(spec, data, model_name)
    keeper = resume_or_start(spec, net, out, identity)
    with clock.phase("report"):
        report.write_config(spec, data, net, out, identity, keeper.state, where)
    timer = timing.FitTimer()
    try:
        steps = fit(spec, stepper, data, keeper, timer, where)
    except Exception as stopped:  # a callback's (a pruned trial's): its time goes with it
        stopped.timings = clock.split(timer)
        raise
    with clock.phase("report"):
        result = report.finish(spec, net, data, keeper, out, model_name)
    result.timings = {**clock.split(timer), "steps_per_execution": steps, "reused": reused}
    result.identity = identity
    files.write_json(os.path.join(out, "timings.json"), result.timings)
    return result


#: `Spec`'s fields besides the configuration: how a call runs.
RUN_FIELDS = ("callbacks", "evaluate_test", "resume", "checkpoint", "output_dir", "verbose",
              "data_on_device", "steps_per_execution", "outputs")  # fmt: skip


def spec_of(model: Any, dataset: Any, **keywords: Any) -> Spec:
    """The `Spec` that `train(model, dataset, **keywords)` runs (`models` aside)."""
    how = {k: keywords.pop(k) for k in RUN_FIELDS if k in keywords}
    how["callbacks"] = tuple(how.get("callbacks") or ())
    return Spec(RunConfig.of(model, dataset, **keywords), **how)


def kept_of(result: TrainResult, epochs: int) -> dict[str, Any]:
    """What `replay` needs of a finished run of `epochs` epochs: its identity, its keeper's
    history and kept epoch, and the kept weights (copied: the network may train on)."""
    state = {"history": result.history, "best_epoch": int(result.best_epoch),
             "epochs_done": len(result.history.get("loss", []))}  # fmt: skip
    weights = [np.array(w) for w in result.model.get_weights()]
    return {"identity": result.identity, "epochs": int(epochs), "state": state, "weights": weights}


def same_run(identity: dict[str, Any], epochs: int, kept: dict[str, Any]) -> bool:
    """Whether `kept` (`kept_of`) was trained as a run of `identity` and `epochs` would be."""
    as_text = functools.partial(json.dumps, sort_keys=True, default=str)
    return kept.get("epochs") == epochs and as_text(kept.get("identity")) == as_text(identity)


def replay(spec: Spec, model: str, dataset: Any, kept: dict[str, Any],
           models: Models | None = None) -> TrainResult | None:  # fmt: skip
    """A run trained already (a sweep trial's fold: `kept_of`), written as `run` writes a
    finished one (config.json, model.keras, curves, the test metrics) with no training step:
    the network built (or taken from `models`) with the kept weights and history.

    Returns:
        The `TrainResult` (`timings["replayed"]` true), or None, with nothing written, when
        `kept` is not this run (`same_run`): then `run` must train it.
    """
    clock = timing.Clock()
    report.enable_determinism()
    with clock.phase("data"):
        data = load_data(spec, dataset)
        if spec.config.model.weights is not None:
            data = data.rebatched(normalization=normalization_for(spec.config.model.weights))
    identity = identity_of(spec, data, model)
    if not same_run(identity, spec.config.training.epochs, kept):
        return None
    with clock.phase("data"):
        where, table = place_data(spec, data)
    with clock.phase("build"):
        net, _, _, reused = networks(spec, model, data, table, models)
    out = spec.output_dir or report.default_output_dir(data, model)
    os.makedirs(out, exist_ok=True)
    state = {**checkpoints.new_state(identity), **kept["state"]}
    keeper = EpochKeeper(state, spec.config.training.selection, None, kept["weights"], net)
    with clock.phase("report"):
        report.write_config(spec, data, net, out, identity, state, where)
        result = report.finish(spec, net, data, keeper, out, model)
    result.timings = {**clock.split(), "reused": reused, "replayed": True}
    result.identity = identity
    files.write_json(os.path.join(out, "timings.json"), result.timings)
    return result


__all__ = ["OUTPUTS", "RUN_FIELDS", "Spec", "TrainResult", "kept_of", "replay", "run", "same_run",
           "spec_of", "train"]  # fmt: skip
