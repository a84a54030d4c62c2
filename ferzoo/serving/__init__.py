"""Serving: export a trained model, and classify the faces in photos, videos and camera frames.

    ferzoo export MODEL.keras --format onnx --output model.onnx     # checked against Keras
    ferzoo predict model.onnx photos/ clip.mp4 --output faces.csv --annotate out/
    ferzoo predict model.onnx --camera 0 --annotate live.mp4 --max-frames 300

    import ferzoo
    predictor = ferzoo.Predictor("model.onnx")      # ONNX Runtime: no Keras, no backend
    predictor.predict("photo.jpg")                  # [{"box", "label", "score", "scores"}]

The modules:

- `predictor`: `Predictor`, detect -> crop as the datasets did -> classify, batched.
- `engines`: Keras (`.keras`) and ONNX Runtime (`.onnx`) engines; `load_model`.
- `inputs`: image files, folders, videos, cameras (`CAPTURE_FACTORY`).
- `pipeline`: a run over sources: records, annotated images and videos, summaries.
- `records`, `progress`, `video`: CSV/JSON, the progress bar, drawing and the summary plot.
- `export`, `onnx_graph`, `metadata`: ONNX / TFLite / SavedModel export, checked; the metadata.
- `gradcam`: Grad-CAM on TensorFlow, PyTorch and JAX.

Importing this package, `ferzoo.serving.predictor` or running an `.onnx` model loads neither
Keras nor TensorFlow, JAX or PyTorch.
"""

from __future__ import annotations

from ferzoo.serving.predictor import Predictor

__all__ = ["Predictor"]
