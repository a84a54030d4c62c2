"""Export a Keras model for serving (ONNX, TFLite, SavedModel, .keras) and check the export.

Every export is written under a temporary name, run on random inputs (batch 1 and 3, so the
batch dimension is checked to be free) and compared with the Keras model; only when the largest
absolute difference is within `atol` (1e-4) does it replace the target. Otherwise nothing is
left behind and a ValueError says by how much it differed.

| format | backends | how | metadata |
|---|---|---|---|
| `onnx` | tensorflow, torch, jax | Keras' `model.export(format="onnx")` (tf2onnx) on TensorFlow; `torch.onnx.export(dynamo=True)` with a symbolic batch on PyTorch; jax2onnx on JAX | `metadata_props` in the file |
| `tflite` | tensorflow | Keras' `model.export(format="litert")` | `<name>.ferzoo.json` beside |
| `savedmodel` | tensorflow | `model.export(format="tf_saved_model")` | `ferzoo.json` inside |
| `keras` | all | `model.save` | `config.json` beside (if none) |

The ONNX graph is then finished by `ferzoo.serving.onnx_graph`: input `image` (float32, the
model's layout, RGB in [0, 1] after the stored normalisation), output `scores`, dimension 0
`batch`, the stem's zero pad folded into its max pool, the MsC stem's concatenation moved
after its pool, (JAX) the pools ONNX Runtime cannot run rewritten, nodes on constants
computed, every Shape-driven Reshape given a constant target and the pooled map flattened, and
the adaptive pools' repeats, gathers and means (`ferzoo.serving.onnx_pools`) written in ops
that OpenVINO and OpenCV DNN take, so that every registered model from every backend runs
there too (`check_runtimes` runs it in each installed runtime; `ferzoo.serving.quantize`
makes an int8 model of it).

Example:

    from ferzoo.serving.export import export_model
    from ferzoo.serving.engines import load_model

    model, info = load_model("results/kdef/resnet18/paper/fold-0/model.keras")
    diff = export_model(model, "resnet18.onnx", "onnx", info=info)   # max |ORT - Keras|

Reference:
    Not everything exports everywhere (Keras 3.15, tf2onnx 1.17, torch 2.13, jax2onnx 0.17):
    TFLite needs TensorFlow here (Keras' PyTorch route needs `litert_torch`, not installed;
    JAX has none). The AlexNet-style models (cnn, mcnn, wca_*, wse_mcnn) pool to 6x6 with
    `AdaptiveAveragePooling2D`, which on TensorFlow and JAX exports only from a map of at least
    2x2; the models repeat a 1x1 map (64 px and less) first, so they export at any size.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ferzoo import files
from ferzoo.serving import metadata as meta
from ferzoo.serving import onnx_graph, onnx_pools
from ferzoo.serving.records import _umask, readable

EXPORT_FORMATS = ("onnx", "tflite", "savedmodel", "keras")
_SUFFIX = {"onnx": ".onnx", "tflite": ".tflite", "keras": ".keras"}
_BACKENDS = {"tflite": ("tensorflow",), "savedmodel": ("tensorflow",)}


def _check_target(model, path: str, format: str, backend: str) -> None:
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}. Received: format={format!r}")
    suffix = _SUFFIX.get(format)
    if suffix and not path.lower().endswith(suffix):
        raise ValueError(f"A {format} export path must end in {suffix}. Received: path={path!r}")
    allowed = _BACKENDS.get(format)
    if allowed and backend not in allowed:
        raise ValueError(
            f"A {format} export needs the {' or '.join(allowed)} backend (run `ferzoo export "
            f"--backend tensorflow`; a .keras file loads on any backend). Received: "
            f"backend={backend!r}"
        )
    if model.dtype_policy.name != "float32":
        raise ValueError(
            "Export a float32 model (load it again under the float32 policy). Received: "
            f"dtype_policy={model.dtype_policy.name!r}"
        )


def _inputs(model, seed: int = 0) -> list[np.ndarray]:
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    return [rng.random((n, *shape)).astype(np.float32) for n in (1, 3)]


def _keras_outputs(model, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import keras

    return [np.asarray(keras.ops.convert_to_numpy(model(x, training=False))) for x in inputs]


def _max_diff(got: list[np.ndarray], expected: list[np.ndarray]) -> float:
    diffs = []
    for g, e in zip(got, expected, strict=True):
        if np.shape(g) != np.shape(e):
            raise ValueError(f"The export returned shape {np.shape(g)}, Keras {np.shape(e)}.")
        diffs.append(float(np.max(np.abs(np.asarray(g, np.float64) - e))))
    return max(diffs)


def _raise_if_far(diff: float, atol: float, format: str, path: str) -> float:
    if not np.isfinite(diff) or diff > atol:
        raise ValueError(
            f"The {format} export for {path} differs from the Keras model by {diff:.3g} on random "
            f"inputs (> atol={atol:g}); nothing was written. Received: atol={atol}"
        )
    return diff


def export_metadata(model, info: Mapping[str, Any] | None, backend: str) -> dict[str, str]:
    """The metadata table of `model` (see `ferzoo.serving.metadata`)."""
    from ferzoo.layers import CapsuleLength

    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    first = shape[0] == 3 and shape[-1] != 3
    info = dict(info or {})
    info.setdefault("model", model.name)
    return meta.model_metadata(
        info,
        image_size=shape[1] if first else shape[0],
        num_classes=int(model.outputs[0].shape[-1]),
        capsule=isinstance(model.layers[-1], CapsuleLength),
        layout="NCHW" if first else "NHWC",
        backend=backend,
    )


# --- ONNX ------------------------------------------------------------------------------------


def _onnx_torch(model, path: str, opset: int | None) -> None:
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, image):
            return self.inner(image, training=False)

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # e.g. "torchvision is not installed"
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    example = (torch.rand(2, *shape),)
    kwargs = dict(input_names=[onnx_graph.INPUT_NAME], output_names=[onnx_graph.OUTPUT_NAME])
    wrapper = Wrapper(model).eval()
    batch = torch.export.Dim("batch", min=1)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.export's own deprecation notices
            program = torch.onnx.export(
                wrapper,
                example,
                dynamo=True,
                dynamic_shapes={"image": {0: batch}},
                opset_version=opset,
                verbose=False,
                **kwargs,
            )
            program.optimize()
            program.save(path)
    except Exception:  # the TorchScript exporter handles some graphs that torch.export cannot
        torch.onnx.export(
            wrapper,
            example,
            path,
            dynamo=False,
            opset_version=opset,
            dynamic_axes={"image": {0: "batch"}, "scores": {0: "batch"}},
            **kwargs,
        )


def _onnx_keras(model, path: str, opset: int | None, backend: str) -> None:
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf2onnx's NumPy 2 FutureWarnings
            model.export(path, format="onnx", verbose=False, opset_version=opset)
    except ImportError as err:
        package = "jax2onnx" if backend == "jax" else "tf2onnx"
        raise ValueError(
            f"ONNX export on {backend} needs {package}: pip install 'ferzoo[onnx]'. "
            f"Received: backend={backend!r}"
        ) from err


def _write_onnx(model, path: str, opset: int | None, backend: str, table: dict) -> None:
    import onnx

    if backend == "torch":
        _onnx_torch(model, path, opset)
    else:
        _onnx_keras(model, path, opset, backend)
    graph = onnx.load(path)
    if backend == "jax":
        onnx_graph.split_nd_pools(graph)
        onnx_pools.drop_unit_axis_round_trips(graph)
    onnx_graph.fold_constants(graph)
    onnx_pools.mean_to_global_pool(graph)
    onnx_graph.fold_pad_into_max_pool(graph)
    onnx_graph.split_concat_before_pool(graph)
    onnx_graph.static_reshapes(graph)
    onnx_graph.flatten_pooled(graph)
    onnx_pools.gather_pool_to_matmul(graph)
    onnx_pools.repeat_to_tile(graph)
    onnx_pools.broadcast_to_tile(graph)
    onnx_graph.finish(graph, table, graph_name=model.name)
    onnx.checker.check_model(graph)
    onnx.save(graph, path)


def _run_onnx(path: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: x})[0] for x in inputs]


# --- TFLite, SavedModel, .keras ----------------------------------------------------------------


def _run_tflite(path: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 (a class)
    outputs = []
    for x in inputs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            interpreter = Interpreter(model_path=path)
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], x.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    return outputs


def _export_savedmodel(model, path, inputs, expected, table, check, atol) -> float | None:
    import tensorflow as tf

    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-savedmodel-")
    try:
        model.export(tmp, format="tf_saved_model", verbose=False)
        files.write_json(os.path.join(tmp, "ferzoo.json"), meta.parse_metadata(table))
        diff = None
        if check:
            served = tf.saved_model.load(tmp)
            got = [np.asarray(served.serve(tf.constant(x))) for x in inputs]
            diff = _raise_if_far(_max_diff(got, expected), atol, "savedmodel", path)
        if os.path.isdir(path):
            shutil.rmtree(path)
        os.chmod(tmp, 0o777 & ~_umask())
        os.replace(tmp, path)
        return diff
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp)


def _export_keras(model, path, inputs, expected, info, check, atol) -> float | None:
    from ferzoo.serving.engines import load_model

    diff = None
    with files.atomic_path(path) as tmp:
        model.save(tmp)
        if check:
            reloaded, _ = load_model(tmp)
            got = _keras_outputs(reloaded, inputs)
            diff = _raise_if_far(_max_diff(got, expected), atol, "keras", path)
    readable(path)
    side = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    if info and not os.path.exists(side):
        files.write_json(side, {k: v for k, v in info.items() if k != "metrics"})
    return diff


def export_model(
    model,
    path: str,
    format: str = "onnx",
    *,
    info: Mapping[str, Any] | None = None,
    check: bool = True,
    atol: float = 1e-4,
    opset: int | None = None,
) -> float | None:
    """Export `model` to `path` and check the export (see the module docstring).

    Args:
        model: a float32 Keras classifier (e.g. from `ferzoo.serving.engines.load_model`).
        path: `X.onnx`, `X.tflite`, a SavedModel folder, or `X.keras`.
        format: "onnx", "tflite", "savedmodel" or "keras".
        info: the run's facts (`load_model`'s info: class names, normalisation, dataset,
            protocol, metrics), stored as metadata.
        check: run the export on random inputs against Keras (turn off only to save time).
        atol: the largest absolute difference the check accepts.
        opset: the ONNX opset (default: the exporter's).

    Returns:
        The largest absolute difference the check found (None with `check=False`).

    Raises:
        ValueError: for an unknown format, a path with the wrong suffix, a backend that cannot
            export that format, or an export that differs from Keras by more than `atol`.
    """
    import keras

    backend = keras.backend.backend()
    _check_target(model, path, format, backend)
    inputs = _inputs(model)
    expected = _keras_outputs(model, inputs)  # also makes sure the model has been called
    table = export_metadata(model, info, backend)
    if format == "savedmodel":
        return _export_savedmodel(model, path, inputs, expected, table, check, atol)
    if format == "keras":
        return _export_keras(model, path, inputs, expected, info, check, atol)
    with files.atomic_path(path) as tmp:
        if format == "onnx":
            _write_onnx(model, tmp, opset, backend, table)
            got = _run_onnx(tmp, inputs) if check else None
        else:
            with contextlib.redirect_stdout(io.StringIO()):
                model.export(tmp, format="litert", verbose=False)
            got = _run_tflite(tmp, inputs) if check else None
        diff = None if got is None else _raise_if_far(_max_diff(got, expected), atol, format, path)
    if format == "tflite":
        files.write_json(tflite_metadata_path(path), meta.parse_metadata(table))
    readable(path)
    return diff


def _face_batch(model, info: Mapping[str, Any] | None, count: int = 4) -> np.ndarray:
    """`count` drawn faces (`ferzoo.synthetic`), preprocessed and normalised as `ferzoo predict`
    feeds them, in the model's layout."""
    from ferzoo import synthetic
    from ferzoo.data.imaging import preprocess
    from ferzoo.pretrained.normalization import normalize

    table = export_metadata(model, info, "")
    side, first = int(table["input_size"]), table["input_layout"] == "NCHW"
    rng = np.random.default_rng(0)
    faces = [
        preprocess(synthetic.draw_face(rng, synthetic.subject_params(rng), i % 7, 96), side)
        for i in range(count)
    ]
    x = normalize(np.stack(faces), (info or {}).get("normalization"))
    return np.ascontiguousarray(np.moveaxis(x, -1, 1) if first else x, np.float32)


def check_runtimes(model, path: str, info: Mapping[str, Any] | None = None, repeats: int = 20):
    """Run the `.onnx` export at `path` in every installed runtime against `model` (Keras), on
    random inputs (batch 1 and 3) and drawn faces; `ferzoo.serving.runtimes.check_runtimes`'s
    rows (runtime, loads, max difference, same shape, batch-1 latency)."""
    from ferzoo.serving import runtimes

    inputs = [*_inputs(model), _face_batch(model, info)]
    return runtimes.check_runtimes(path, inputs, _keras_outputs(model, inputs), repeats=repeats)


def tflite_metadata_path(path: str) -> str:
    """Where the metadata of a `.tflite` export goes: `X.tflite` -> `X.ferzoo.json`."""
    return f"{path[: -len('.tflite')]}.ferzoo.json"


def read_onnx_metadata(path: str) -> dict[str, Any]:
    """The ferzoo metadata of an `.onnx` file, parsed (`metadata.parse_metadata`), via `onnx`."""
    import onnx

    graph = onnx.load(path, load_external_data=False)
    return meta.parse_metadata({p.key: p.value for p in graph.metadata_props})
