"""Use a trained model: classify the faces in images, explain with Grad-CAM, export for serving.

- `load_model(path)` loads a `.keras` file saved by `ferzoo train` and the facts beside it
  (`config.json`: class names and image size).
- `predict_images(model, paths, ...)` finds the faces in each image with the datasets' detector
  (`ferzoo.face.detect_faces`), preprocesses each face as the pipelines do
  (`ferzoo.data.preprocess`) and classifies it; an unreadable image or one with no face yields an
  error record and the run goes on.
- `grad_cam(model, image, ...)` gives a Grad-CAM heat map; `explain_images` writes PNG overlays.
- `export_model(model, path, format)` writes `.keras` or a TensorFlow SavedModel and checks that
  the export gives the model's outputs.

Example:

    from ferzoo import predict

    model, info = predict.load_model("results/synthetic_faces/resnet18/paper/fold-0/model.keras")
    records = predict.predict_images(model, ["a.png", "b.jpg"], info["class_names"],
                                     info["image_size"])
    predict.write_records(records, "out.csv")

Reference:
    Grad-CAM: Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
    Gradient-based Localization", ICCV 2017; seed 003 (Fig. 19) shows Grad-CAM maps of wCA-MCNN
    and MsC-wCA-ResNet18. Keras 3 has no backend-agnostic way to take the gradient with respect to
    an intermediate activation, so `grad_cam` uses `tf.GradientTape` on TensorFlow and
    `torch.autograd.grad` on PyTorch; on JAX it raises (run `ferzoo explain --backend tensorflow`:
    a `.keras` file loads on any backend).
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from typing import Any

import cv2
import keras
import numpy as np

# Scores: softmax probabilities for dense heads, capsule lengths (in (0, 1), not summing to 1)
# for capsule heads.


def _register_ferzoo_objects() -> None:
    """Import the modules whose classes a ferzoo `.keras` file may name."""
    import ferzoo.layers  # noqa: F401
    import ferzoo.losses  # noqa: F401

    try:
        import ferzoo.models  # noqa: F401  (custom layers defined with the model families)
    except ImportError:
        pass


def model_info(model_path: str) -> dict[str, Any]:
    """What `ferzoo train` wrote beside a model: class names, image size, model name.

    Reads `config.json` in the model's folder; empty dict when there is none.
    """
    path = os.path.join(os.path.dirname(os.path.abspath(model_path)), "config.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    return {
        "class_names": config.get("class_names"),
        "image_size": config.get("image_size"),
        "model": config.get("model"),
        "dataset": config.get("dataset"),
    }


def load_model(path: str, class_names: Sequence[str] | None = None) -> tuple[keras.Model, dict]:
    """Load a `.keras` model and its class names and input size.

    Args:
        path: a `.keras` file. Class names come from `class_names` if given, else from the
            `config.json` that `ferzoo train` writes beside `model.keras`, else `class_0`, ...
        class_names: overrides the stored class names.

    Returns:
        `(model, info)` with `info["class_names"]` and `info["image_size"]` always set.

    Raises:
        ValueError: when the file does not exist, or the number of class names does not match
            the model's output size.
    """
    if not os.path.isfile(path):
        raise ValueError(f"No model file at {path!r}. Received: model={path!r}")
    _register_ferzoo_objects()
    model = keras.saving.load_model(path, compile=False)
    info = model_info(path)
    num_outputs = int(model.outputs[0].shape[-1])
    if class_names:
        info["class_names"] = list(class_names)
    if not info.get("class_names"):
        info["class_names"] = [f"class_{i}" for i in range(num_outputs)]
    if len(info["class_names"]) != num_outputs:
        raise ValueError(
            f"The model outputs {num_outputs} classes but {len(info['class_names'])} class names "
            f"were given. Received: class_names={info['class_names']}"
        )
    if not info.get("image_size"):
        info["image_size"] = int(model.inputs[0].shape[1])
    return model, info


def read_image(path: str) -> np.ndarray | None:
    """Read an image file as RGB uint8 `(H, W, 3)`; None when it cannot be read or decoded."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _preprocess(image: np.ndarray, image_size: int, box: Sequence[float] | None) -> np.ndarray:
    from ferzoo.data import preprocess

    out = preprocess(image, image_size, box=None if box is None else np.asarray(box, np.float32))
    return np.asarray(out, np.float32)


def _faces(image: np.ndarray, detect: bool) -> list[tuple[float, float, float, float]]:
    if not detect:
        return [(0.0, 0.0, 1.0, 1.0)]
    from ferzoo.face import detect_faces

    return detect_faces(image)


def _face_batches(paths: Sequence[str], image_size: int, detect: bool, records: list[dict]):
    """Yield `(path, image, boxes, batch)` per image with a face, the faces preprocessed in
    `batch`; an image that cannot be read or has no face gets its error record in `records`."""
    for path in paths:
        image = read_image(path)
        if image is None:
            records.append({"file": path, "error": "cannot read image"})
            continue
        boxes = _faces(image, detect)
        if not boxes:
            records.append({"file": path, "error": "no face found"})
            continue
        yield path, image, boxes, np.stack([_preprocess(image, image_size, box) for box in boxes])


def _face_record(
    path: str, index: int, box: Sequence[float], class_names: Sequence[str], row: np.ndarray
) -> dict[str, Any]:
    """The fields common to a face's record: `file`, `face`, `box`, `label`, `score`."""
    k = int(np.argmax(row))
    return {
        "file": path,
        "face": index,
        "box": [round(float(b), 6) for b in box],
        "label": str(class_names[k]),
        "score": float(row[k]),
    }


def predict_images(
    model: keras.Model,
    paths: Sequence[str],
    class_names: Sequence[str],
    image_size: int,
    *,
    detect: bool = True,
    annotate_dir: str | None = None,
) -> list[dict[str, Any]]:
    """Classify every face in every image.

    Args:
        model: a classifier with `(batch, num_classes)` scores.
        paths: image files.
        class_names: the model's class names.
        image_size: the model's input side.
        detect: find faces with the Haar detector (True), or classify the whole image (False).
        annotate_dir: if given, write each image there with the boxes and labels drawn
            (`<stem>.png`).

    Returns:
        One record per face: `file`, `face` (index, largest first), `box` (normalized ymin, xmin,
        ymax, xmax), `label`, `score` and `scores` (class -> score: softmax probabilities, or
        capsule lengths for capsule heads). An image that cannot be read or has no face gives one
        record with `error` set ("cannot read image" / "no face found") and no label.
    """
    records: list[dict[str, Any]] = []
    if annotate_dir:
        os.makedirs(annotate_dir, exist_ok=True)
    for path, image, boxes, batch in _face_batches(paths, image_size, detect, records):
        scores = keras.ops.convert_to_numpy(model(batch, training=False))
        for i, (box, row) in enumerate(zip(boxes, scores, strict=True)):
            scores_by_class = {str(n): float(s) for n, s in zip(class_names, row, strict=True)}
            records.append(
                {**_face_record(path, i, box, class_names, row), "scores": scores_by_class}
            )
        if annotate_dir:
            faces = [r for r in records if r["file"] == path and "label" in r]
            _annotate(image, faces, _unique_png(annotate_dir, path))
    return records


def _unique_png(folder: str, path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    out = os.path.join(folder, f"{stem}.png")
    n = 1
    while os.path.exists(out):
        out = os.path.join(folder, f"{stem}-{n}.png")
        n += 1
    return out


def _pixel_box(box: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
    ymin, xmin, ymax, xmax = box
    return (
        round(xmin * width),
        round(ymin * height),
        round(xmax * width) - 1,
        round(ymax * height) - 1,
    )


def _annotate(image: np.ndarray, faces: list[dict[str, Any]], out_path: str) -> None:
    canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    h, w = canvas.shape[:2]
    thickness = max(1, round(min(h, w) / 200))
    scale = max(0.35, min(h, w) / 500)
    for face in faces:
        x0, y0, x1, y1 = _pixel_box(face["box"], h, w)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), (0, 200, 0), thickness)
        text = f"{face['label']} {face['score']:.2f}"
        cv2.putText(
            canvas,
            text,
            (x0, max(12, y0 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (0, 200, 0),
            thickness,
            cv2.LINE_AA,
        )
    cv2.imwrite(out_path, canvas)


def write_records(records: list[dict[str, Any]], path: str, class_names: Sequence[str]) -> None:
    """Write prediction records as JSON (`.json`) or CSV (any other extension).

    CSV columns: file, face, ymin, xmin, ymax, xmax, label, score, one `score_<class>` column per
    class, error.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    if path.lower().endswith(".json"):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=2)
            f.write("\n")
        return
    header = ["file", "face", "ymin", "xmin", "ymax", "xmax", "label", "score"]
    header += [f"score_{n}" for n in class_names] + ["error"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for r in records:
            if "error" in r:
                writer.writerow([r["file"], *[""] * (len(header) - 2), r["error"]])
                continue
            row = [r["file"], r["face"], *r["box"], r["label"], f"{r['score']:.6f}"]
            row += [f"{r['scores'][str(n)]:.6f}" for n in class_names] + [""]
            writer.writerow(row)


# --- Grad-CAM ---------------------------------------------------------------------------------


def last_conv_layer(model: keras.Model) -> str:
    """The name of the last layer whose output is a 4D feature map (the Grad-CAM default)."""
    for layer in reversed(model.layers):
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4 and not isinstance(layer, keras.layers.InputLayer):
            return layer.name
    raise ValueError(f"Model {model.name!r} has no layer with a 4D output to explain.")


def grad_cam(
    model: keras.Model,
    inputs: np.ndarray,
    *,
    layer: str | None = None,
    class_index: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM heat maps of a batch.

    Args:
        model: a functional classifier.
        inputs: float32 `(B, H, W, 3)` as the model takes them.
        layer: the feature layer to explain; default `last_conv_layer(model)`.
        class_index: the class to explain; default each example's predicted class.

    Returns:
        `(heatmaps (B, h, w) in [0, 1] at the layer's resolution, scores (B, num_classes))`.

    Raises:
        NotImplementedError: on the JAX backend (see the module docstring).
    """
    name = layer or last_conv_layer(model)
    try:
        target = model.get_layer(name)
    except ValueError as err:
        raise ValueError(
            f"No layer named {name!r} in {model.name!r}. Received: layer={name!r}"
        ) from err
    grad_model = keras.Model(model.inputs, [target.output, model.outputs[0]])
    backend = keras.backend.backend()
    x = np.asarray(inputs, np.float32)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            features, scores = grad_model(tf.constant(x), training=False)
            chosen = _choose(scores, class_index)
            score = tf.reduce_sum(tf.gather(scores, chosen, axis=1, batch_dims=1))
        grads = tape.gradient(score, features)
        features, grads, scores = features.numpy(), grads.numpy(), scores.numpy()
    elif backend == "torch":
        import torch

        with torch.enable_grad():
            features, scores = grad_model(torch.as_tensor(x), training=False)
            chosen = _choose(scores.detach().cpu().numpy(), class_index)
            index = torch.as_tensor(chosen, device=scores.device)[:, None]
            score = torch.gather(scores, 1, index).sum()
            (grads,) = torch.autograd.grad(score, features)
        features = features.detach().cpu().numpy()
        grads = grads.detach().cpu().numpy()
        scores = scores.detach().cpu().numpy()
    else:
        raise NotImplementedError(
            f"Grad-CAM needs the tensorflow or torch backend, not {backend!r}: run "
            "`ferzoo explain --backend tensorflow` (the .keras file loads on any backend)."
        )
    if keras.config.image_data_format() == "channels_first":
        features = np.moveaxis(features, 1, -1)
        grads = np.moveaxis(grads, 1, -1)
    weights = grads.mean(axis=(1, 2), keepdims=True)  # global-average-pooled gradients
    cams = np.maximum((weights * features).sum(axis=-1), 0.0)
    peak = cams.max(axis=(1, 2), keepdims=True)
    cams = np.divide(cams, peak, out=np.zeros_like(cams), where=peak > 0)
    return cams.astype(np.float32), np.asarray(scores, np.float32)


def _choose(scores: Any, class_index: int | None) -> np.ndarray:
    scores = np.asarray(scores)
    if class_index is None:
        return scores.argmax(axis=-1).astype(np.int32)
    if not 0 <= class_index < scores.shape[-1]:
        raise ValueError(
            f"class_index must be in [0, {scores.shape[-1]}). Received: class_index={class_index}"
        )
    return np.full((scores.shape[0],), class_index, np.int32)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heat map (jet colours) over an RGB uint8 image; returns RGB uint8."""
    h, w = image.shape[:2]
    heat = cv2.resize(cam.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap(np.uint8(255 * np.clip(heat, 0, 1)), cv2.COLORMAP_JET)
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    return np.uint8((1 - alpha) * image.astype(np.float32) + alpha * colored.astype(np.float32))


def explain_images(
    model: keras.Model,
    paths: Sequence[str],
    class_names: Sequence[str],
    image_size: int,
    output_dir: str,
    *,
    layer: str | None = None,
    detect: bool = True,
) -> list[dict[str, Any]]:
    """Write a Grad-CAM overlay PNG per face: `<output_dir>/<stem>_face<k>.png`.

    The overlay is drawn on the face crop as the model sees it (resized to at least 224 px).

    Returns:
        One record per face (`file`, `face`, `box`, `label`, `score`, `overlay`) or per failed
        image (`file`, `error`), as in `predict_images`.
    """
    os.makedirs(output_dir, exist_ok=True)
    records: list[dict[str, Any]] = []
    for path, _image, boxes, batch in _face_batches(paths, image_size, detect, records):
        cams, scores = grad_cam(model, batch, layer=layer)
        stem = os.path.splitext(os.path.basename(path))[0]
        for i, (box, face, cam, row) in enumerate(zip(boxes, batch, cams, scores, strict=True)):
            k = int(np.argmax(row))
            side = max(224, image_size)
            face_rgb = cv2.resize(np.uint8(np.clip(face, 0, 1) * 255), (side, side))
            out = os.path.join(output_dir, f"{stem}_face{i}.png")
            picture = overlay(face_rgb, cam)
            cv2.putText(
                picture,
                f"{class_names[k]} {row[k]:.2f}",
                (6, 18),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (255, 255, 255),
                1,
                cv2.LINE_AA,
            )
            cv2.imwrite(out, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
            records.append(
                {
                    **_face_record(path, i, box, class_names, row),
                    "overlay": out,
                }
            )
    return records


# --- Export -----------------------------------------------------------------------------------

EXPORT_FORMATS = ("keras", "savedmodel")


def export_model(
    model: keras.Model,
    path: str,
    format: str = "savedmodel",
    *,
    info: dict[str, Any] | None = None,
    check: bool = True,
    atol: float = 1e-4,
) -> float | None:
    """Export `model` for serving and check the export against it.

    Args:
        model: the Keras model.
        path: a `.keras` file (format "keras") or a SavedModel folder (format "savedmodel").
        format: "keras" or "savedmodel" (TensorFlow SavedModel via
            `model.export(format="tf_saved_model")`; its `serve` signature takes float32
            `(B, H, W, 3)` images in [0, 1] and returns the scores). ONNX is not offered: Keras
            needs the `onnx`/`tf2onnx` packages for it, which ferzoo does not depend on.
        info: class names and image size, written beside the export (`ferzoo.json` inside a
            SavedModel folder; `config.json` beside a `.keras` file when none is there).
        check: reload the export and compare its outputs with the model's on random inputs.
        atol: the largest absolute difference the check accepts.

    Returns:
        The largest absolute difference found by the check (None when `check=False`).

    Raises:
        ValueError: for an unknown format, or when the export's outputs differ by more than `atol`.
    """
    if format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}. Received: format={format!r}")
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    x = np.random.default_rng(0).random((2, *shape)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    if format == "keras":
        if not path.endswith(".keras"):
            raise ValueError(f"A keras export path must end in .keras. Received: path={path!r}")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        model.save(path)
        if info:
            side = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
            if not os.path.exists(side):
                with open(side, "w", encoding="utf-8") as f:
                    json.dump(info, f, indent=2)
        if not check:
            return None
        reloaded, _ = load_model(path)
        got = keras.ops.convert_to_numpy(reloaded(x, training=False))
    else:
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                "A SavedModel export needs the tensorflow backend (run `ferzoo export --backend "
                f"tensorflow`; the .keras file loads on any backend). Received: backend="
                f"{keras.backend.backend()!r}"
            )
        model.export(path, format="tf_saved_model", verbose=False)
        if info:
            with open(os.path.join(path, "ferzoo.json"), "w", encoding="utf-8") as f:
                json.dump(info, f, indent=2)
        if not check:
            return None
        import tensorflow as tf

        served = tf.saved_model.load(path)
        got = np.asarray(served.serve(tf.constant(x)))
    diff = float(np.max(np.abs(np.asarray(got) - expected)))
    if diff > atol:
        raise ValueError(
            f"The {format} export at {path} differs from the Keras model by {diff:.3g} "
            f"(> atol={atol})."
        )
    return diff
