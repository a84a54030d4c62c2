"""What a served model needs to know besides its weights: classes, input, preprocessing, provenance.

`run_info(model_path)` reads what `ferzoo train` writes beside `model.keras` (`config.json`,
`metrics.json`); `model_metadata(...)` turns it into the flat string table an exported file
carries (ONNX `metadata_props`, `ferzoo.json` beside a SavedModel or TFLite file), and
`parse_metadata` reads it back. The keys:

| key | value |
|---|---|
| `class_names` | JSON list, in output order |
| `input_size` | the square input side in pixels, e.g. `"224"` |
| `input_layout` | `"NHWC"` or `"NCHW"`; float32 RGB |
| `preprocessing` | JSON: `crop` (the detector's box widened by `crop_margin` on each side, centre-crop fallback; or the aligned crop), `crop_margin`, `face` (null, or `{"detector", "detector_version", "align"}`: what the training data's faces were found with and whether they were aligned; `ferzoo.Predictor` follows it), `resize`, `scale` (`"x / 255"`: pixels in [0, 1]), `normalization` (null or `{"mean": [...], "std": [...]}`, applied after the scaling) |
| `scores` | `"softmax"` (probabilities) or `"capsule_lengths"` (each in (0, 1), no sum to 1) |
| `model`, `dataset`, `protocol`, `fold` | the training run's, where known |
| `metrics` | JSON: the run's `metrics.json` (test metrics), where present |
| `ferzoo_version`, `exported_from` | ferzoo's version and the Keras backend that exported |

Example:

    from ferzoo.serving import metadata

    info = metadata.run_info("runs/synthetic_faces/resnet18/paper/fold-0/model.keras")
    table = metadata.model_metadata(info, image_size=64, num_classes=7)
    metadata.parse_metadata(table)["class_names"]

Reference:
    ONNX stores free-form metadata as `ModelProto.metadata_props` (string key/value pairs);
    ONNX Runtime returns it as `session.get_modelmeta().custom_metadata_map`. The normalisation
    entry is the run's `config.json` key `normalization` (set where a run used ImageNet-pretrained
    weights), so a served model sees the pixels it was trained on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ferzoo import __version__
from ferzoo.face import CROP_MARGIN

#: The keys whose values are JSON in the metadata table.
JSON_KEYS = ("class_names", "preprocessing", "metrics")


def _read_json(path: str) -> dict[str, Any] | None:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def check_normalization(value: Any) -> dict[str, list[float]] | None:
    """A `normalization` entry as `{"mean": [3 floats], "std": [3 floats]}` or None.

    Raises:
        ValueError: for any other shape, or a standard deviation that is not positive.
    """
    if value is None:
        return None
    ok = isinstance(value, Mapping) and set(value) >= {"mean", "std"}
    if ok:
        mean, std = value["mean"], value["std"]
        ok = all(isinstance(v, Sequence) and len(v) in (1, 3) for v in (mean, std))
    if not ok or any(float(s) <= 0 for s in value["std"]):
        raise ValueError(
            'normalization must be null or {"mean": [r, g, b], "std": [r, g, b]} with positive '
            f"std. Received: normalization={value!r}"
        )
    return {"mean": [float(v) for v in value["mean"]], "std": [float(v) for v in value["std"]]}


def check_face(value: Any) -> dict[str, Any] | None:
    """A `face` entry (`{"detector", "detector_version", "align", ...}`) or None; a ValueError
    naming it otherwise."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("align", False), bool):
        raise ValueError(
            'face must be null or {"detector": name, "detector_version": text, "align": bool}. '
            f"Received: face={value!r}"
        )
    return dict(value)


def run_info(model_path: str) -> dict[str, Any]:
    """What `ferzoo train` wrote beside a model: class names, image size, run, metrics.

    Reads `config.json` and `metrics.json` in the model's folder; keys are absent where those
    files (or their entries) are.

    Returns:
        A dict with any of `class_names`, `image_size`, `model`, `dataset`, `protocol`, `fold`,
        `normalization`, `face` (config.json's: the detector and whether faces were aligned),
        `metrics`.
    """
    folder = os.path.dirname(os.path.abspath(model_path))
    config = _read_json(os.path.join(folder, "config.json")) or {}
    info = {
        key: config[key]
        for key in ("class_names", "image_size", "model", "dataset", "protocol", "fold")
        if config.get(key) is not None
    }
    if "normalization" in config:
        info["normalization"] = check_normalization(config["normalization"])
    if config.get("face") is not None:
        info["face"] = check_face(config["face"])
    metrics = _read_json(os.path.join(folder, "metrics.json"))
    if metrics is not None:
        info["metrics"] = metrics
    return info


def preprocessing(
    normalization: Mapping[str, Any] | None = None, face: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The preprocessing a served model expects, as stored in its metadata."""
    return {
        "crop": "the face detector's box widened by crop_margin of its size on each side "
        "(ferzoo.face.find_faces), or with face.align the face aligned by its five landmarks "
        "(ferzoo.face.align); the central square of 0.8 x min(H, W) when no face is found",
        "crop_margin": CROP_MARGIN,
        "face": check_face(face),
        "resize": "area when shrinking both sides, else bilinear (ferzoo.data.preprocess)",
        "color": "RGB",
        "scale": "x / 255",
        "normalization": check_normalization(normalization),
    }


def model_metadata(
    info: Mapping[str, Any],
    *,
    image_size: int,
    num_classes: int,
    capsule: bool = False,
    layout: str = "NHWC",
    backend: str | None = None,
) -> dict[str, str]:
    """The metadata table of an exported model (every value a string).

    Args:
        info: `run_info`'s dict (class names default to `class_0`, ...).
        image_size: the input side in pixels.
        num_classes: the model's number of outputs.
        capsule: whether the scores are capsule lengths.
        layout: `"NHWC"` or `"NCHW"`.
        backend: the Keras backend that exported the model.
    """
    names = list(info.get("class_names") or [f"class_{i}" for i in range(num_classes)])
    table = {
        "class_names": json.dumps(names),
        "input_size": str(int(image_size)),
        "input_layout": layout,
        "preprocessing": json.dumps(preprocessing(info.get("normalization"), info.get("face"))),
        "scores": "capsule_lengths" if capsule else "softmax",
        "ferzoo_version": __version__,
    }
    for key in ("model", "dataset", "protocol", "fold"):
        if info.get(key) is not None:
            table[key] = str(info[key])
    if info.get("metrics") is not None:
        table["metrics"] = json.dumps(info["metrics"])
    if backend:
        table["exported_from"] = backend
    return table


def parse_metadata(table: Mapping[str, str]) -> dict[str, Any]:
    """`model_metadata`'s table back as Python values (`input_size` as int, JSON decoded).

    Also sets `image_size` (= `input_size`) and `normalization` (from `preprocessing`).
    """
    out: dict[str, Any] = dict(table)
    for key in JSON_KEYS:
        if key in out:
            out[key] = json.loads(out[key])
    if "input_size" in out:
        out["input_size"] = out["image_size"] = int(out["input_size"])
    if "fold" in out and str(out["fold"]).lstrip("-").isdigit():
        out["fold"] = int(out["fold"])
    out["normalization"] = check_normalization(
        (out.get("preprocessing") or {}).get("normalization")
    )
    out["face"] = check_face((out.get("preprocessing") or {}).get("face"))
    return out
