"""Small rewrites of exported ONNX graphs: names, batch dimension, metadata, and two fixes.

- `finish(model, metadata)`: the input is called `image`, the output `scores`, their first
  dimension the symbolic `batch`, and `metadata` goes into `metadata_props`.
- `fold_pad_into_max_pool`: `Relu -> Pad(0) -> MaxPool` becomes `Relu -> MaxPool(pads)`. The
  Keras models pad with zeros before their stem's max pool (`ZeroPadding2D`, as torchvision's
  padding=1); after a ReLU a zero pad never wins a max, so the pool's own padding gives the
  same result without writing a padded copy of the largest tensor of the network (on
  msc_wca_resnet18 at 224 px that copy, 192 x 226 x 226 floats, cost ONNX Runtime about 10 %
  of the batch-1 time: see results/inference.md).
- `split_concat_before_pool`: the MsC stem's `Concat(3 convs) -> batch norm -> ReLU -> MaxPool`
  becomes three `Conv(batch norm folded) -> ReLU -> MaxPool` branches and one Concat of the
  pooled maps (every step acts per channel, so the values are the same); ONNX Runtime then
  fuses each Conv with its ReLU and never concatenates, scales or copies the full-resolution
  192-channel map (on msc_wca_resnet18 the Concat and the batch norm's multiply of that map
  took about 10 % of ONNX Runtime's batch-1 time).
- `split_nd_pools`: jax2onnx writes `lax.reduce_window` as a 4-spatial-dimension MaxPool
  over `(1, 1, N, H, W, C)`, which ONNX allows and ONNX Runtime's CPU kernels do not ("Unsupported
  pooling size"); the rewrite pools over the two real spatial axes of the 4D tensor instead.
  It writes the window sums of Keras' adaptive average pool the same way, as a Conv whose
  rank-6 kernel is all ones, which OpenVINO and OpenCV DNN cannot read ("Conversion is failed
  for: Conv"); those become a 2D AveragePool times the window's size.

Example:

    import onnx
    from ferzoo.serving import onnx_graph

    graph = onnx.load("model.onnx")
    onnx_graph.fold_pad_into_max_pool(graph)
    onnx_graph.split_concat_before_pool(graph)
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
    for value in graph.output:  # a graph output is a use that no rewrite may remove
        consumers.setdefault(value.name, []).append(None)
    initializers = {i.name: i for i in graph.initializer}
    return producers, consumers, initializers


def _only_user(consumers, name: str):
    """The one node that uses `name`, or None when it has several uses or is a graph output."""
    users = consumers.get(name, [])
    return users[0] if len(users) == 1 else None


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
        pool = _only_user(consumers, pad.output[0])
        source = producers.get(pad.input[0])
        if pool is None or pool.op_type != "MaxPool" or source is None:
            continue
        if source.op_type != "Relu":
            continue
        amounts = _pad_amounts(pad, initializers)
        if amounts is None or len(amounts) != 8 or any(amounts[i] for i in (0, 1, 4, 5)):
            continue
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


def _nd_pool(node, initializers):
    """`(op, attributes, scale)` of a pool of jax2onnx over `(1, 1, N, H, W, C)`: a 4-axis
    MaxPool, or a window sum, written as a Conv whose rank-6 kernel `(1, 1, kN, kH, kW, kC)` is
    all ones (an AveragePool times the window's size); None for any other node."""
    from onnx import numpy_helper

    attrs = _attrs(node)
    if node.op_type == "MaxPool" and len(attrs.get("kernel_shape", ())) == 4:
        return "MaxPool", attrs, 1.0
    if node.op_type != "Conv" or len(node.input) != 2 or attrs.get("group", 1) != 1:
        return None
    if attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        return None
    weight = initializers.get(node.input[1])
    kernel = None if weight is None else numpy_helper.to_array(weight)
    if kernel is None or kernel.ndim != 6 or kernel.shape[:2] != (1, 1) or np.any(kernel != 1):
        return None
    return "AveragePool", dict(attrs, kernel_shape=list(kernel.shape[2:])), float(kernel.size)


def _pool_axes(attrs) -> list[int] | None:
    """The two spatial axes `[2, 3]` (NCHW) or `[1, 2]` (NHWC) of a 4-axis pool's window, or
    None when it also spans, strides, pads or dilates the batch or a third axis."""
    k, s = list(attrs["kernel_shape"]), list(attrs.get("strides", [1] * 4))
    p, d = list(attrs.get("pads", [0] * 8)), list(attrs.get("dilations", [1] * 4))
    plain = [k[i] == 1 and s[i] == 1 and p[i] == p[i + 4] == 0 and d[i] == 1 for i in range(4)]
    if not plain[0] or not (plain[1] or plain[3]):
        return None
    return [2, 3] if plain[1] else [1, 2]


def _pool_2d(op: str, attrs, axes: list[int]) -> dict:
    k, s = list(attrs["kernel_shape"]), list(attrs.get("strides", [1] * 4))
    p, d = list(attrs.get("pads", [0] * 8)), list(attrs.get("dilations", [1] * 4))
    pool = {"kernel_shape": [k[i] for i in axes], "strides": [s[i] for i in axes]}
    pads = [p[i] for i in axes] + [p[i + 4] for i in axes]
    if any(pads):
        pool["pads"] = pads
        if op == "AveragePool":
            pool["count_include_pad"] = 1  # a window sum counts the zeros it pads with
    if any(d[i] != 1 for i in axes):
        pool["dilations"] = [d[i] for i in axes]
    return pool


def split_nd_pools(model) -> int:
    """Rewrite jax2onnx's 4-spatial-axis MaxPools and window sums as 2D pools (see the module
    docstring).

    Returns:
        How many pools were rewritten.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    initializers = {i.name: i for i in graph.initializer}
    nodes = []
    rewritten = 0
    for node in graph.node:
        found = _nd_pool(node, initializers)
        axes = None if found is None else _pool_axes(found[1])
        if found is None or (axes is None and found[0] == "AveragePool"):  # left as it is
            nodes.append(node)
            continue
        op, attrs, scale = found
        if axes is None:
            raise ValueError(f"Cannot rewrite {op} {node.name!r} with attributes {attrs}.")
        base = f"{node.name or op.lower()}_{rewritten}"
        squeeze_axes = f"{base}_axes"
        graph.initializer.append(numpy_helper.from_array(np.array([0, 1], np.int64), squeeze_axes))
        current = f"{base}_4d"
        nodes.append(helper.make_node("Squeeze", [node.input[0], squeeze_axes], [current]))
        if axes == [1, 2]:
            nodes.append(
                helper.make_node("Transpose", [current], [f"{base}_nchw"], perm=[0, 3, 1, 2])
            )
            current = f"{base}_nchw"
        nodes.append(
            helper.make_node(op, [current], [f"{base}_pooled"], **_pool_2d(op, attrs, axes))
        )
        current = f"{base}_pooled"
        if scale != 1.0:
            graph.initializer.append(
                numpy_helper.from_array(np.array(scale, np.float32), f"{base}_size")
            )
            nodes.append(helper.make_node("Mul", [current, f"{base}_size"], [f"{base}_sum"]))
            current = f"{base}_sum"
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


def _channel_constant(name: str, initializers, channels: int) -> np.ndarray | None:
    """A constant broadcast over NCHW channels as a (channels,) array, or None."""
    from onnx import numpy_helper

    if name not in initializers:
        return None
    value = numpy_helper.to_array(initializers[name]).astype(np.float32)
    if value.size == 1:
        return np.full(channels, float(value.reshape(())), np.float32)
    squeezed = value.reshape(-1)
    ok = value.size == channels and (value.ndim < 3 or value.shape[-2:] == (1, 1))
    return squeezed if ok and (value.ndim != 4 or value.shape[0] == 1) else None


def _chain_after(concat, consumers, initializers, channels: int):
    """`(scale, shift, [nodes])` of `Concat -> [Mul c] -> [Add c] -> Relu -> MaxPool`, or None."""
    scale, shift = np.ones(channels, np.float32), np.zeros(channels, np.float32)
    chain, current = [], concat.output[0]
    for step in ("Mul", "Add", "Relu", "MaxPool"):  # Mul and Add are optional
        node = _only_user(consumers, current)
        if node is None:
            return None
        if node.op_type != step:
            if step in ("Mul", "Add"):
                continue
            return None
        if step in ("Mul", "Add"):
            others = [name for name in node.input if name != current]
            value = (
                _channel_constant(others[0], initializers, channels) if len(others) == 1 else None
            )
            if value is None:
                return None
            if step == "Mul":
                scale, shift = scale * value, shift * value
            else:
                shift = shift + value
        chain.append(node)
        current = node.output[0]
    return scale, shift, chain


def _branch(graph, conv, weight, bias, scale, shift, pool) -> list:
    """`Conv(affine folded) -> Relu -> MaxPool` for one branch; returns the three nodes."""
    from onnx import helper, numpy_helper

    name = f"{conv.name or conv.output[0]}_folded"
    graph.initializer.extend(
        [
            numpy_helper.from_array(
                (weight * scale[:, None, None, None]).astype(np.float32), f"{name}_w"
            ),
            numpy_helper.from_array((bias * scale + shift).astype(np.float32), f"{name}_b"),
        ]
    )
    inputs = [conv.input[0], f"{name}_w", f"{name}_b"]
    return [
        helper.make_node("Conv", inputs, [f"{name}_y"], name=name, **_attrs(conv)),
        helper.make_node("Relu", [f"{name}_y"], [f"{name}_r"], name=f"{name}_relu"),
        helper.make_node(
            "MaxPool", [f"{name}_r"], [f"{name}_p"], name=f"{name}_pool", **_attrs(pool)
        ),
    ]


def _branch_convs(concat, producers, consumers, initializers) -> list | None:
    """The Convs a channel Concat joins, each used only there, with constant weights; or None."""
    convs = [producers.get(name) for name in concat.input]
    if _attrs(concat).get("axis") != 1:
        return None
    for c in convs:
        if c is None or c.op_type != "Conv" or _only_user(consumers, c.output[0]) is None:
            return None
        if any(name not in initializers for name in c.input[1:3]):
            return None
    return convs


def split_concat_before_pool(model) -> int:
    """Move a per-channel affine, ReLU and max pool before the Concat of parallel convolutions.

    `Concat(Conv_1..Conv_k) -> [Mul c] -> [Add c] -> Relu -> MaxPool` (the MsC stem: three
    branch convolutions, batch norm, ReLU, max pool) becomes, per branch, `Conv' -> Relu ->
    MaxPool` with the affine folded into `Conv'`'s weights and bias, and one Concat of the
    pooled maps: the same values (all four steps act on each channel alone), but ONNX Runtime
    fuses each Conv with its ReLU, and the full-resolution 192-channel map is never
    concatenated, scaled or copied (only the 4x smaller pooled one is concatenated).

    Returns:
        How many such Concats were moved.
    """
    from onnx import helper, numpy_helper

    graph = model.graph
    producers, consumers, initializers = _maps(graph)
    moved = 0
    for concat in [n for n in graph.node if n.op_type == "Concat"]:
        convs = _branch_convs(concat, producers, consumers, initializers)
        if convs is None:
            continue
        weights = [numpy_helper.to_array(initializers[c.input[1]]) for c in convs]
        found = _chain_after(concat, consumers, initializers, sum(w.shape[0] for w in weights))
        if found is None:
            continue
        scale, shift, chain = found
        nodes, start = [], 0
        for conv, w in zip(convs, weights, strict=True):
            part = slice(start, start + w.shape[0])
            start += w.shape[0]
            bias = (
                numpy_helper.to_array(initializers[conv.input[2]]) if len(conv.input) > 2 else 0.0
            )
            nodes += _branch(graph, conv, w, bias, scale[part], shift[part], chain[-1])
        pooled = [n.output[0] for n in nodes[2::3]]
        nodes.append(helper.make_node("Concat", pooled, [chain[-1].output[0]], axis=1))
        at = list(graph.node).index(chain[-1])
        for offset, node in enumerate(nodes):
            graph.node.insert(at + offset, node)
        for old in [*convs, concat, *chain]:
            graph.node.remove(old)
        moved += 1
        producers, consumers, initializers = _maps(graph)
    return moved


def _probe_shapes(model, batches=(1, 2)) -> list[dict[str, tuple]]:
    """The shape of the input and of every tensor the nodes of `model` compute, run by ONNX
    Runtime at each batch size in `batches` (random inputs of the input's fixed trailing
    shape)."""
    import onnx
    import onnxruntime as ort

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    listed = {v.name for v in probe.graph.output}
    for name in (o for node in probe.graph.node for o in node.output):
        if name and name not in listed:
            probe.graph.output.append(onnx.ValueInfoProto(name=name))
            listed.add(name)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(
        probe.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    first = session.get_inputs()[0]
    names = [o.name for o in session.get_outputs()]
    rng = np.random.default_rng(0)
    shapes = []
    for n in batches:
        x = rng.random((n, *first.shape[1:])).astype(np.float32)
        values = session.run(None, {first.name: x})
        found = {name: tuple(np.shape(v)) for name, v in zip(names, values, strict=True)}
        shapes.append({first.name: x.shape, **found})
    return shapes


def prune(model) -> int:
    """Remove the nodes whose outputs nothing uses; returns how many."""
    graph = model.graph
    used = {v.name for v in graph.output}
    keep = []
    for node in reversed(graph.node):
        if any(name in used for name in node.output):
            keep.append(node)
            used.update(node.input)
    removed = len(graph.node) - len(keep)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    return removed


def static_reshapes(model) -> int:
    """Give every Reshape whose target shape is computed (`Shape -> Gather -> Concat`, as
    tf2onnx writes `tf.tensordot` and a reshape by `tf.shape`) a constant target instead, with
    -1 for the one dimension that follows the batch; then drop the shape arithmetic.

    The input's trailing dimensions are fixed (the model's image size), so every such target is
    a constant but for the batch: the graph is run at batch 1 and 2 to read each Reshape's
    output shape. OpenCV's DNN module cannot import Shape nodes, and OpenVINO then knows every
    rank. A Reshape where more than one dimension follows the batch is left alone.

    Returns:
        How many Reshapes now have a constant target.
    """
    from onnx import numpy_helper

    graph = model.graph
    constant = {i.name for i in graph.initializer}
    reshapes = [n for n in graph.node if n.op_type == "Reshape" and n.input[1] not in constant]
    if not reshapes:
        return 0
    one, two = _probe_shapes(model)
    fixed = 0
    for node in reshapes:
        a, b = one[node.output[0]], two[node.output[0]]
        moving = [k for k in range(len(a)) if a[k] != b[k]] if len(a) == len(b) else None
        if moving is None or len(moving) > 1:
            continue
        target = [-1 if k in moving else int(d) for k, d in enumerate(a)]
        name = f"{node.output[0]}_static_shape"
        graph.initializer.append(numpy_helper.from_array(np.array(target, np.int64), name))
        node.input[1] = name
        fixed += 1
    prune(model)
    return fixed


def flatten_pooled(model) -> int:
    """`GlobalAveragePool -> Squeeze(axes 2, 3)` becomes `GlobalAveragePool -> Flatten`: the same
    `(batch, C)`, and OpenCV's DNN module keeps the batch axis (after the Squeeze it returned
    `(batch, 1, classes)`). Returns how many Squeezes were replaced."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producers, _, initializers = _maps(graph)
    replaced = 0
    for i, node in enumerate(graph.node):
        source = producers.get(node.input[0]) if node.op_type == "Squeeze" else None
        if source is None or source.op_type not in ("GlobalAveragePool", "GlobalMaxPool"):
            continue
        axes = initializers.get(node.input[1]) if len(node.input) > 1 else None
        values = _attrs(node).get("axes") if axes is None else numpy_helper.to_array(axes)
        if values is None or sorted(int(v) for v in values) != [2, 3]:
            continue
        flat = helper.make_node("Flatten", [node.input[0]], list(node.output), axis=1)
        flat.name = node.name
        graph.node.remove(node)
        graph.node.insert(i, flat)
        replaced += 1
    return replaced


def fold_constants(model) -> int:
    """Compute every node whose inputs are all constants once, now, and store its outputs as
    initializers (jax2onnx writes each batch norm's `rsqrt(var + eps) * gamma`, `-mean` ... as
    nodes on constants; OpenCV's DNN module cannot import a Neg of a constant).

    Returns:
        How many nodes were folded.
    """
    from onnx import helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    constants = {i.name: i for i in graph.initializer}
    opsets = list(model.opset_import)
    folded = []
    for node in graph.node:
        names = [n for n in node.input if n]
        if node.domain not in ("", "ai.onnx") or not all(n in constants for n in names):
            continue
        if node.op_type in ("RandomNormal", "RandomUniform", "RandomNormalLike", "Multinomial"):
            continue
        single = helper.make_model(
            helper.make_graph(
                [node],
                "fold",
                [],
                [helper.make_empty_tensor_value_info(o) for o in node.output],
                initializer=[constants[n] for n in set(names)],
            ),
            opset_imports=opsets,
        )
        values = ReferenceEvaluator(single).run(None, {})
        for name, value in zip(node.output, values, strict=True):
            constants[name] = numpy_helper.from_array(np.asarray(value), name)
            graph.initializer.append(constants[name])
        folded.append(node)
    for node in folded:
        graph.node.remove(node)
    return len(folded)
