"""Rewrites of the exporters' pools in ONNX graphs, for OpenVINO and OpenCV's DNN module.

The AlexNet-style models (cnn, mcnn, wca_mcnn, wse_mcnn) pool their last map to 6x6 before the
classifier. When that map is smaller than 6x6, PyTorch's exporter writes the pool as

- a `GatherND` of constant windows (a 2x2 map, 96 px): OpenCV has no GatherND, so
  `gather_pool_to_matmul` writes the same means as one constant MatMul;
- `Unsqueeze -> Expand -> Reshape` per axis (a 1x1 map, 64 px and less): OpenCV's Expand
  layer keeps the batch of its first run and fails on the next ("DNN/Expand: invalid
  dimension"), and tf2onnx writes Keras' repeat the same way with a rank-5 `Tile`, which
  OpenCV refuses; `repeat_to_tile` writes one rank-4 `Tile` of that axis instead. jax2onnx
  writes it as `Reshape -> Expand` to a shape computed from the batch `-> Reshape`, which
  `broadcast_to_tile` writes as the same rank-4 `Tile`.

jax2onnx writes each max pool as `Unsqueeze(0) -> Unsqueeze(1) -> MaxPool over (1, 1, N, H, W,
C) -> Squeeze(0, 1)` (and the adaptive pool's window sums as a Conv with a rank-6 kernel),
which `onnx_graph.split_nd_pools` turns into a 2-D pool between a `Squeeze` and a two-axis
`Unsqueeze`; OpenCV refuses multi-axis Unsqueezes, and `drop_unit_axis_round_trips` removes
each `Unsqueeze ... -> Squeeze` round trip, so the pool reads and writes the 4-D tensors
themselves. jax2onnx's global average pool is a `ReduceMean` over the spatial axes, which
OpenCV computes right only at the batch size of a net's first run (1.0 off after it);
`mean_to_global_pool` writes a `GlobalAveragePool`.

The outputs stay equal and the batch dynamic (tests/test_onnx_graph.py; README, "Runtimes and
int8").
"""

from __future__ import annotations

import numpy as np

from ferzoo.serving.onnx_graph import _attrs, _maps, _only_user, _probe_shapes, prune


def _window_mean_matrix(indices: np.ndarray, height: int, width: int) -> np.ndarray | None:
    """`(H*W, P*Q)`: the mean over each window of `indices` `(P, kh, Q, kw, 2)` as a matrix."""
    if indices.ndim != 5 or indices.shape[-1] != 2:
        return None
    rows, kh, cols, kw, _ = indices.shape
    matrix = np.zeros((height * width, rows * cols), np.float32)
    for i in range(rows):
        for j in range(cols):
            for p, q in indices[i, :, j, :].reshape(-1, 2):
                matrix[int(p) * width + int(q), i * cols + j] += 1.0 / (kh * kw)
    return matrix


def gather_pool_to_matmul(model) -> int:
    """PyTorch's adaptive average pool of a map smaller than its output (`Transpose(2, 3, 0, 1)
    -> GatherND(constant windows) -> Transpose(4, 5, 0, 1, 2, 3) -> ReduceMean(-3, -1)`) becomes
    `Reshape (B, C, H*W) -> MatMul(constant) -> Reshape (B, C, P, Q)`: the same means, in rank 3
    and 4 (OpenCV's DNN module has no GatherND). Returns how many pools were rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producers, consumers, initializers = _maps(graph)
    rewritten = 0
    for node in [n for n in graph.node if n.op_type == "GatherND"]:
        first, second = producers.get(node.input[0]), _only_user(consumers, node.output[0])
        mean = second and _only_user(consumers, second.output[0])
        if not (first and second and mean) or node.input[1] not in initializers:
            continue
        if first.op_type != "Transpose" or _attrs(first).get("perm") != [2, 3, 0, 1]:
            continue
        if second.op_type != "Transpose" or _attrs(second).get("perm") != [4, 5, 0, 1, 2, 3]:
            continue
        axes = initializers.get(mean.input[1]) if len(mean.input) > 1 else None
        if mean.op_type != "ReduceMean" or axes is None or _attrs(mean).get("keepdims") != 0:
            continue
        if sorted(int(a) % 6 for a in numpy_helper.to_array(axes)) != [3, 5]:
            continue
        shape = _probe_shapes(model, (1,))[0][first.input[0]]  # (1, C, H, W)
        indices = numpy_helper.to_array(initializers[node.input[1]])
        matrix = _window_mean_matrix(indices, shape[2], shape[3])
        if matrix is None:
            continue
        base = f"{node.output[0]}_as_matmul"
        graph.initializer.extend(
            [
                numpy_helper.from_array(
                    np.array([-1, shape[1], shape[2] * shape[3]]), f"{base}_in"
                ),
                numpy_helper.from_array(matrix, f"{base}_m"),
                numpy_helper.from_array(
                    np.array([-1, shape[1], indices.shape[0], indices.shape[2]]), f"{base}_out"
                ),
            ]
        )
        at = list(graph.node).index(mean)
        new = [
            helper.make_node("Reshape", [first.input[0], f"{base}_in"], [f"{base}_flat"]),
            helper.make_node("MatMul", [f"{base}_flat", f"{base}_m"], [f"{base}_pooled"]),
            helper.make_node("Reshape", [f"{base}_pooled", f"{base}_out"], [mean.output[0]]),
        ]
        for offset, item in enumerate(new):
            graph.node.insert(at + offset, item)
        for old in (node, second, mean):
            graph.node.remove(old)
        rewritten += 1
        producers, consumers, initializers = _maps(graph)
    prune(model)
    return rewritten


def _constant(initializers, name: str) -> list[int] | None:
    from onnx import numpy_helper

    value = initializers.get(name)
    return None if value is None else numpy_helper.to_array(value).astype(np.int64).tolist()


def repeat_to_tile(model) -> int:
    """`Unsqueeze(axis k) -> Expand or Tile(ones but r at k)` on a tensor whose axis k - 1 has
    size 1 (the 6x6 pool of a 1x1 map, repeating it r times: PyTorch writes an Expand,
    tf2onnx a Tile) becomes `Tile(r at k - 1)` of the tensor itself, which has the same output
    shape, so the `Reshape` after it is unchanged. Returns how many were rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producers, consumers, initializers = _maps(graph)
    shapes = None
    rewritten = 0
    for expand in [n for n in graph.node if n.op_type in ("Expand", "Tile")]:
        unsqueeze = producers.get(expand.input[0])
        if unsqueeze is None or unsqueeze.op_type != "Unsqueeze" or len(unsqueeze.input) < 2:
            continue
        if _only_user(consumers, unsqueeze.output[0]) is not expand:
            continue
        axes, target = _constant(initializers, unsqueeze.input[1]), _constant(initializers,
                                                                               expand.input[1])  # fmt: skip
        if axes is None or target is None or len(axes) != 1:
            continue
        k = axes[0] % len(target)
        if k < 1 or any(d != 1 for i, d in enumerate(target) if i != k):
            continue
        shapes = shapes or _probe_shapes(model, (1,))[0]
        source = shapes.get(unsqueeze.input[0])
        if source is None or source[k - 1] != 1:
            continue
        repeats = np.ones(len(source), np.int64)
        repeats[k - 1] = target[k]
        name = f"{expand.output[0]}_repeats"
        graph.initializer.append(numpy_helper.from_array(repeats, name))
        at = list(graph.node).index(expand)
        graph.node.insert(at, helper.make_node("Tile", [unsqueeze.input[0], name],
                                               [expand.output[0]]))  # fmt: skip
        graph.node.remove(expand)
        rewritten += 1
        producers, consumers, initializers = _maps(graph)
    prune(model)
    return rewritten


def _tiled_axis(source, expanded, target, result) -> tuple[int, int] | None:
    """`(j, r)` when `Reshape(source -> expanded) -> Expand(target) -> Reshape(-> result)`
    (shapes at batch 2) only inserts unit axes, repeats one of them r times and drops unit
    axes again, so that it equals tiling `source`'s unit axis j r times; else None."""
    changed = [k for k, (a, b) in enumerate(zip(expanded, target, strict=True)) if a != b]
    if len(changed) != 1 or expanded[changed[0]] != 1:
        return None

    def real(shape):
        return [d for d in shape if d != 1]

    k, r = changed[0], target[changed[0]]
    if real(source) != real(expanded) or real(target) != real(result):
        return None
    before = len(real(expanded[:k]))
    for j, size in enumerate(source):
        tiled = [*source[:j], r, *source[j + 1 :]]
        if size == 1 and len(real(source[:j])) == before and tuple(tiled) == tuple(result):
            return j, r
    return None


def broadcast_to_tile(model) -> int:
    """`Reshape -> Expand(a shape computed from the batch) -> Reshape` that repeats one unit
    axis (jax2onnx's 6x6 pool of a 1x1 map, 64 px and less) becomes one rank-4 `Tile` of the
    first Reshape's input: OpenCV's DNN module fails on that Expand once the batch changes.
    Returns how many were rewritten."""
    from onnx import helper, numpy_helper

    graph = model.graph
    producers, consumers, _ = _maps(graph)
    shapes = None
    rewritten = 0
    for expand in [n for n in graph.node if n.op_type == "Expand"]:
        first, last = producers.get(expand.input[0]), _only_user(consumers, expand.output[0])
        if first is None or last is None or first.op_type != "Reshape" or last.op_type != "Reshape":
            continue
        shapes = shapes or _probe_shapes(model, (2,))[0]
        found = _tiled_axis(*(shapes.get(name, ()) for name in (first.input[0], expand.input[0],
                                                                 expand.output[0], last.output[0])))  # fmt: skip
        if found is None:
            continue
        repeats = np.ones(len(shapes[first.input[0]]), np.int64)
        repeats[found[0]] = found[1]
        name = f"{expand.output[0]}_repeats"
        graph.initializer.append(numpy_helper.from_array(repeats, name))
        at = list(graph.node).index(last)
        graph.node.insert(at, helper.make_node("Tile", [first.input[0], name], [last.output[0]]))
        graph.node.remove(last)
        rewritten += 1
        producers, consumers, _ = _maps(graph)
    prune(model)
    return rewritten


def _unsqueezed_source(node, producers, consumers, initializers):
    """`(source, axes)` when `node` ends a chain of Unsqueezes (each the only use of the one
    before) of `source` that inserts the leading axes `axes = [0, 1, ...]`, else None."""
    axes: list[int] = []
    source = None
    while node is not None and node.op_type == "Unsqueeze" and len(node.input) > 1:
        inserted = _constant(initializers, node.input[1])
        if inserted is None:
            return None
        axes = inserted + axes  # the earlier Unsqueeze's axes come first
        source = node.input[0]
        before = producers.get(source)
        if before is None or _only_user(consumers, source) is not node:
            break
        node = before
    if source is None or axes != list(range(len(axes))):
        return None
    return source, axes


def drop_unit_axis_round_trips(model) -> int:
    """`Unsqueeze(leading axes) [-> more Unsqueezes] -> Squeeze(the same axes)` becomes its
    source: every use of the Squeeze's output reads the source instead (see the module
    docstring). Returns how many round trips were removed."""
    graph = model.graph
    producers, consumers, initializers = _maps(graph)
    outputs = {v.name for v in graph.output}
    removed = 0
    for squeeze in [n for n in graph.node if n.op_type == "Squeeze" and len(n.input) > 1]:
        axes = _constant(initializers, squeeze.input[1])
        first = producers.get(squeeze.input[0])
        if axes is None or first is None or squeeze.output[0] in outputs:
            continue
        if _only_user(consumers, first.output[0]) is not squeeze:
            continue
        found = _unsqueezed_source(first, producers, consumers, initializers)
        if found is None or sorted(axes) != found[1]:
            continue
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name == squeeze.output[0]:
                    node.input[i] = found[0]
        removed += 1
        producers, consumers, initializers = _maps(graph)
    prune(model)
    return removed


def _reduced_axes(node, initializers, rank: int) -> list[int] | None:
    axes = _attrs(node).get("axes")  # opset < 18
    if axes is None and len(node.input) > 1:
        axes = _constant(initializers, node.input[1])
    return None if axes is None else sorted(int(a) % rank for a in axes)


def mean_to_global_pool(model) -> int:
    """`ReduceMean` over the two spatial axes of a 4-D map (jax2onnx's global average pool,
    on NHWC axes 1 and 2 or NCHW axes 2 and 3) becomes `[Transpose ->] GlobalAveragePool ->
    Flatten` (or a Transpose back, when it keeps the dimensions): OpenCV's DNN module computes
    that ReduceMean right only at the batch size of a net's first run. Returns how many were
    rewritten."""
    from onnx import helper

    graph = model.graph
    _, _, initializers = _maps(graph)
    shapes = None
    rewritten = 0
    for mean in [n for n in graph.node if n.op_type == "ReduceMean"]:
        shapes = shapes or _probe_shapes(model, (1,))[0]
        rank = len(shapes.get(mean.input[0], ()))
        axes = _reduced_axes(mean, initializers, rank) if rank == 4 else None
        if axes not in ([1, 2], [2, 3]):
            continue
        base = f"{mean.output[0]}_as_pool"
        new, current = [], mean.input[0]
        if axes == [1, 2]:
            new.append(
                helper.make_node("Transpose", [current], [f"{base}_nchw"], perm=[0, 3, 1, 2])
            )
            current = f"{base}_nchw"
        new.append(helper.make_node("GlobalAveragePool", [current], [f"{base}_pooled"]))
        if _attrs(mean).get("keepdims", 1) == 0:
            new.append(helper.make_node("Flatten", [f"{base}_pooled"], [mean.output[0]], axis=1))
        elif axes == [1, 2]:
            new.append(helper.make_node("Transpose", [f"{base}_pooled"], [mean.output[0]],
                                        perm=[0, 2, 3, 1]))  # fmt: skip
        else:
            new[-1].output[0] = mean.output[0]
        at = list(graph.node).index(mean)
        for offset, item in enumerate(new):
            graph.node.insert(at + offset, item)
        graph.node.remove(mean)
        rewritten += 1
    prune(model)
    return rewritten


__all__ = [
    "broadcast_to_tile",
    "drop_unit_axis_round_trips",
    "gather_pool_to_matmul",
    "mean_to_global_pool",
    "repeat_to_tile",
]
