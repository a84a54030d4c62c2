"""Parameter and MAC counts of a Keras model, counted the way the papers (thop / ptflops) count.

`profile(model)` walks the functional graph (nested functional models included) and counts, per
image and one forward pass, the multiply-accumulates of:

- convolutions: `k_h * k_w * C_in / groups * C_out * H_out * W_out` (bias not counted, as thop);
- dense layers: `in * out` per position they are applied at;
- ferzoo's layers: the convolutions inside MultiScaleConv, MultiScaleFusion and PrimaryCapsule;
  the 1x1-conv products of WaveletChannelAttention (both branches), WaveletSqueezeExcitation and
  WideAttention (at each pooled strip position); and the capsule products of `Capsule`: the
  predictions `u_hat = W u` (`N_in * N_out * D_in * D_out`) plus, per routing iteration, the
  weighted sum (`N_in * N_out * D_out`) and, except in the last, the agreement
  (`N_in * N_out * D_out`).

Not counted, as in thop: batch norm, activations (ReLU, sigmoid, Morlet), pooling, additions,
concatenation, the element-wise rescaling by attention weights, softmax and squash. Their cost is
small next to the products and thop registers no MACs for them.

`register_macs(layer_cls)` adds a counter for a user's own layer. A layer with weights and no
counter is reported with a warning and counted as 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import keras

from ferzoo import layers as L

Shape = tuple  # a shape without the batch axis
Counter = Callable[[keras.layers.Layer, list[Shape], list[Shape]], int]

_COUNTERS: dict[type, Counter] = {}


def register_macs(layer_cls: type) -> Callable[[Counter], Counter]:
    """Decorator: register `fn(layer, input_shapes, output_shapes) -> int` as the MAC counter
    of `layer_cls` (and its subclasses without their own counter). Shapes exclude the batch axis.

    Example:
    ```python
    @register_macs(MyLayer)
    def _my_layer_macs(layer, input_shapes, output_shapes):
        return int(layer.kernel.size) * output_shapes[0][0]
    ```
    """

    def decorator(fn: Counter) -> Counter:
        _COUNTERS[layer_cls] = fn
        return fn

    return decorator


def _size(variable) -> int:
    return math.prod(int(d) for d in variable.shape)


def _positions(layer, shape: Shape) -> int:
    """Spatial positions of a feature map shape (without batch), honouring `data_format`."""
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return math.prod(shape[1:])
    return math.prod(shape[:-1])


_ZERO_MAC_TYPES = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.Normalization,
    L.MorletActivation,
    L.CapsuleLength,
)


# --- Keras layers -------------------------------------------------------------------------------


def _conv_macs(layer, inputs, outputs):
    # kernel (k..., C_in / groups, C_out): its size is k*k*C_in/groups*C_out.
    return _size(layer.kernel) * _positions(layer, outputs[0])


for _cls in (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D):
    register_macs(_cls)(_conv_macs)
for _cls in (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D):
    register_macs(_cls)(_conv_macs)


def _conv_transpose_macs(layer, inputs, outputs):
    return _size(layer.kernel) * _positions(layer, inputs[0])


for _cls in (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
):
    register_macs(_cls)(_conv_transpose_macs)


def _separable_macs(layer, inputs, outputs):
    positions = _positions(layer, outputs[0])
    return (_size(layer.depthwise_kernel) + _size(layer.pointwise_kernel)) * positions


for _cls in (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D):
    register_macs(_cls)(_separable_macs)


@register_macs(keras.layers.Dense)
def _dense_macs(layer, inputs, outputs):
    return _size(layer.kernel) * math.prod(outputs[0][:-1])


# --- ferzoo layers ------------------------------------------------------------------------------


@register_macs(L.MultiScaleConv)
def _msc_macs(layer, inputs, outputs):
    positions = _positions(layer, outputs[0])
    return sum(_size(conv.kernel) for conv in layer.convs) * positions


@register_macs(L.WaveletChannelAttention)
def _wca_macs(layer, inputs, outputs):
    # Each pooled (C,) vector goes through its branch's reduce and expand 1x1 convs; a shared
    # branch still runs twice.
    return sum(
        _size(branch[0].kernel) + _size(branch[2].kernel)
        for branch in (layer.max_branch, layer.avg_branch)
    )


@register_macs(L.WaveletSqueezeExcitation)
def _wse_macs(layer, inputs, outputs):
    return _size(layer.squeeze.kernel) + _size(layer.excite.kernel)


@register_macs(L.WideAttention)
def _wa_macs(layer, inputs, outputs):
    shape = inputs[0]
    height, width = (shape[0], shape[1]) if layer.data_format == "channels_last" else shape[1:3]
    # The shared squeeze sees the avg and max strips of both directions: 2 (H + W) positions.
    return (
        _size(layer.squeeze.kernel) * 2 * (height + width)
        + _size(layer.excite_h.kernel) * height
        + _size(layer.excite_w.kernel) * width
    )


@register_macs(L.MultiScaleFusion)
def _mf_macs(layer, inputs, outputs):
    positions = _positions(layer, outputs[0])
    macs = _size(layer.fuse_conv.kernel) * positions
    if not layer.identity_input:
        macs += _size(layer.input_conv.kernel) * positions
    return macs


@register_macs(L.PrimaryCapsule)
def _primary_capsule_macs(layer, inputs, outputs):
    positions = outputs[0][0] // layer.num_capsules  # (positions * num_capsules, dim)
    return _size(layer.conv.kernel) * positions


@register_macs(L.Capsule)
def _capsule_macs(layer, inputs, outputs):
    num_in, dim_in = inputs[0]
    num_out, dim_out = outputs[0]
    predictions = num_in * num_out * dim_in * dim_out
    routing = (2 * layer.routings - 1) * num_in * num_out * dim_out
    return predictions + routing


# --- the walk -----------------------------------------------------------------------------------


def _counter_for(layer) -> Counter | None:
    for cls in type(layer).__mro__:
        if cls in _COUNTERS:
            return _COUNTERS[cls]
    return None


def _shapes(tensors) -> list[Shape]:
    return [tuple(t.shape[1:]) for t in tensors]


def _model_nodes(model, layer):
    """The call nodes of `layer` that belong to `model`'s graph."""
    nodes = getattr(layer, "_inbound_nodes", [])
    own = getattr(model, "_nodes", None)  # Functional keeps the keys of its own nodes
    if own is None:
        return nodes
    return [n for i, n in enumerate(nodes) if f"{id(layer)}_ib-{i}" in own]


def _count_macs(model, warned: set) -> int:
    total = 0
    for layer in model.layers:
        nodes = _model_nodes(model, layer)
        if isinstance(layer, keras.Model) and hasattr(layer, "_nodes"):
            total += len(nodes) * _count_macs(layer, warned)
            continue
        counter = _counter_for(layer)
        if counter is None:
            if (
                layer.weights
                and not isinstance(layer, _ZERO_MAC_TYPES)
                and type(layer) not in warned
            ):
                warned.add(type(layer))
                warnings.warn(
                    f"ferzoo.profile: no MAC counter for {type(layer).__name__} (layer "
                    f"'{layer.name}'); its MACs are not counted. Add one with "
                    "ferzoo.runtime.profiling.register_macs.",
                    stacklevel=3,
                )
            continue
        for node in nodes:
            total += int(counter(layer, _shapes(node.input_tensors), _shapes(node.output_tensors)))
    return total


def _batch_norm_statistics(model) -> set[int]:
    ids = set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            ids.update({id(layer.moving_mean), id(layer.moving_variance)})
    return ids


def profile(model: keras.Model) -> dict[str, int]:
    """Parameters and multiply-accumulates (MACs) per image of a built functional model.

    Args:
        model: a functional `keras.Model` (as `ferzoo.build` returns), built on a fixed input size.

    Returns:
        `{"params", "trainable_params", "macs"}`:
        - `params`: the model's parameters as PyTorch counts them (`model.parameters()`), i.e.
          every weight except batch norm's moving mean and variance (buffers in PyTorch). This
          is the figure the papers report; Keras' `model.count_params()` also counts the moving
          statistics.
        - `trainable_params`: the trainable weights (equal to `params` unless layers are frozen).
        - `macs`: multiply-accumulates for one image, one forward pass (what the papers call
          FLOPs); see the module docstring for what is counted.

    Example:
    ```python
    stats = ferzoo.profile(ferzoo.build("resnet18"))
    stats["params"], stats["macs"]   # (11180103, 1813564928), i.e. 11.18 M and 1.81 G (paper: 1.82 G)
    ```
    """
    if not hasattr(model, "_nodes"):
        raise ValueError(
            "profile needs a functional model (as ferzoo.build returns). "
            f"Received: model of type {type(model).__name__}"
        )
    statistics = _batch_norm_statistics(model)
    seen: set[int] = set()
    params = trainable = 0
    for variable in model.weights:
        if id(variable) in seen:
            continue
        seen.add(id(variable))
        if id(variable) in statistics:
            continue
        params += _size(variable)
    seen.clear()
    for variable in model.trainable_weights:
        if id(variable) not in seen:
            seen.add(id(variable))
            trainable += _size(variable)
    return {"params": params, "trainable_params": trainable, "macs": _count_macs(model, set())}


__all__ = ["profile", "register_macs"]
