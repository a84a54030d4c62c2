"""Static int8 quantisation of an exported `.onnx` model, and what it costs and buys.

`quantize_int8(float_path, out_path, calibration)` runs ONNX Runtime's static quantisation:
the graph is prepared (`quant_pre_process`: shape inference and graph optimisation), the
activation ranges are calibrated (min-max) on `calibration`, training images cropped, resized
and normalised exactly as in training and serving, and the result is written in QDQ format
(int8 weights per output channel, uint8 activations; the last node, the softmax or the
capsule lengths, stays float so the scores are not rounded to 1/255), which ONNX Runtime runs as integer
kernels and OpenVINO also reads. The float file's metadata is copied and `quantization`
added, so `ferzoo predict` serves the int8 file like any `.onnx` export.

`compare(paths, test_batches, class_names)` reports each file's size, batch-1 latency
(ONNX Runtime, `ferzoo.serving.engines.OnnxEngine`, measured one after the other in the same
process) and its accuracy and macro F1 on the test batches.

Example:

    from ferzoo.serving import quantize

    quantize.quantize_int8("resnet18.onnx", "resnet18.int8.onnx", train_images[:256])
    rows = quantize.compare(
        {"float32": "resnet18.onnx", "int8": "resnet18.int8.onnx"}, test, class_names
    )

Reference:
    ONNX Runtime, "Quantize ONNX models" (static quantisation, QDQ format, per-channel
    weights; U8 activations with S8 weights is the format it recommends for x86 CPUs).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

QUANTIZE_CHOICES = ("int8",)


def _reader(images: np.ndarray, input_name: str):
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([images[i : i + 1] for i in range(len(images))])

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {input_name: batch}

    return Reader()


def _name_last_node(path: str) -> str:
    """The name of the node that writes the scores (named here if it has none): it stays float,
    so the scores are not rounded to the 1/255 steps of a uint8 output."""
    import onnx

    model = onnx.load(path)
    last = next(n for n in model.graph.node if model.graph.output[0].name in n.output)
    if not last.name:
        last.name = "ferzoo_scores"
        onnx.save(model, path)
    return last.name


def quantize_int8(float_path: str, out_path: str, calibration: np.ndarray) -> None:
    """Write the statically quantised (int8, QDQ) version of `float_path` to `out_path`.

    Args:
        float_path: a float32 `.onnx` export (input `image`).
        out_path: where the int8 model goes (written atomically).
        calibration: float32 images in the model's input layout, preprocessed and normalised
            as the model takes them (a few hundred training images).

    Raises:
        ValueError: when `calibration` is empty.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    from ferzoo import files

    if len(calibration) == 0:
        raise ValueError("Calibration needs at least one image. Received: 0 images")
    source = onnx.load(float_path)
    input_name = source.graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp, files.atomic_path(out_path) as target:
        prepared = os.path.join(tmp, "prepared.onnx")
        quant_pre_process(float_path, prepared, skip_symbolic_shape=True)
        last = _name_last_node(prepared)
        quantize_static(
            prepared,
            target,
            _reader(np.ascontiguousarray(calibration, np.float32), input_name),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=[last],
        )
        quantized = onnx.load(target)
        del quantized.metadata_props[:]
        quantized.metadata_props.extend(source.metadata_props)
        note = quantized.metadata_props.add()
        note.key = "quantization"
        note.value = (
            f"int8 static (QDQ, per-channel weights), {len(calibration)} calibration images"
        )
        onnx.save(quantized, target)


def compare(
    paths: Mapping[str, str],
    test_batches: Iterable[tuple[Any, Any]],
    class_names: Sequence[str],
    repeats: int = 50,
) -> dict[str, dict[str, Any]]:
    """Size, batch-1 latency, accuracy and macro F1 of each `.onnx` file in `paths`.

    Args:
        paths: `{label: path}`, e.g. `{"float32": ..., "int8": ...}`.
        test_batches: `(images (B, S, S, 3) float32, labels)` batches, normalised as served.
        class_names: the dataset's class names.
        repeats: timed batch-1 calls per file.

    Returns:
        `{label: {"path", "bytes", "latency_ms", "accuracy", "macro_f1"}}`.
    """
    from ferzoo.evaluation.evaluate import classification_metrics
    from ferzoo.serving.engines import OnnxEngine
    from ferzoo.serving.runtimes import latency_ms

    batches = [(np.asarray(x, np.float32), np.asarray(y)) for x, y in test_batches]
    labels = np.concatenate([y for _, y in batches])
    result = {}
    for label, path in paths.items():
        engine = OnnxEngine(path)
        scores = np.concatenate([engine.predict(x) for x, _ in batches])
        metrics = classification_metrics(labels, scores.argmax(axis=-1), class_names)
        result[label] = {
            "path": path,
            "bytes": os.path.getsize(path),
            "latency_ms": latency_ms(engine.predict, batches[0][0][:1], repeats),
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
        }
    return result


def format_comparison(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """`compare`'s result as a Markdown table."""
    lines = [
        "| model | size (MB) | batch-1 latency (ms) | test accuracy | test macro F1 |",
        "|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(
            f"| {label} | {r['bytes'] / 1e6:.2f} | {r['latency_ms']:.2f} | "
            f"{r['accuracy']:.4f} | {r['macro_f1']:.4f} |"
        )
    return "\n".join(lines)


def dataset_images(
    dataset: str,
    info: Mapping[str, Any],
    image_size: int,
    count: int,
    data_dir: str | None = None,
):
    """`(calibration, test_batches, class_names)` from `dataset` under the run's protocol and
    fold: `count` training images and the test part's batches, both cropped, resized and
    normalised (`info["normalization"]`) as in training, NHWC float32, no augmentation."""
    from ferzoo import data as fdata

    loaded = fdata.load(
        dataset,
        protocol=info.get("protocol") or "paper",
        fold=int(info.get("fold") or 0),
        image_size=image_size,
        batch_size=32,
        augment=0.0,
        pipeline="numpy",
        data_dir=data_dir,
    ).rebatched(normalization=info.get("normalization"))
    calibration = []
    for images, _ in loaded["train"]:
        calibration.append(np.asarray(images, np.float32))
        if sum(len(c) for c in calibration) >= count:
            break
    return np.concatenate(calibration)[:count], loaded["test"], list(loaded.class_names)
