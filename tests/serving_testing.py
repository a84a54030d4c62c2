"""Shared pieces of the serving tests: a small saved run, drawn faces, a drawn video, an export.

Everything is small (40 px models with shrunk widths, 128-160 px pictures, 30-frame videos), so
each test takes seconds on one CPU core.
"""

from __future__ import annotations

import json
import os

import cv2
import keras
import numpy as np

import ferzoo
from ferzoo import face, synthetic

CLASSES = list(synthetic.CLASS_NAMES)
SIZE = 40


def small_model(size: int = SIZE, seed: int = 0, **overrides) -> keras.Model:
    """A shrunk resnet18 with random batch-norm statistics (so BN is not the identity)."""
    keras.utils.set_random_seed(seed)
    kwargs = dict(depths=(1, 1, 1, 1), widths=(8, 8, 16, 16))
    name = overrides.pop("name", "resnet18")
    model = ferzoo.build(
        name, num_classes=7, input_shape=(size, size, 3), **{**kwargs, **overrides}
    )
    randomize_batch_norm(model, seed)
    return model


def randomize_batch_norm(model: keras.Model, seed: int = 0) -> None:
    """Give every BatchNormalization layer random moving statistics, as a trained model has."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(rng.normal(0, 0.1, mean.shape).astype("float32"))
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype("float32"))


def save_run(model: keras.Model, folder, *, normalization=None, metrics: bool = True) -> str:
    """Save `model` as `ferzoo train` does: model.keras, config.json, metrics.json."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(str(folder), "model.keras")
    model.save(path)
    config = {
        "model": "resnet18",
        "dataset": "synthetic_faces",
        "protocol": "subject",
        "fold": 2,
        "class_names": CLASSES,
        "image_size": int(model.inputs[0].shape[1]),
    }
    if normalization is not None:
        config["normalization"] = normalization
    with open(os.path.join(str(folder), "config.json"), "w") as f:
        json.dump(config, f)
    if metrics:
        with open(os.path.join(str(folder), "metrics.json"), "w") as f:
            json.dump({"accuracy": 0.875, "macro_f1": 0.81, "num_examples": 48}, f)
    return path


def drawn_face(seed: int = 0, label: int = 3, size: int = 128) -> np.ndarray:
    """A synthetic face (RGB uint8) on which the Haar detector finds a face (searches seeds)."""
    for s in range(seed, seed + 50):
        rng = np.random.default_rng(s)
        image = synthetic.draw_face(rng, synthetic.subject_params(rng), label=label, size=size)
        if face.detect_faces(image):
            return image
    raise AssertionError("no drawn face was detected in 50 tries")


def write_image(path, image: np.ndarray) -> str:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return str(path)


def write_video(path, frames: int = 30, fps: float = 10.0, size: int = 160, blank=()) -> str:
    """A video of drawn faces (one subject, changing expressions); frames in `blank` are grey."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size))
    assert writer.isOpened()
    rng = np.random.default_rng(7)
    subject = synthetic.subject_params(rng)
    for i in range(frames):
        if i in blank:
            image = np.full((size, size, 3), 128, np.uint8)
        else:
            image = synthetic.draw_face(rng, subject, label=(i // 5) % 7, size=size)
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()
    return str(path)


def export_onnx(model_path: str, out: str) -> str:
    """Export a saved model to ONNX on the current backend (checked)."""
    from ferzoo.serving.engines import load_model
    from ferzoo.serving.export import export_model

    model, info = load_model(model_path)
    export_model(model, out, "onnx", info=info)
    return out
