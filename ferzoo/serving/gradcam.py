"""Grad-CAM on every backend: which feature map to explain, the heat maps, PNG overlays.

- `choose_layer(model)` picks the last feature map of at least 7x7 (`MIN_CAM_SIDE`); where the
  input is so small that none is, the largest of the last ones, with a warning when it is 1x1 or
  2x2 (such a map cannot say where anything is).
- `grad_cam(model, inputs)` gives the heat maps: `tf.GradientTape` on TensorFlow,
  `torch.autograd.grad` on PyTorch, `jax.grad` on JAX.
- `explain_images(predictor, paths, output_dir)` crops the faces as `ferzoo predict` does and
  writes one overlay PNG per face.

Example:

    from ferzoo.serving import gradcam

    layer = gradcam.choose_layer(model)          # e.g. "stage2_block2_relu2" at 96 px
    cams, scores = gradcam.grad_cam(model, batch, layer=layer)

Reference:
    Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based
    Localization", ICCV 2017: the map is ReLU(sum_k w_k A_k) with w_k the spatial mean of the
    class score's gradient with respect to the feature map A_k. MsC-wCA (Fig. 19) shows
    Grad-CAM maps of wCA-MCNN and MsC-wCA-ResNet18 at 224 px, where ResNet18's last map is 7x7;
    at smaller inputs the last map shrinks (3x3 at 96 px), so ferzoo goes back to the last map
    of at least 7x7. On JAX, Keras 3 offers no tape, so the part of the model after the chosen
    layer is built as its own functional model (`keras.Model(layer.output, model.output)`) and
    differentiated with `jax.grad` through `stateless_call`; that needs every path to the
    output to pass through the chosen layer, which holds for the stage and block outputs of
    every ferzoo model (a layer inside a residual block is refused, with the reason, on JAX).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ferzoo.data import imaging
from ferzoo.serving.inputs import read_image
from ferzoo.serving.predictor import NO_FACE, UNREADABLE

#: The smallest feature-map side `choose_layer` prefers.
MIN_CAM_SIDE = 7


def _spatial(shape: Sequence[Any], channels_first: bool) -> tuple[int, int] | None:
    if len(shape) != 4:
        return None
    h, w = (shape[2], shape[3]) if channels_first else (shape[1], shape[2])
    return (int(h), int(w)) if isinstance(h, int) and isinstance(w, int) else None


def _channels_first(model) -> bool:
    shape = tuple(model.inputs[0].shape[1:])
    return shape[0] == 3 and shape[-1] != 3


def feature_maps(model) -> list[tuple[str, tuple[int, int]]]:
    """Every layer with a 4D output, in model order: `(name, (height, width))` (padding and
    input layers left out: they add no features)."""
    import keras

    first = _channels_first(model)
    skip = (keras.layers.InputLayer, keras.layers.ZeroPadding2D)
    out = []
    for layer in model.layers:
        if isinstance(layer, skip):
            continue
        try:
            size = _spatial(tuple(layer.output.shape), first)
        except (AttributeError, ValueError):
            continue
        if size is not None:
            out.append((layer.name, size))
    return out


def _head(model, name: str):
    """The model from layer `name`'s output to the scores, or None where a path bypasses it."""
    import keras

    try:
        return keras.Model(model.get_layer(name).output, model.outputs[0])
    except ValueError:
        return None


def choose_layer(model, layer: str | None = None) -> str:
    """The feature layer to explain: `layer` if given, else the last of at least 7x7.

    Only layers that every path to the output passes through (block and stage outputs, not a
    layer inside a residual block) are chosen, so the map is a full description of what the
    head sees, and the same layer serves on every backend (JAX needs it). When no such map
    reaches 7x7 (a small input), the largest of them is taken. A warning names the layer when
    its map is 1x1 or 2x2.

    Raises:
        ValueError: when the model has no 4D feature map, or has no layer named `layer`.
    """
    maps = feature_maps(model)
    if not maps:
        raise ValueError(f"Model {model.name!r} has no layer with a 4D output to explain.")
    sizes = dict(maps)
    if layer is not None and layer not in sizes:
        raise ValueError(
            f"No 4D feature layer named {layer!r} in {model.name!r}. Received: layer={layer!r}"
        )
    name = layer
    if name is None:
        # Last first; among maps under 7x7, larger ones first.
        order = sorted(
            reversed(maps),
            key=lambda m: -min(min(m[1]), MIN_CAM_SIDE),
        )
        name = next((n for n, _ in order if _head(model, n) is not None), order[0][0])
    h, w = sizes[name]
    if min(h, w) <= 2:
        warnings.warn(
            f"Grad-CAM explains layer {name!r}, whose map is only {h}x{w}: the heat map cannot "
            "localise much. Use a larger input size, or pick a layer with --layer.",
            RuntimeWarning,
            stacklevel=2,
        )
    return name


def _choose(scores: np.ndarray, class_index: int | None) -> np.ndarray:
    if class_index is None:
        return scores.argmax(axis=-1).astype(np.int32)
    if not 0 <= class_index < scores.shape[-1]:
        raise ValueError(
            f"class_index must be in [0, {scores.shape[-1]}). Received: class_index={class_index}"
        )
    return np.full((scores.shape[0],), class_index, np.int32)


def _tf_grads(model, target, x, class_index):
    import keras
    import tensorflow as tf

    grad_model = keras.Model(model.inputs[0], [target.output, model.outputs[0]])
    with tf.GradientTape() as tape:
        features, scores = grad_model(tf.constant(x), training=False)
        chosen = _choose(scores.numpy(), class_index)
        score = tf.reduce_sum(tf.gather(scores, chosen, axis=1, batch_dims=1))
    grads = tape.gradient(score, features)
    return features.numpy(), grads.numpy(), scores.numpy()


def _torch_grads(model, target, x, class_index):
    import keras
    import torch

    grad_model = keras.Model(model.inputs[0], [target.output, model.outputs[0]])
    with torch.enable_grad():
        features, scores = grad_model(torch.as_tensor(x), training=False)
        chosen = _choose(scores.detach().cpu().numpy(), class_index)
        index = torch.as_tensor(chosen, device=scores.device)[:, None]
        score = torch.gather(scores, 1, index).sum()
        (grads,) = torch.autograd.grad(score, features)
    as_np = [t.detach().cpu().numpy() for t in (features, grads, scores)]
    return tuple(as_np)


def _jax_grads(model, target, x, class_index):
    import jax
    import jax.numpy as jnp
    import keras

    head = _head(model, target.name)
    if head is None:
        raise ValueError(
            f"On JAX, Grad-CAM needs a layer that every path to the output passes through; "
            f"{target.name!r} is bypassed (a residual connection). Choose a block or stage "
            f"output, or use the tensorflow or torch backend. Received: layer={target.name!r}"
        )
    features = keras.Model(model.inputs[0], target.output)(x, training=False)
    trainable = [v.value for v in head.trainable_variables]
    frozen = [v.value for v in head.non_trainable_variables]
    scores = np.asarray(head.stateless_call(trainable, frozen, features, training=False)[0])
    chosen = jnp.asarray(_choose(scores, class_index))

    def total(a):
        out, _ = head.stateless_call(trainable, frozen, a, training=False)
        return jnp.take_along_axis(out, chosen[:, None], axis=1).sum()

    grads = jax.grad(total)(features)
    return np.asarray(features), np.asarray(grads), scores


def grad_cam(
    model,
    inputs: np.ndarray,
    *,
    layer: str | None = None,
    class_index: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM heat maps of a batch, on the TensorFlow, PyTorch or JAX backend.

    Args:
        model: a functional classifier.
        inputs: float32 `(B, H, W, 3)` (or `(B, 3, H, W)` for a channels_first model).
        layer: the feature layer to explain; default `choose_layer(model)`.
        class_index: the class to explain; default each example's predicted class.

    Returns:
        `(heatmaps (B, h, w) in [0, 1] at the layer's resolution, scores (B, num_classes))`.
    """
    import keras

    name = choose_layer(model, layer)
    target = model.get_layer(name)
    x = np.asarray(inputs, np.float32)
    backend = keras.backend.backend()
    compute = {"tensorflow": _tf_grads, "torch": _torch_grads, "jax": _jax_grads}.get(backend)
    if compute is None:
        raise ValueError(
            f"Grad-CAM runs on tensorflow, torch or jax. Received: backend={backend!r}"
        )
    single = backend == "tensorflow" and len(x) == 1
    if single:  # TF 2.21's CPU Conv2D filter gradient crashes (SIGSEGV) on some batch-1 graphs
        x = np.concatenate([x, x])
    features, grads, scores = compute(model, target, x, class_index)
    if single:
        features, grads, scores = features[:1], grads[:1], scores[:1]
    if _channels_first(model):
        features = np.moveaxis(features, 1, -1)
        grads = np.moveaxis(grads, 1, -1)
    weights = grads.mean(axis=(1, 2), keepdims=True)  # global-average-pooled gradients
    cams = np.maximum((weights * features).sum(axis=-1), 0.0)
    peak = cams.max(axis=(1, 2), keepdims=True)
    cams = np.divide(cams, peak, out=np.zeros_like(cams), where=peak > 0)
    return cams.astype(np.float32), np.asarray(scores, np.float32)


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Blend a [0, 1] heat map (jet colours) over an RGB uint8 image; returns RGB uint8."""
    h, w = image.shape[:2]
    heat = cv2.resize(cam.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    colored = cv2.applyColorMap(np.uint8(255 * np.clip(heat, 0, 1)), cv2.COLORMAP_JET)
    colored = cv2.cvtColor(colored, cv2.COLOR_BGR2RGB)
    return np.uint8((1 - alpha) * image.astype(np.float32) + alpha * colored.astype(np.float32))


def _write_overlay(path: str, face: np.ndarray, cam: np.ndarray, text: str, side: int) -> None:
    face_rgb = cv2.resize(np.uint8(np.clip(face, 0, 1) * 255), (side, side))
    picture = overlay(face_rgb, cam)
    cv2.putText(picture, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
    cv2.imwrite(path, cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))


def explain_images(
    predictor,
    paths: Sequence[str],
    output_dir: str,
    *,
    layer: str | None = None,
) -> list[dict[str, Any]]:
    """Write a Grad-CAM overlay PNG per face: `<output_dir>/<stem>_face<k>.png`.

    Faces are found and cropped as `ferzoo predict` does (`predictor.faces`, `predictor.crop`: the same detector, box or alignment);
    the overlay is drawn on the crop as the model sees it (at least 224 px).

    Args:
        predictor: a `ferzoo.Predictor` on a Keras model (`.keras`).
        paths: image files.
        output_dir: where the PNGs go (made once the first face is found).
        layer: the feature layer (default `choose_layer`).

    Returns:
        One record per face (`file`, `face`, `box`, `label`, `score`, `scores`, `layer`,
        `overlay`) or per failed image (`file`, `error`).
    """
    if predictor.engine.kind != "keras":
        raise ValueError(
            "Grad-CAM needs the Keras model (.keras), not an ONNX file. Received: "
            f"model kind={predictor.engine.kind!r}"
        )
    model = predictor.engine.model
    name = choose_layer(model, layer)
    records: list[dict[str, Any]] = []
    for path in paths:
        image = read_image(path)
        found = [] if image is None else predictor.faces(image)
        if not found:
            records.append({"file": path, "error": UNREADABLE if image is None else NO_FACE})
            continue
        batch = np.stack([predictor.crop(image, f) for f in found])
        cams, scores = grad_cam(model, batch, layer=name)
        stem = os.path.splitext(os.path.basename(path))[0]
        for i, (face, cam, row) in enumerate(zip(found, cams, scores, strict=True)):
            record = {"file": path, **predictor.face_record(i, face, row), "layer": name}
            out = os.path.join(output_dir, f"{stem}_face{i}.png")
            pixels = batch[i] if predictor.normalization is None else _unit(image, face, predictor)
            text = f"{record['label']} {record['score']:.2f}"
            os.makedirs(output_dir, exist_ok=True)  # only once there is something to write
            _write_overlay(out, pixels, cam, text, max(224, predictor.image_size))
            records.append({**record, "overlay": out})
    return records


def _unit(image: np.ndarray, face, predictor) -> np.ndarray:
    """The face in [0, 1] before normalisation (for drawing), cropped as the model saw it."""
    marks = face.landmarks if face is not None and predictor.align else None
    return imaging.preprocess(
        image, predictor.image_size, None if face is None else face.box, marks
    )
