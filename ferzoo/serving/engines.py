"""The engines that turn a batch of preprocessed faces into scores: Keras, ONNX Runtime or
OpenVINO.

`load_engine(path)` picks by the file: a `.keras` file runs through Keras (the backend of this
process), an `.onnx` file through ONNX Runtime (or OpenVINO, `runtime="openvino"`), without
importing Keras or any backend. Both
take float32 `(B, S, S, 3)` RGB batches as `ferzoo.data.preprocess` returns them (stacked) and
return `(B, num_classes)` float32 scores; both carry `info`: `class_names`, `image_size`,
`normalization` and, where known, `model`, `dataset`, `protocol`, `metrics`.

Example:

    from ferzoo.serving.engines import load_engine

    engine = load_engine("resnet18.onnx", threads=2)
    engine.info["class_names"], engine.info["image_size"]
    scores = engine.predict(batch)          # (B, 7)

Reference:
    ONNX Runtime's CPU defaults (one intra-op thread per physical core, threads spinning while
    they wait for work) suit a machine the model has to itself. On a shared machine the spinning
    threads compete with the work (on this project's 2-core machine, under load, batch-1
    msc_wca_resnet18 ran 1.5x slower with spinning on: see results/inference.md), so the
    engine turns spinning off by default (`spinning=True` restores it) and takes the thread
    count as an option; graph optimisation stays at ONNX Runtime's highest level.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ferzoo.serving.metadata import parse_metadata, run_info

#: The model files `load_engine` reads.
MODEL_SUFFIXES = (".keras", ".onnx")


def _register_ferzoo_objects() -> None:
    """Import the modules whose classes a ferzoo `.keras` file may name."""
    import ferzoo.evaluation.losses  # noqa: F401
    import ferzoo.layers  # noqa: F401
    import ferzoo.models  # noqa: F401  (custom layers defined with the model families)


def _finish_info(info: dict[str, Any], num_outputs: int, side: int, class_names) -> dict:
    if class_names:
        info["class_names"] = [str(n) for n in class_names]
    if not info.get("class_names"):
        info["class_names"] = [f"class_{i}" for i in range(num_outputs)]
    if len(info["class_names"]) != num_outputs:
        raise ValueError(
            f"The model outputs {num_outputs} classes but {len(info['class_names'])} class names "
            f"were given. Received: class_names={info['class_names']}"
        )
    info["image_size"] = int(info.get("image_size") or side)
    info.setdefault("normalization", None)
    info.setdefault("face", None)
    return info


def load_model(path: str, class_names: Sequence[str] | None = None) -> tuple[Any, dict]:
    """Load a `.keras` model and what `ferzoo train` wrote beside it.

    Args:
        path: a `.keras` file. Class names come from `class_names` if given, else from the
            `config.json` beside it, else `class_0`, ...
        class_names: overrides the stored class names.

    Returns:
        `(model, info)`: `info` as `ferzoo.serving.metadata.run_info` gives it, with
        `class_names`, `image_size` and `normalization` always set.

    Raises:
        ValueError: when the file does not exist, or the number of class names does not match
            the model's output size.
        DamagedFileError: (a ValueError) the file is damaged or not a `.keras` model; one line
            naming it.

    Example:
        >>> model, info = load_model("results/kdef/resnet18/paper/fold-0/model.keras")  # doctest: +SKIP
    """
    if not os.path.isfile(path):
        raise ValueError(f"No model file at {path!r}. Received: model={path!r}")
    from ferzoo.pretrained.sources import load_keras_file

    _register_ferzoo_objects()
    model = load_keras_file(path, "the model.keras that `ferzoo train` wrote")
    shape = tuple(model.inputs[0].shape[1:])
    side = int(shape[1] if shape[0] == 3 and shape[-1] != 3 else shape[0])
    info = _finish_info(run_info(path), int(model.outputs[0].shape[-1]), side, class_names)
    return model, info


class KerasEngine:
    """Scores from a Keras model (`predict_on_batch`: compiled once, no per-call retracing).

    Args:
        model: a `keras.Model`, or the path of a `.keras` file (`load_model`).
        class_names: overrides the stored class names.
        info: the model's facts when `model` is a `keras.Model` (`load_model`'s `info`).
    """

    kind = "keras"

    def __init__(self, model: Any, class_names=None, info: dict | None = None) -> None:
        if isinstance(model, str | os.PathLike):
            model, info = load_model(os.fspath(model), class_names)
        else:
            shape = tuple(model.inputs[0].shape[1:])
            side = int(shape[1] if shape[0] == 3 and shape[-1] != 3 else shape[0])
            info = _finish_info(
                dict(info or {}), int(model.outputs[0].shape[-1]), side, class_names
            )
        self.model = model
        self.info = info
        shape = tuple(model.inputs[0].shape[1:])
        self.channels_first = shape[0] == 3 and shape[-1] != 3

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """`(B, S, S, 3)` float32 -> `(B, num_classes)` float32."""
        x = np.ascontiguousarray(np.moveaxis(batch, -1, 1) if self.channels_first else batch)
        return np.asarray(self.model.predict_on_batch(x), np.float32)


#: The runtimes an `OnnxEngine` can run an `.onnx` file in.
ONNX_RUNTIMES = ("onnxruntime", "openvino")


def _open_onnxruntime(path: str, threads, spinning: bool, providers):
    """`(run, input_shape, output_shape, metadata)` of `path` in ONNX Runtime."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only, not the optimiser's notes
    if threads:
        options.intra_op_num_threads = int(threads)
    options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
    session = ort.InferenceSession(
        path, options, providers=list(providers or ["CPUExecutionProvider"])
    )
    name = session.get_inputs()[0].name
    return (
        lambda x: session.run(None, {name: x})[0],
        list(session.get_inputs()[0].shape),
        list(session.get_outputs()[0].shape),
        session.get_modelmeta().custom_metadata_map,
    )


def _open_openvino(path: str, threads):
    """`(run, input_shape, output_shape, metadata)` of `path` in OpenVINO (CPU, float32)."""
    try:
        import onnx
        import openvino as ov
    except ImportError as err:
        raise ValueError(
            "--engine openvino needs OpenVINO: pip install 'ferzoo[openvino]'. "
            "Received: engine='openvino'"
        ) from err
    from ferzoo.serving.runtimes import OPENVINO_CONFIG

    config = dict(OPENVINO_CONFIG)
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    compiled = ov.Core().compile_model(path, "CPU", config)
    request = compiled.create_infer_request()

    def dims(port) -> list:
        return [d.get_length() if d.is_static else None for d in port.get_partial_shape()]

    stored = onnx.load(path, load_external_data=False).metadata_props
    return (
        lambda x: request.infer([x])[compiled.output(0)],
        dims(compiled.input(0)),
        dims(compiled.output(0)),
        {p.key: p.value for p in stored},
    )


class OnnxEngine:
    """Scores from an `.onnx` file on ONNX Runtime or OpenVINO (CPU), with no Keras or backend
    import.

    Args:
        path: the `.onnx` file (`ferzoo export --format onnx` stores the metadata it reads;
            other files work when their input is `(B, S, S, 3)` or `(B, 3, S, S)`).
        class_names: overrides the stored class names.
        threads: intra-op threads; None: the runtime's default (one per physical core).
        spinning: ONNX Runtime: let idle threads spin (lower latency on an idle machine, see
            Reference above).
        providers: ONNX Runtime execution providers; default CPU.
        runtime: "onnxruntime" (default) or "openvino" (`pip install 'ferzoo[openvino]'`;
            float32 on the CPU, see `ferzoo.serving.runtimes`).
    """

    kind = "onnx"

    def __init__(
        self,
        path: str,
        class_names=None,
        *,
        threads: int | None = None,
        spinning: bool = False,
        providers: Sequence[str] | None = None,
        runtime: str = "onnxruntime",
    ) -> None:
        if runtime not in ONNX_RUNTIMES:
            raise ValueError(f"engine must be one of {ONNX_RUNTIMES}. Received: engine={runtime!r}")
        if not os.path.isfile(path):
            raise ValueError(f"No model file at {path!r}. Received: model={path!r}")
        try:
            if runtime == "openvino":
                opened = _open_openvino(path, threads)
            else:
                opened = _open_onnxruntime(path, threads, spinning, providers)
        except ValueError:
            raise
        except Exception as err:  # each runtime raises its own error types for unreadable files
            name = "ONNX Runtime" if runtime == "onnxruntime" else "OpenVINO"
            raise ValueError(
                f"{name} cannot load {path!r} ({str(err).splitlines()[0][:200]}). "
                f"Received: model={path!r}"
            ) from err
        self.runtime = runtime
        self._run, shape, out_shape, stored = opened
        meta = parse_metadata(stored)
        self.channels_first = meta.get("input_layout") == "NCHW" or (
            "input_layout" not in meta and shape[1] == 3 and shape[-1] != 3
        )
        side = shape[2] if self.channels_first else shape[1]
        if not isinstance(side, int) and "image_size" not in meta:
            raise ValueError(
                f"{path!r} has no fixed input size and no ferzoo metadata. Received: "
                f"input_shape={shape}"
            )
        num_outputs = out_shape[-1]
        if not isinstance(num_outputs, int):
            num_outputs = len(meta.get("class_names") or class_names or [])
        self.info = _finish_info(meta, int(num_outputs), side, class_names)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """`(B, S, S, 3)` float32 -> `(B, num_classes)` float32."""
        x = np.moveaxis(batch, -1, 1) if self.channels_first else batch
        x = np.ascontiguousarray(x, np.float32)
        return np.asarray(self._run(x), np.float32)


def load_engine(
    model: Any,
    class_names: Sequence[str] | None = None,
    *,
    threads: int | None = None,
    spinning: bool = False,
    runtime: str = "onnxruntime",
) -> KerasEngine | OnnxEngine:
    """A `KerasEngine` for a `.keras` path or a `keras.Model`, an `OnnxEngine` for `.onnx`
    run by `runtime` (an engine given is returned as it is).

    Raises:
        ValueError: for a missing file, another suffix, or a runtime other than ONNX Runtime
            for a Keras model.
    """
    if isinstance(model, KerasEngine | OnnxEngine):
        return model
    keras_model = not isinstance(model, str | os.PathLike) or (
        os.fspath(model).lower().endswith(".keras")
    )
    if runtime != "onnxruntime" and keras_model:
        raise ValueError(f"--engine {runtime} runs .onnx files only. Received: model={model}")
    if not isinstance(model, str | os.PathLike):
        return KerasEngine(model, class_names)
    path = os.fspath(model)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in MODEL_SUFFIXES:
        raise ValueError(f"A model must be a .keras or an .onnx file. Received: model={path!r}")
    if not os.path.isfile(path):
        raise ValueError(f"No model file at {path!r}. Received: model={path!r}")
    if suffix == ".onnx":
        return OnnxEngine(path, class_names, threads=threads, spinning=spinning, runtime=runtime)
    return KerasEngine(path, class_names)
