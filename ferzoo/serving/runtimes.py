"""Run an exported `.onnx` file in every installed runtime and compare it with Keras.

| runtime | package | how |
|---|---|---|
| `onnxruntime` | onnxruntime | `InferenceSession`, CPU provider |
| `openvino` | openvino (`pip install 'ferzoo[openvino]'`) | `Core().compile_model(path, "CPU")` in float32 |
| `opencv` | opencv-python(-headless) | `cv2.dnn.readNetFromONNX`, in a child process |

OpenVINO's CPU plugin computes in bfloat16 by default where the processor has bfloat16 units
(differences of 1e-3 to 1e-2 from Keras); ferzoo asks for float32 (`INFERENCE_PRECISION_HINT`),
which matches Keras to 1e-6. OpenCV's DNN module runs in a child process, because it can end the
process (a segmentation fault) on a graph it does not understand.

Example:

    from ferzoo.serving import runtimes

    rows = runtimes.check_runtimes("resnet18.onnx", [x1, x3], [y1, y3])
    print(runtimes.format_table(rows))
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence

import numpy as np

RUNTIMES = ("onnxruntime", "openvino", "opencv")
_MODULES = {"onnxruntime": "onnxruntime", "openvino": "openvino", "opencv": "cv2"}
#: OpenVINO in float32 on every CPU (its default is bfloat16 where the CPU has it).
OPENVINO_CONFIG = {"INFERENCE_PRECISION_HINT": "f32"}


def installed(runtime: str) -> bool:
    """Whether the package of `runtime` (one of `RUNTIMES`) can be imported here."""
    if runtime not in _MODULES:
        raise ValueError(f"runtime must be one of {RUNTIMES}. Received: runtime={runtime!r}")
    return importlib.util.find_spec(_MODULES[runtime]) is not None


def open_model(runtime: str, path: str, threads: int | None = None) -> Callable:
    """A function `x -> scores` that runs `path` in `runtime` (in this process)."""
    if runtime == "onnxruntime":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = int(threads)
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return lambda x: session.run(None, {name: x})[0]
    if runtime == "openvino":
        import openvino as ov

        config = dict(OPENVINO_CONFIG)
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        compiled = ov.Core().compile_model(path, "CPU", config)
        request = compiled.create_infer_request()
        return lambda x: np.array(request.infer([x])[compiled.output(0)])
    if runtime == "opencv":
        import cv2

        net = cv2.dnn.readNetFromONNX(path)

        def forward(x):
            net.setInput(x)
            return np.array(net.forward())

        return forward
    raise ValueError(f"runtime must be one of {RUNTIMES}. Received: runtime={runtime!r}")


def latency_ms(run: Callable, x: np.ndarray, repeats: int = 20) -> float:
    """The median wall time of `run(x)` in milliseconds, after two warm-up calls."""
    for _ in range(2):
        run(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def run_runtime(
    runtime: str, path: str, inputs: Sequence[np.ndarray], repeats: int = 0
) -> tuple[list[np.ndarray], float | None]:
    """`(outputs, batch-1 latency in ms or None)` of `path` on `inputs` in `runtime`.

    OpenCV runs in a child process (see the module docstring); the others in this one.

    Raises:
        RuntimeError: when the runtime cannot load or run the file (its first message line).
    """
    if runtime == "opencv":
        return _run_in_child(runtime, path, inputs, repeats)
    try:
        run = open_model(runtime, path)
        outputs = [np.asarray(run(np.ascontiguousarray(x, np.float32))) for x in inputs]
    except Exception as err:  # each runtime raises its own error types
        raise RuntimeError(_first_line(err)) from err
    latency = latency_ms(run, inputs[0][:1], repeats) if repeats else None
    return outputs, latency


def _reason(text: str) -> str:
    """The most telling line of a runtime's error text (its last line naming an error)."""
    lines = [line.strip(" >") for line in text.splitlines() if line.strip(" >")]
    named = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
    return ((named or lines or ["unknown error"])[-1])[:300]


def _first_line(err: BaseException) -> str:
    return _reason(str(err)) if str(err).strip() else type(err).__name__


def _run_in_child(runtime, path, inputs, repeats):
    with tempfile.TemporaryDirectory() as tmp:
        given, got = os.path.join(tmp, "inputs.npz"), os.path.join(tmp, "outputs.npz")
        np.savez(given, *inputs)
        command = [sys.executable, "-m", __name__, runtime, path, given, got, str(repeats)]
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        path_list = [root, *filter(None, [os.environ.get("PYTHONPATH")])]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path_list)}  # this ferzoo
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            reason = _reason(done.stderr) if done.stderr.strip() else f"exit {done.returncode}"
            if done.returncode < 0:
                reason = f"the process died (signal {-done.returncode})"
            raise RuntimeError(reason)
        with np.load(got) as data:
            outputs = [data[f"arr_{i}"] for i in range(len(inputs))]
            latency = float(data["latency"]) if repeats else None
    return outputs, latency


@dataclasses.dataclass(frozen=True)
class RuntimeCheck:
    """One row of `check_runtimes`: whether `runtime` loaded the file, its largest absolute
    difference from Keras, whether its output shapes matched, and its batch-1 latency."""

    runtime: str
    loads: bool
    max_diff: float | None = None
    same_shape: bool | None = None
    latency_ms: float | None = None
    error: str | None = None


def check_runtimes(
    path: str,
    inputs: Sequence[np.ndarray],
    expected: Sequence[np.ndarray],
    runtimes: Sequence[str] | None = None,
    repeats: int = 20,
) -> list[RuntimeCheck]:
    """Run `path` on `inputs` in every installed runtime and compare with `expected` (Keras).

    Args:
        path: an `.onnx` file.
        inputs: float32 batches in the model's layout; the first one's first item is timed.
        expected: Keras' outputs on `inputs`.
        runtimes: which to try (default: the installed ones of `RUNTIMES`).
        repeats: timed calls per runtime (0: no timing).
    """
    rows = []
    for runtime in runtimes or [r for r in RUNTIMES if installed(r)]:
        try:
            got, latency = run_runtime(runtime, path, inputs, repeats)
        except RuntimeError as err:
            rows.append(RuntimeCheck(runtime, False, error=str(err)))
            continue
        same = all(np.shape(g) == np.shape(e) for g, e in zip(got, expected, strict=True))
        diff = max(
            float(np.max(np.abs(np.asarray(g, np.float64).reshape(np.shape(e)) - e)))
            for g, e in zip(got, expected, strict=True)
        )
        rows.append(RuntimeCheck(runtime, True, diff, same, latency))
    return rows


#: What each runtime is known to refuse or miscompute, for reasons outside ferzoo (README,
#: "Runtimes and int8"), by the graph's signature: see `known_limits`.
LIMITS = {
    "int8": "OpenCV DNN loads QDQ int8 files but computes wrong scores (0.83 from Keras on "
    "resnet18): run int8 files in ONNX Runtime or OpenVINO",
    "expand": "OpenCV DNN fails on an Expand to a shape read from the batch, or on PyTorch's, "
    "once the batch size changes: use ONNX Runtime or OpenVINO",
    "unsqueeze": "OpenCV DNN refuses a multi-axis Unsqueeze (jax2onnx writes them around its "
    "pools): export from TensorFlow or PyTorch, or use ONNX Runtime",
    "conv6": "OpenVINO and OpenCV DNN cannot read a Conv with a rank-6 kernel (a jax2onnx window "
    "sum that the export did not rewrite as a pool): export from TensorFlow or PyTorch, or use "
    "ONNX Runtime",
}


def known_limits(path: str) -> dict[str, str]:
    """`{runtime: why}` for the runtimes known not to run the `.onnx` file at `path` correctly
    (`LIMITS`, matched on its graph: QDQ nodes, PyTorch's Expand or one to a computed shape,
    multi-axis Unsqueezes, a Conv with a rank-6 kernel); `ferzoo export` prints them. The
    export rewrites every case it knows in ferzoo's models (`onnx_pools`), so these are what
    is left."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path, load_external_data=False)
    nodes = list(model.graph.node)
    ops = {n.op_type for n in nodes}
    ranks = {i.name: len(i.dims) for i in model.graph.initializer}
    sizes = {i.name: int(np.prod(i.dims)) for i in model.graph.initializer}
    for n in nodes:  # constants written as Constant nodes
        if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            value = numpy_helper.to_array(n.attribute[0].t)
            ranks[n.output[0]], sizes[n.output[0]] = value.ndim, value.size
    limits = {}
    if "QuantizeLinear" in ops:
        limits["opencv"] = LIMITS["int8"]
    elif any(n.op_type == "Expand" and (model.producer_name == "pytorch" or n.input[1] not in ranks)
             for n in nodes):  # fmt: skip
        limits["opencv"] = LIMITS["expand"]
    elif any(n.op_type == "Unsqueeze" and len(n.input) > 1 and sizes.get(n.input[1], 1) > 1
             for n in nodes):  # fmt: skip
        limits["opencv"] = LIMITS["unsqueeze"]
    if any(n.op_type == "Conv" and ranks.get(n.input[1], 4) > 5 for n in nodes):
        limits["openvino"] = limits["opencv"] = LIMITS["conv6"]
    return limits


def format_table(rows: Sequence[RuntimeCheck]) -> str:
    """The rows as a Markdown table: runtime, loads, max |diff|, same shape, batch-1 latency."""
    lines = [
        "| runtime | loads | max abs diff vs Keras | same shape | batch-1 latency (ms) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        if not r.loads:
            lines.append(f"| {r.runtime} | no: {r.error} | | | |")
            continue
        latency = "" if r.latency_ms is None else f"{r.latency_ms:.2f}"
        same = "yes" if r.same_shape else "no"
        lines.append(f"| {r.runtime} | yes | {r.max_diff:.3g} | {same} | {latency} |")
    return "\n".join(lines)


def _child(argv: Sequence[str]) -> None:
    runtime, path, given, got, repeats = argv
    with np.load(given) as data:
        inputs = [data[f"arr_{i}"] for i in range(len(data.files))]
    run = open_model(runtime, path)
    outputs = {f"arr_{i}": np.asarray(run(x)) for i, x in enumerate(inputs)}
    if int(repeats):
        outputs["latency"] = np.array(latency_ms(run, inputs[0][:1], int(repeats)))
    np.savez(got, **outputs)


if __name__ == "__main__":  # the child process of `run_runtime` for OpenCV
    _child(sys.argv[1:])
