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
import inspect
import json
import os
import shutil
from typing import Any

import keras
import numpy as np

from ferzoo import data as fdata
from ferzoo import files
from ferzoo.data.parts import LoadedData
from ferzoo.evaluation import evaluate as ev
from ferzoo.evaluation.losses import loss_for
from ferzoo.evaluation.metrics import MacroF1
from ferzoo.pretrained import normalization_for
from ferzoo.runtime import performance, precision
from ferzoo.training import checkpoints, device_input, options, report, reuse, step_loop, timing
from ferzoo.training.checkpoints import EpochKeeper
from ferzoo.training.config import RunConfig
from ferzoo.training.device_input import training_model
from ferzoo.training.options import OUTPUTS
from ferzoo.training.report import TrainResult
from ferzoo.training.reuse import Models


def _check_how(spec) -> None:
    device_input.check_data_on_device(spec.data_on_device)
    step_loop.check(spec.steps_per_execution, keras.backend.backend())
    if spec.outputs not in OUTPUTS:
        raise ValueError(f"outputs must be one of {OUTPUTS}. Received: outputs={spec.outputs!r}")


#: A run: its typed configuration (`config`), and how this call runs it: the "run" options of
#: `ferzoo.training.options` (where it writes, whether it resumes, its callbacks and verbosity:
#: a resumed run may change these), each a field with the option's default.
Spec = dataclasses.make_dataclass(
    "Spec",
    [("config", RunConfig),
     *((o.name, Any, dataclasses.field(default=o.default)) for o in options.of_part("run"))],
    frozen=True,
    namespace={"__post_init__": _check_how, "__module__": __name__},
)  # fmt: skip
#: `Spec`'s fields besides the configuration.
RUN_FIELDS = tuple(o.name for o in options.of_part("run"))


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
    """What a checkpoint must match to be resumed: the options declared part of the identity
    (`ferzoo.training.options`), the resolved selection rule, the backend and the classes."""
    c = spec.config
    declared = {o.name: c.value(o) for o in options.OPTIONS if o.identity and o.part != "run"}
    return files.jsonable(
        {
            "model": model_name,
            **declared,
            "dataset": report.dataset_name(data),
            "selection": dataclasses.asdict(c.training.selection) | {"reason": None},
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


def train(model: str | keras.Model = "resnet18", dataset: Any = "synthetic_faces", *,
          models: Models | None = None, **keywords: Any) -> TrainResult:  # fmt: skip
    """Train a model on a dataset with the papers' recipe and write the run's files (the
    keyword options are `ferzoo.training.options`'; the full text below is built from them)."""
    return run(spec_of(model, dataset, **keywords), model, dataset, models)


_TRAIN_DOC = """Train a model on a dataset with the papers' recipe and write the run's files.

    Args:
        model: a registered model name (`ferzoo.list_models()`), or a built Keras model (its
            `name` is then used in paths; `model_overrides` must be empty).
        dataset: a dataset name registered by `ferzoo.datasets`, or a `ferzoo.data.LoadedData`
            (then protocol, fold, num_folds, image_size, batch_size, augment, align and
            detector come from it; give them to `ferzoo.data.load` instead).
        models: a `ferzoo.training.reuse.Models` to take a registered model's network and
            compiled step from, reset to the state this run's seed would build (sweeps and
            `ferzoo cv` train one architecture many times); None: build afresh. With it,
            `TrainResult.model` is shared with the next run of the same architecture.
        The options, declared in `ferzoo.training.options` (a data option left None takes
        the recipe's default, or the loaded data's value):
{options}

    Returns:
        A `TrainResult`.

    Raises:
        ValueError: on a bad argument (before any work starts), on a checkpoint made with
            another configuration, and when the model's output size differs from the dataset's
            number of classes. A damaged checkpoint file is a `ferzoo.files.DamagedFileError`
            (a ValueError) naming it, raised before the first epoch. TypeError: an unknown
            keyword.

    Example:
        >>> r = train("cnn", "synthetic_faces", image_size=64, epochs=2)  # doctest: +SKIP
        >>> r.test["accuracy"], r.best_epoch, r.selection["monitor"]  # doctest: +SKIP
    """
train.__doc__ = _TRAIN_DOC.format(options=options.docs())
train.__signature__ = options.signature(
    [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
     for name, default in (("model", "resnet18"), ("dataset", "synthetic_faces"))],
    [inspect.Parameter("models", inspect.Parameter.KEYWORD_ONLY, default=None)],
)  # fmt: skip


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


def spec_of(model: Any, dataset: Any, **keywords: Any) -> Spec:
    """The `Spec` that `train(model, dataset, **keywords)` runs (`models` aside)."""
    how = {k: keywords.pop(k) for k in RUN_FIELDS if k in keywords}
    how["callbacks"] = tuple(how.get("callbacks") or ())  # a list given: frozen
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
