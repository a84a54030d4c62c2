"""The input normalisation a weights source implies, and applying it (NumPy or tf.data)."""

from __future__ import annotations

import copy
import json
import math
import os
from typing import Any

import numpy as np

from ferzoo.pretrained.layout import EXPECTED

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: The normalisation ImageNet-pretrained ResNets expect: `(x - mean) / std` per RGB channel, on
#: images scaled to `input_range`. Record it in a run's config.json and an export's metadata.
IMAGENET_NORMALIZATION: dict[str, Any] = {
    "name": "imagenet",
    "mean": IMAGENET_MEAN,
    "std": IMAGENET_STD,
    "input_range": (0.0, 1.0),
}


def normalization_for(weights: str | os.PathLike | None) -> dict[str, Any] | None:
    """The input normalisation a weights source implies (None: ferzoo's plain `[0, 1]` images).

    - a torchvision `.pth`/`.pt`: `IMAGENET_NORMALIZATION`;
    - a keras-hub preset: from its image converter (`preprocessor.json` or
      `image_converter.json`: `x * scale + offset` on `[0, 255]` pixels), else ImageNet's
      (keras-hub's ResNet ImageNet presets use ImageNet's mean and std);
    - a ferzoo `.keras`/`.weights.h5`: the `"normalization"` entry of the run's config.json
      (beside the file or one folder up, for `checkpoints/`), else None.

    Args:
        weights: what `ferzoo.build(weights=...)` was given, or None.

    Returns:
        `{"name", "mean", "std", "input_range"}` (apply with `normalize`), or None.

    Example:
    >>> normalization_for("resnet18.pth")["std"]
    (0.229, 0.224, 0.225)
    """
    if weights is None:
        return None
    path = os.fspath(weights)
    if os.path.isdir(path):
        return _preset_normalization(path)
    if path.lower().endswith((".pth", ".pt")):
        return copy.deepcopy(IMAGENET_NORMALIZATION)
    if path.lower().endswith((".keras", ".h5")):
        here = os.path.dirname(os.path.abspath(path))
        for folder in (here, os.path.dirname(here)):
            config = os.path.join(folder, "config.json")
            if os.path.isfile(config):
                try:
                    with open(config) as f:
                        recorded = json.load(f)
                except (OSError, ValueError):
                    continue
                if isinstance(recorded, dict) and "normalization" in recorded:
                    return recorded["normalization"]
        return None
    raise ValueError(f"Unknown weights format; expected {EXPECTED}. Received: weights={path!r}")


def _find_converter(node: Any) -> dict[str, Any] | None:
    """The config of the first `*ImageConverter` in a keras-hub JSON tree."""
    if isinstance(node, dict):
        if str(node.get("class_name", "")).endswith("ImageConverter") and "config" in node:
            return node["config"]
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _find_converter(child)
        if found is not None:
            return found
    return None


def _preset_normalization(path: str) -> dict[str, Any]:
    for name in ("preprocessor.json", "image_converter.json"):
        file = os.path.join(path, name)
        if not os.path.isfile(file):
            continue
        with open(file) as f:
            converter = _find_converter(json.load(f))
        if converter is not None:
            return _converter_normalization(converter)
    return copy.deepcopy(IMAGENET_NORMALIZATION)


def _converter_normalization(config: dict[str, Any]) -> dict[str, Any]:
    """keras-hub's `x * scale + offset` on `[0, 255]` pixels as `(x01 - mean) / std`."""
    scale, offset = config.get("scale"), config.get("offset")
    if "mean" in config and "variance" in config:  # keras-hub's older converter configs
        std = [math.sqrt(v) for v in config["variance"]]
        scale = [(1.0 if scale is None else scale) / s for s in std]
        offset = [-m / s for m, s in zip(config["mean"], std, strict=True)]
    scale = np.broadcast_to(np.asarray(1.0 if scale is None else scale, dtype="float64"), (3,))
    offset = np.broadcast_to(np.asarray(0.0 if offset is None else offset, dtype="float64"), (3,))
    std = 1.0 / (255.0 * scale)
    mean = -offset * std
    imagenet = np.allclose(mean, IMAGENET_MEAN, atol=1e-4) and np.allclose(
        std, IMAGENET_STD, atol=1e-4
    )
    if imagenet:
        return copy.deepcopy(IMAGENET_NORMALIZATION)
    return {
        "name": "keras_hub",
        "mean": tuple(round(float(m), 6) for m in mean),
        "std": tuple(round(float(s), 6) for s in std),
        "input_range": (0.0, 1.0),
    }


def normalize(images, normalization: dict[str, Any] | None, *, channel_axis: int = -1):
    """`(images - mean) / std` per channel; `images` in `normalization["input_range"]` ([0, 1]).

    Plain arithmetic with NumPy constants, so it works on NumPy arrays and inside a `tf.data`
    map alike.

    Args:
        images: a float array or tensor, `(..., H, W, C)` (or channels on `channel_axis`).
        normalization: what `normalization_for` returned; None returns `images` unchanged.
        channel_axis: the channel axis (`1` for channels_first batches).

    Returns:
        The normalised images, same shape.

    Example:
    >>> x = np.full((1, 2, 2, 3), 0.485, "float32")
    >>> float(normalize(x, IMAGENET_NORMALIZATION)[0, 0, 0, 0])
    0.0
    """
    if normalization is None:
        return images
    mean = np.asarray(normalization["mean"], dtype="float32")
    std = np.asarray(normalization["std"], dtype="float32")
    rank = len(images.shape)
    channels = images.shape[channel_axis]
    if channels is not None and int(channels) != mean.size:
        raise ValueError(
            f"normalization has {mean.size} channels, the images {channels} on axis "
            f"{channel_axis}. Received: images.shape={tuple(images.shape)}"
        )
    shape = [1] * rank
    shape[channel_axis] = mean.size
    return (images - mean.reshape(shape)) / std.reshape(shape)
