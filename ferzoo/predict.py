"""Use a trained model: the names `ferzoo.predict` has always offered, now in `ferzoo.serving`.

The serving code lives in the `ferzoo.serving` package (engines, `Predictor`, sources, video,
Grad-CAM, export); this module keeps the older entry points working:

- `load_model(path)`: a `.keras` file and what `ferzoo train` wrote beside it.
- `predict_images(model, paths, class_names, image_size)`: the faces of image files, cropped as
  the datasets crop them (`ferzoo.Predictor`).
- `grad_cam`, `choose_layer` (and its old name `last_conv_layer`), `overlay`, `explain_images`.
- `export_model(model, path, format)`: ONNX, TFLite, SavedModel or `.keras`, checked.

Example:

    from ferzoo import predict

    model, info = predict.load_model("runs/synthetic_faces/resnet18/paper/fold-0/model.keras")
    records = predict.predict_images(model, ["a.png"], info["class_names"], info["image_size"])
    predict.write_records(records, "out.csv", info["class_names"])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ferzoo.serving.engines import KerasEngine, load_model
from ferzoo.serving.export import EXPORT_FORMATS, export_model
from ferzoo.serving.gradcam import choose_layer, grad_cam, overlay
from ferzoo.serving.gradcam import explain_images as _explain
from ferzoo.serving.metadata import run_info as model_info
from ferzoo.serving.records import write_records
from ferzoo.serving.sources import read_image

last_conv_layer = choose_layer


def _predictor(model, class_names, image_size, detect):
    from ferzoo.serving.predictor import Predictor

    engine = KerasEngine(model, class_names, info={"image_size": image_size})
    return Predictor(engine, detect=detect)


def predict_images(
    model: Any,
    paths: Sequence[str],
    class_names: Sequence[str],
    image_size: int,
    *,
    detect: bool = True,
    annotate_dir: str | None = None,
) -> list[dict[str, Any]]:
    """Classify every face in every image file (`ferzoo.Predictor` with a Keras model).

    Returns:
        One record per face (`file`, `frame`, `time_s`, `face`, `box`, `label`, `score`,
        `scores`) or per failed image (`file`, `error`), as `ferzoo.serving.records` describes.
    """
    from ferzoo.serving import pipeline
    from ferzoo.serving.sources import Source, kind_of

    predictor = _predictor(model, class_names, image_size, detect)
    records: list[dict[str, Any]] = []
    sources = [Source(kind_of(p) or "image", p) for p in paths]
    pipeline.predict_sources(predictor, sources, annotate=annotate_dir, quiet=True, records=records)
    return records


def explain_images(
    model: Any,
    paths: Sequence[str],
    class_names: Sequence[str],
    image_size: int,
    output_dir: str,
    *,
    layer: str | None = None,
    detect: bool = True,
) -> list[dict[str, Any]]:
    """Write a Grad-CAM overlay PNG per face (see `ferzoo.serving.gradcam.explain_images`)."""
    predictor = _predictor(model, class_names, image_size, detect)
    return _explain(predictor, paths, output_dir, layer=layer)


__all__ = [
    "EXPORT_FORMATS",
    "choose_layer",
    "explain_images",
    "export_model",
    "grad_cam",
    "last_conv_layer",
    "load_model",
    "model_info",
    "overlay",
    "predict_images",
    "read_image",
    "write_records",
]
