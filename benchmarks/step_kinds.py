"""What kind of work an op of a training step is, and how much of the step's wall time it took.

Pure Python, shared by `benchmarks/profile_step.py`'s three readers (TensorFlow and JAX
profiles in the XSpace format, torch.profiler's events). Each reader names an op its own way:

- TensorFlow: `"<scope>/<op name>:<op type>"`, e.g.
  `"gradient_tape/resnet18_1/stage1_block1_conv1_1/convolution/Conv2DBackpropFilter:
  _MklNativeConv2DBackpropFilter"` (`tf_kind`: the type decides convolutions and batch norm,
  the scope the rest);
- JAX: an HLO instruction (a thunk) with the `op_name` metadata of what it computes, e.g.
  `"jit(train_step)/transpose(jvp(stage1_block1_conv1))/conv_general_dilated"`
  (`hlo_kind`: `transpose(` marks the backward pass; a backward convolution whose output has
  the shape of the layer's kernel is its filter gradient, any other its input gradient);
- torch: an `aten::` op and the events around it (`torch_kind`).

A scope is read against `layers`, a map from the model's layer names to their part
(`"batch_norm"`, `"attention"`, `"optimizer"`, `"other"`; `profile_step.layer_parts` makes it):
an op inside an attention layer (ferzoo's own layers: wavelet channel attention, its Morlet
activations, the multi-scale stem) is attention work unless it is a convolution or a batch norm.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Iterable, Mapping, Sequence

#: The kinds, in the order of the report, with their labels.
KINDS = {
    "conv_forward": "convolution forward",
    "conv_input_grad": "convolution input gradient",
    "conv_filter_grad": "convolution filter gradient",
    "conv_grads": "convolution gradients, not split",
    "batch_norm": "batch norm (forward and backward)",
    "attention": "attention layers (wCA, Morlet, multi-scale stem; not their convolutions)",
    "elementwise": "pooling, element-wise, copies, loss",
    "optimizer": "optimizer update (Adam)",
    "overhead": "framework overhead (wall time - ops)",
}
#: The parts a layer name can stand for in `layers`.
PARTS = ("batch_norm", "attention", "optimizer", "other")

_TF_PREFIXES = ("_Mkl", "Native", "Fused")
_TORCH_CONV_FORWARD = (
    "aten::convolution",
    "aten::_convolution",
    "aten::conv2d",
    "aten::mkldnn_convolution",
)
_TORCH_CONV_BACKWARD = ("aten::convolution_backward", "aten::mkldnn_convolution_backward")
_TORCH_OPTIMIZER = ("Optimizer.step", "scope::optimizer")


def _check_layers(layers: Mapping[str, str]) -> None:
    bad = {name: part for name, part in layers.items() if part not in PARTS}
    if bad:
        raise ValueError(f"layers must map names to one of {PARTS}. Received: {bad}")


def scope_part(path: str, layers: Mapping[str, str]) -> str | None:
    """The part of the step that the op at `path` belongs to, or None.

    `path` is a TensorFlow op name or a JAX op_name; its components (split at `/`, `(`, `)`)
    are looked up in `layers`, as they are and without TensorFlow's `_<n>` suffix. Attention
    wins over batch norm (a batch norm inside an attention layer is the layer's work), and an
    op under the optimizer's name is the optimizer's.

    Example:
    >>> scope_part("gradient_tape/m_1/stem_wca_1/max_morlet_1/Sin", {"stem_wca": "attention"})
    'attention'
    """
    _check_layers(layers)
    parts = []
    for token in re.split(r"[/()]", path):
        if token in layers:
            parts.append(layers[token])
        elif re.sub(r"_\d+$", "", token) in layers:
            parts.append(layers[re.sub(r"_\d+$", "", token)])
    for part in ("optimizer", "attention", "batch_norm"):
        if part in parts:
            return part
    return None


def innermost_layer(path: str, layers: Iterable[str]) -> str | None:
    """The last component of `path` that names a layer of `layers` (the innermost one)."""
    names = set(layers)
    found = None
    for token in re.split(r"[/()]", path):
        if token in names:
            found = token
        elif re.sub(r"_\d+$", "", token) in names:
            found = re.sub(r"_\d+$", "", token)
    return found


def _from_scope(path: str, layers: Mapping[str, str]) -> str:
    part = scope_part(path, layers)
    return "elementwise" if part in (None, "other") else part


def tf_kind(name: str, layers: Mapping[str, str]) -> str:
    """The kind of a TensorFlow op event `"<scope>/<name>:<type>"`.

    oneDNN's variants (`_MklNativeConv2D`, `_MklFusedConv2D`, `_MklNativeFusedBatchNormV3`)
    count as the op they replace; Keras' Adam, written in plain TF ops, is found by its scope.

    Example:
    >>> tf_kind("gradient_tape/m/c_1/convolution/Conv2DBackpropInput:"
    ...         "_MklNativeConv2DBackpropInput", {})
    'conv_input_grad'
    """
    scope, _, op_type = name.rpartition(":")
    if not scope:
        raise ValueError(f"name must be '<scope>:<op type>'. Received: name={name!r}")
    base = op_type
    for prefix in _TF_PREFIXES:
        base = base.removeprefix(prefix)
    if "BackpropInput" in base:
        return "conv_input_grad"
    if "BackpropFilter" in base:
        return "conv_filter_grad"
    if re.match(r"(Conv[23]D|DepthwiseConv2d)", base):
        return "conv_forward"
    if "BatchNorm" in base:
        return "batch_norm"
    if re.match(r"(Resource)?(Sparse)?Apply", op_type):
        return "optimizer"
    return _from_scope(scope, layers)


def conv_gradient(
    out_dims: Sequence[int], batch: int, kernels: Iterable[Sequence[int]] = ()
) -> str:
    """Which gradient a backward convolution computes, from its output's shape.

    The filter gradient's output is the kernel, in whatever layout XLA chose: the dimensions
    of one of `kernels` (the layer's, where the op_name names it; else any of the model's) in
    some order. The input gradient's output is the layer's input, which has the batch among
    its dimensions. With no kernel shape matching, the batch decides.

    Example:
    >>> conv_gradient((256, 3, 3, 512), batch=16, kernels=[(3, 3, 256, 512)])
    'conv_filter_grad'
    >>> conv_gradient((16, 8, 8, 64), batch=16, kernels=[(3, 3, 64, 64)])
    'conv_input_grad'
    """
    if any(sorted(out_dims) == sorted(kernel) for kernel in kernels):
        return "conv_filter_grad"
    return "conv_input_grad" if batch in out_dims else "conv_filter_grad"


def hlo_kind(
    ops: Sequence[tuple[str, str]],
    layers: Mapping[str, str],
    *,
    batch: int,
    kernels: Mapping[str, Sequence[int]] | None = None,
    conv: tuple[Sequence[int], str] | None = None,
) -> str:
    """The kind of an XLA thunk: one HLO instruction, or a fusion of several.

    Args:
        ops: `(opcode, op_name)` of the instruction, or of each instruction inside the fusion.
        layers: layer name -> part (see the module docstring).
        batch: the step's batch size.
        kernels: layer name -> its convolution kernel's shape.
        conv: `(output shape, op_name)` of the convolution the thunk computes, if it has one.

    A convolution decides: forward where its op_name has no `transpose(` (JAX's backward
    pass); else its gradient by `conv_gradient`. XLA leaves some convolutions it rewrites
    (filter gradients, mostly) with no op_name: they are backward ones, told apart by shape
    too. Otherwise each op votes for its kind and the commonest wins: a fusion of a batch norm's
    reductions and a ReLU's mask is batch norm work. A `reverse` is the kernel flip of a
    convolution's input gradient (its copies have no op_name of their own, so do not vote).
    """
    kernels = kernels or {}
    if conv is not None:
        dims, op_name = conv
        if op_name and "transpose(" not in op_name:
            return "conv_forward"
        layer = innermost_layer(op_name, kernels)
        return conv_gradient(dims, batch, [kernels[layer]] if layer else kernels.values())
    votes: collections.Counter[str] = collections.Counter()
    for opcode, op_name in ops:
        if opcode == "reverse":
            votes["conv_input_grad"] += 1
        elif op_name:
            votes[_from_scope(op_name, layers)] += 1
    if not votes:
        return "elementwise"
    order = list(KINDS)
    return max(votes, key=lambda kind: (votes[kind], -order.index(kind)))


def torch_kind(chain: Sequence[str], attention: bool = False) -> str:
    """The kind of a torch op from the names of its event and the events around it.

    Args:
        chain: the op's event name, then its parents' names out to the outermost.
        attention: whether the op is an attention layer's work (inside its forward, or the
            backward of an op made there: `profile_step` links them by sequence number).

    `aten::convolution_backward` computes both gradients in one op, with no child event for
    either (oneDNN runs both primitives inside it): its time is `conv_grads`.
    """
    if any(name in _TORCH_CONV_BACKWARD for name in chain):
        return "conv_grads"
    if any(name in _TORCH_CONV_FORWARD for name in chain):
        return "conv_forward"
    if any("batch_norm" in name for name in chain):
        return "batch_norm"
    if any(name.startswith(_TORCH_OPTIMIZER) for name in chain):
        return "optimizer"
    if attention or "scope::attention" in chain:
        return "attention"
    return "elementwise"


def _self_segments(events: Sequence[tuple[float, float, object]]) -> list[tuple]:
    """Within one thread: the spans in which each event is the innermost one running."""
    points = []
    for index, (start, end, _) in enumerate(events):
        if end <= start:  # an instant: no time to give
            continue
        points.append((start, 1, index))
        points.append((end, 0, index))
    points.sort()
    active: list[int] = []
    segments = []
    previous = None
    for time, is_start, index in points:
        if active and previous is not None and time > previous:
            segments.append((previous, time, events[active[-1]][2]))
        if is_start:
            active.append(index)
        else:
            active.remove(index)
        previous = time
    return segments


def apportion(threads: Iterable[Sequence[tuple[float, float, object]]]) -> dict[object, float]:
    """Wall time per label, so that the labels together never exceed the time spanned.

    Args:
        threads: per thread, `(start, end, label)` events; events on one thread may nest.
            A label of None (a framework's own span: an executor, a Python frame) is no op:
            the time it has to itself counts for nobody.

    Returns:
        label -> time. An op has the time in which it is the innermost event of its thread;
        where ops of several threads run at once, each gets an equal share, so a label's time
        is its share of the wall clock, and the sum is at most the busy time of the step.
    """
    segments = [
        segment
        for events in threads
        for segment in _self_segments(events)
        if segment[2] is not None
    ]
    points = sorted(
        [(start, 1, label) for start, _, label in segments]
        + [(end, -1, label) for _, end, label in segments],
        key=lambda point: (point[0], point[1]),
    )
    totals: dict[object, float] = collections.defaultdict(float)
    running: collections.Counter = collections.Counter()
    count = 0
    previous = None
    for time, step, label in points:
        if count and time > previous:
            share = (time - previous) / count
            for active, n in running.items():
                totals[active] += share * n
        running[label] += step
        if not running[label]:
            del running[label]
        count += step
        previous = time
    return dict(totals)


def by_kind(op_ms: Mapping[tuple[str, ...], float], wall_ms: float) -> dict[str, float]:
    """Sum `(kind, op, ...) -> ms` by kind and add the overhead: `wall_ms` less all the ops."""
    kinds = {kind: 0.0 for kind in KINDS}
    for (kind, *_), ms in op_ms.items():
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {tuple(KINDS)}. Received: kind={kind!r}")
        kinds[kind] += ms
    kinds["overhead"] = wall_ms - sum(kinds.values())
    return kinds
