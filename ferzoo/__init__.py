"""ferzoo: a Keras 3 multi-backend model zoo for facial expression recognition.

The public API:

    import ferzoo
    model = ferzoo.build("msc_wca_resnet18", num_classes=7, input_shape=(224, 224, 3))
    ferzoo.list_models("*resnet18*")
    ferzoo.profile(model)       # {"params": ..., "macs": ...}
    ferzoo.Predictor("model.onnx").predict("photo.jpg")   # faces, labels, scores

Submodules load lazily, so `import ferzoo` stays cheap and `ferzoo --version` does not start a
backend; ferzoo's Keras objects register themselves once Keras is imported
(`ferzoo.keras_objects`), so `keras.saving.load_model` reads ferzoo's `.keras` files.
"""

from __future__ import annotations

import importlib
from typing import Any

from ferzoo import keras_objects as _keras_objects
from ferzoo.runtime import backend as _backend

__version__ = "0.1.0"

# Keras falls back to TensorFlow; without it installed, pick JAX or PyTorch (before Keras loads).
_backend.configure()
# `keras.saving.load_model` of a ferzoo model needs no custom_objects: ferzoo's layers, losses
# and metrics register with Keras as soon as Keras is imported (Keras itself is not imported).
_keras_objects.install()

_LAZY = {
    "build": ("ferzoo.registry", "build"),
    "list_models": ("ferzoo.registry", "list_models"),
    "register_model": ("ferzoo.registry", "register_model"),
    "profile": ("ferzoo.runtime.profiling", "profile"),
    "train": ("ferzoo.training", "train"),
    "Predictor": ("ferzoo.serving.predictor", "Predictor"),
}
# name -> module: `ferzoo.losses`, `ferzoo.precision` and `ferzoo.backend` stay reachable as
# attributes where they lived before the subpackages (`ferzoo.evaluation`, `ferzoo.runtime`).
_SUBMODULES = {
    **{name: f"ferzoo.{name}" for name in (
        "layers", "models", "data", "datasets", "registry", "pretrained", "cli", "serving",
        "runtime", "evaluation", "training", "sweep")},
    "losses": "ferzoo.evaluation.losses",
    "backend": "ferzoo.runtime.backend",
    "precision": "ferzoo.runtime.precision",
}  # fmt: skip


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    raise AttributeError(f"module 'ferzoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY) + list(_SUBMODULES))


__all__ = ["__version__", *_LAZY]
