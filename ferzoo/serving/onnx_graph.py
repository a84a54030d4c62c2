"""Small rewrites of exported ONNX graphs: names, batch dimension, metadata, and two fixes.

- `finish(model, metadata)`: the input is called `image`, the output `scores`, their first
  dimension the symbolic `batch`, and `metadata` goes into `metadata_props`.
- `fold_pad_into_max_pool`: `Relu -> Pad(0) -> MaxPool` becomes `Relu -> MaxPool(pads)`. The
  Keras models pad with zeros before their stem's max pool (`ZeroPadding2D`, as torchvision's
  padding=1); after a ReLU a zero pad never wins a max, so the pool's own padding gives the
  same result without writing a padded copy of the largest tensor of the network (on
  msc_wca_resnet18 at 224 px that copy, 192 x 226 x 226 floats, cost ONNX Runtime about 10 %
  of the batch-1 time: see results/inference.md).
- `split_nd_max_pools`: jax2onnx writes `lax.reduce_window` as a 4-spatial-dimension MaxPool
  over `(1, 1, N, H, W, C)`, which ONNX allows and ONNX Runtime's CPU kernels do not ("Unsupported
  pooling size"); the rewrite pools over the two real spatial axes of the 4D tensor instead.

Example:

    import onnx
    from ferzoo.serving import onnx_graph

    graph = onnx.load("model.onnx")
    onnx_graph.fold_pad_into_max_pool(graph)
    onnx_graph.finish(graph, {"class_names": '["a", "b"]'})
    onnx.save(graph, "model.onnx")
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

INPUT_NAME = "image"
OUTPUT_NAME = "scores"


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _set_attr(node, name: str, value) -> None:
    from onnx import helper

    for attr in list(node.attribute):
        if attr.name == name:
            node.attribute.remove(attr)
    node.attribute.append(helper.make_attribute(name, value))


def _rename(graph, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        for seq in (node.input, node.output):
            for i, name in enumerate(seq):
                if name == old:
                    seq[i] = new
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new


def finish(model, metadata: Mapping[str, str], graph_name: str | None = None) -> None:
    """Name the input `image` and output `scores`, make dim 0 `batch`, store `metadata`, drop
    initializers no node uses."""
    graph = model.graph
    initializers = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in initializers]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise ValueError(
            "An exported classifier has one input and one output. Received: "
            f"inputs={[v.name for v in inputs]}, outputs={[v.name for v in graph.output]}"
        )
    _rename(graph, inputs[0].name, INPUT_NAME)
    _rename(graph, graph.output[0].name, OUTPUT_NAME)
    for value in (inputs[0], graph.output[0]):
        dim = value.type.tensor_type.shape.dim[0]
        dim.Clear()
        dim.dim_param = "batch"
    if graph_name:
        graph.name = graph_name
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)  # e.g. the pad amounts of a folded Pad
    del model.metadata_props[:]
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = str(key), str(value)


def _maps(graph):
    producers = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    initializers = {i.name: i for i in graph.initializer}
    return producers, consumers, initializers


def _pad_amounts(pad, initializers) -> list[int] | None:
    """A constant zero Pad's amounts `[begin..., end...]`, or None when it is anything else."""
    from onnx import numpy_helper

    mode = _attrs(pad).get("mode", b"constant")
    if mode not in (b"constant", "constant"):
        return None
    if len(pad.input) > 2 and pad.input[2]:
        value = initializers.get(pad.input[2])
        if value is None or np.any(numpy_helper.to_array(value) != 0):
            return None
    if len(pad.input) > 3 and pad.input[3]:
        return None  # padding selected axes only: leave it
    amounts = initializers.get(pad.input[1]) if len(pad.input) > 1 else None
    if amounts is None:
        return None
    return numpy_helper.to_array(amounts).astype(np.int64).tolist()


def fold_pad_into_max_pool(model) -> int:
    """Fold `Relu -> Pad(zeros) -> MaxPool` into the pool's padding (see the module docstring).

    Only where the Pad pads the spatial axes of an NCHW tensor, feeds nothing but the pool, and
    every pool window keeps at least one real value (pad < kernel).

    Returns:
        How many Pads were folded.
    """
    graph = model.graph
    producers, consumers, initializers = _maps(graph)
    folded = 0
    for pad in [n for n in graph.node if n.op_type == "Pad"]:
        users = consumers.get(pad.output[0], [])
        source = producers.get(pad.input[0])
        if len(users) != 1 or users[0].op_type != "MaxPool" or source is None:
            continue
        if source.op_type != "Relu":
            continue
        amounts = _pad_amounts(pad, initializers)
        if amounts is None or len(amounts) != 8 or any(amounts[i] for i in (0, 1, 4, 5)):
            continue
        pool = users[0]
        attrs = _attrs(pool)
        kernel = list(attrs["kernel_shape"])
        if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or len(kernel) != 2:
            continue
        old = list(attrs.get("pads", [0, 0, 0, 0]))
        new = [amounts[2] + old[0], amounts[3] + old[1], amounts[6] + old[2], amounts[7] + old[3]]
        if any(p >= kernel[i % 2] for i, p in enumerate(new)):
            continue
        _set_attr(pool, "pads", new)
        pool.input[0] = pad.input[0]
        graph.node.remove(pad)
        folded += 1
    return folded


def split_nd_max_pools(model) -> int:
    """Rewrite jax2onnx's 4-spatial-axis MaxPools as 2D ones (see the module docstring).

    Returns:
        How many pools were rewritten.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    nodes = []
    rewritten = 0
    for node in graph.node:
        attrs = _attrs(node)
        if node.op_type != "MaxPool" or len(attrs.get("kernel_shape", ())) != 4:
            nodes.append(node)
            continue
        k, s = list(attrs["kernel_shape"]), list(attrs.get("strides", [1] * 4))
        p, d = list(attrs.get("pads", [0] * 8)), list(attrs.get("dilations", [1] * 4))
        plain = [k[i] == 1 and s[i] == 1 and p[i] == p[i + 4] == 0 and d[i] == 1 for i in range(4)]
        if not plain[0] or not (plain[1] or plain[3]):
            raise ValueError(f"Cannot rewrite MaxPool {node.name!r} with attributes {attrs}.")
        axes = [2, 3] if plain[1] else [1, 2]  # NCHW, or NHWC
        base = f"{node.name or 'max_pool'}_{rewritten}"
        squeeze_axes = f"{base}_axes"
        graph.initializer.append(numpy_helper.from_array(np.array([0, 1], np.int64), squeeze_axes))
        current = f"{base}_4d"
        nodes.append(helper.make_node("Squeeze", [node.input[0], squeeze_axes], [current]))
        if axes == [1, 2]:
            nodes.append(
                helper.make_node("Transpose", [current], [f"{base}_nchw"], perm=[0, 3, 1, 2])
            )
            current = f"{base}_nchw"
        pool = {"kernel_shape": [k[i] for i in axes], "strides": [s[i] for i in axes]}
        pads = [p[i] for i in axes] + [p[i + 4] for i in axes]
        if any(pads):
            pool["pads"] = pads
        if any(d[i] != 1 for i in axes):
            pool["dilations"] = [d[i] for i in axes]
        nodes.append(helper.make_node("MaxPool", [current], [f"{base}_pooled"], **pool))
        current = f"{base}_pooled"
        if axes == [1, 2]:
            nodes.append(
                helper.make_node("Transpose", [current], [f"{base}_nhwc"], perm=[0, 2, 3, 1])
            )
            current = f"{base}_nhwc"
        nodes.append(helper.make_node("Unsqueeze", [current, squeeze_axes], [node.output[0]]))
        rewritten += 1
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten
