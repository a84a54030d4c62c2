"""The ONNX graph rewrites keep the outputs: Pad folded into MaxPool, jax2onnx's N-d pools, names
and metadata (small handmade graphs, ONNX Runtime)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from ferzoo.serving import onnx_graph, onnx_pools  # noqa: E402

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free


def _model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def _run(model, x):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _pad_pool(first_op="Relu"):
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")
    nodes = [
        helper.make_node(first_op, ["x"], ["r"]),
        helper.make_node("Pad", ["r", "pads"], ["p"], mode="constant"),
        helper.make_node("MaxPool", ["p"], ["y"], kernel_shape=[3, 3], strides=[2, 2]),
    ]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 7, 7])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 2, 4, 4])
    return _model(nodes, [x], [y], [pads])


def test_zero_pad_after_relu_folds_into_the_max_pool():
    x = np.random.default_rng(0).normal(size=(2, 2, 7, 7)).astype(np.float32)
    model = _pad_pool()
    expected = _run(model, x)
    assert onnx_graph.fold_pad_into_max_pool(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Relu", "MaxPool"]
    pool = model.graph.node[1]
    assert [a.ints for a in pool.attribute if a.name == "pads"] == [[1, 1, 1, 1]]
    np.testing.assert_array_equal(_run(model, x), expected)


def test_a_pad_of_possibly_negative_values_is_left_alone():
    # Without the ReLU a zero pad can win the max over negative values: folding would be wrong.
    model = _pad_pool(first_op="Neg")
    assert onnx_graph.fold_pad_into_max_pool(model) == 0
    assert [n.op_type for n in model.graph.node] == ["Neg", "Pad", "MaxPool"]


def test_nd_max_pools_become_2d_pools_over_the_spatial_axes():
    axes = numpy_helper.from_array(np.array([0], np.int64), "a0")
    axes1 = numpy_helper.from_array(np.array([1], np.int64), "a1")
    both = numpy_helper.from_array(np.array([0, 1], np.int64), "a01")
    nodes = [  # the shape of jax2onnx's lowering of lax.reduce_window on NHWC
        helper.make_node("Unsqueeze", ["x", "a0"], ["u0"]),
        helper.make_node("Unsqueeze", ["u0", "a1"], ["u1"]),
        helper.make_node("MaxPool", ["u1"], ["p"], kernel_shape=[1, 3, 3, 1], strides=[1, 2, 2, 1]),
        helper.make_node("Squeeze", ["p", "a01"], ["y"]),
    ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 7, 7, 3])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3, 3, 3])
    model = _model(nodes, [x_info], [y_info], [axes, axes1, both])
    assert onnx_graph.split_nd_pools(model) == 1
    x = np.random.default_rng(1).normal(size=(2, 7, 7, 3)).astype(np.float32)
    expected = np.stack(
        [
            np.stack(
                [x[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3].max(axis=(1, 2)) for j in range(3)], 1
            )
            for i in range(3)
        ],
        1,
    )
    np.testing.assert_array_equal(_run(model, x), expected)


def _window_sum_graph(kernel: np.ndarray):
    """jax2onnx's window sum on NHWC: two Unsqueezes, a Conv with a rank-6 kernel, a Squeeze."""
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "a0"),
        numpy_helper.from_array(np.array([1], np.int64), "a1"),
        numpy_helper.from_array(np.array([0, 1], np.int64), "a01"),
        numpy_helper.from_array(kernel, "k"),
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["x", "a0"], ["u0"]),
        helper.make_node("Unsqueeze", ["u0", "a1"], ["u1"]),
        helper.make_node("Conv", ["u1", "k"], ["c"], strides=[1, 1, 1, 1], group=1),
        helper.make_node("Squeeze", ["c", "a01"], ["s"]),
        helper.make_node("Neg", ["s"], ["y"]),
    ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 5, 4, 3])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4, 4, 3])
    return _model(nodes, [x_info], [y_info], inits)


def test_window_sums_with_a_rank_6_kernel_become_2d_average_pools():
    model = _window_sum_graph(np.ones((1, 1, 1, 2, 1, 1), np.float32))
    assert onnx_graph.split_nd_pools(model) == 1
    onnx_pools.drop_unit_axis_round_trips(model)
    ops = [n.op_type for n in model.graph.node]
    assert "Conv" not in ops and "AveragePool" in ops and "Unsqueeze" not in ops
    x = np.random.default_rng(1).normal(size=(2, 5, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(_run(model, x), -(x[:, :-1] + x[:, 1:]), rtol=1e-6, atol=1e-6)
    weighted = _window_sum_graph(np.full((1, 1, 1, 2, 1, 1), 0.5, np.float32))
    assert onnx_graph.split_nd_pools(weighted) == 0  # not a window sum: left alone


def test_finish_names_the_batch_and_stores_metadata():
    model = _pad_pool()
    onnx_graph.finish(model, {"class_names": '["a", "b"]', "input_size": "7"}, graph_name="net")
    onnx.checker.check_model(model)
    graph = model.graph
    assert graph.input[0].name == "image" and graph.output[0].name == "scores"
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert {p.key: p.value for p in model.metadata_props}["input_size"] == "7"
    assert graph.name == "net" and graph.node[0].input[0] == "image"


def test_concat_of_branch_convs_moves_after_the_pool():
    rng = np.random.default_rng(2)
    weights = [rng.normal(size=(4, 3, k, k)).astype(np.float32) for k in (3, 5)]
    inits = [numpy_helper.from_array(w, f"w{k}") for k, w in zip((3, 5), weights, strict=True)]
    inits.append(numpy_helper.from_array(rng.normal(size=4).astype(np.float32), "b3"))
    scale = rng.uniform(0.5, 2.0, (1, 8, 1, 1)).astype(np.float32)
    shift = rng.normal(size=(1, 8, 1, 1)).astype(np.float32)
    inits += [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(shift, "t")]
    nodes = [
        helper.make_node("Conv", ["x", "w3", "b3"], ["c3"], kernel_shape=[3, 3], pads=[1] * 4),
        helper.make_node("Conv", ["x", "w5"], ["c5"], kernel_shape=[5, 5], pads=[2] * 4),
        helper.make_node("Concat", ["c3", "c5"], ["cat"], axis=1),
        helper.make_node("Mul", ["cat", "s"], ["m"]),
        helper.make_node("Add", ["m", "t"], ["a"]),
        helper.make_node("Relu", ["a"], ["r"]),
        helper.make_node(
            "MaxPool", ["r"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1] * 4
        ),
    ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 9, 9])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 8, 5, 5])
    model = _model(nodes, [x_info], [y_info], inits)
    x = rng.normal(size=(2, 3, 9, 9)).astype(np.float32)
    expected = _run(model, x)
    assert onnx_graph.split_concat_before_pool(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert ops == ["Conv", "Relu", "MaxPool", "Conv", "Relu", "MaxPool", "Concat"]
    np.testing.assert_allclose(_run(model, x), expected, atol=1e-5)
    # A graph where the ReLU output has a second consumer is left alone.
    model = _model(
        nodes,
        [x_info],
        [y_info, helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
        inits[:],
    )
    assert onnx_graph.split_concat_before_pool(model) == 0


def test_shape_driven_reshape_gets_a_constant_target_and_the_shape_arithmetic_goes():
    start = numpy_helper.from_array(np.array([0], np.int64), "zero")
    rest = numpy_helper.from_array(np.array([24], np.int64), "rest")
    nodes = [  # tf2onnx's reshape to (tf.shape(x)[0], 24)
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
        helper.make_node("Concat", ["b", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 2, 3, 4])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 24])
    model = _model(nodes, [x_info], [y_info], [start, rest])
    assert onnx_graph.static_reshapes(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Reshape"]
    target = {i.name: i for i in model.graph.initializer}[model.graph.node[0].input[1]]
    assert numpy_helper.to_array(target).tolist() == [-1, 24]
    x = np.random.default_rng(3).normal(size=(5, 2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(_run(model, x), x.reshape(5, 24))


def test_squeeze_after_global_pool_becomes_flatten():
    axes = numpy_helper.from_array(np.array([2, 3], np.int64), "axes")
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["p"]),
        helper.make_node("Squeeze", ["p", "axes"], ["y"]),
    ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4, 3, 3])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4])
    model = _model(nodes, [x_info], [y_info], [axes])
    x = np.random.default_rng(4).normal(size=(2, 4, 3, 3)).astype(np.float32)
    expected = _run(model, x)
    assert onnx_graph.flatten_pooled(model) == 1
    assert [n.op_type for n in model.graph.node] == ["GlobalAveragePool", "Flatten"]
    np.testing.assert_array_equal(_run(model, x), expected)


def test_nodes_on_constants_are_folded():
    mean = numpy_helper.from_array(np.array([0.5, -1.0, 2.0], np.float32), "mean")
    nodes = [  # jax2onnx's batch norm: x + (-mean)
        helper.make_node("Neg", ["mean"], ["shift"]),
        helper.make_node("Add", ["x", "shift"], ["y"]),
    ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])
    model = _model(nodes, [x_info], [y_info], [mean])
    assert onnx_graph.fold_constants(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Add"]
    x = np.random.default_rng(5).normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_array_equal(_run(model, x), x - np.array([0.5, -1.0, 2.0], np.float32))


def test_pytorchs_gathered_adaptive_pool_becomes_a_matmul():
    rows = np.array([0, 0, 1])  # a 2x2 map pooled (upsampled) to 3x3, windows of one cell
    index = np.stack(np.meshgrid(rows, rows, indexing="ij"), -1).reshape(3, 1, 3, 1, 2)
    inits = [
        numpy_helper.from_array(index.astype(np.int64), "idx"),
        numpy_helper.from_array(np.array([-3, -1], np.int64), "axes"),
    ]
    nodes = [  # torch.onnx's adaptive_avg_pool2d from 2x2 to 3x3
        helper.make_node("Transpose", ["x"], ["t"], perm=[2, 3, 0, 1]),
        helper.make_node("GatherND", ["t", "idx"], ["g"]),
        helper.make_node("Transpose", ["g"], ["u"], perm=[4, 5, 0, 1, 2, 3]),
        helper.make_node("ReduceMean", ["u", "axes"], ["y"], keepdims=0),
    ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4, 2, 2])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4, 3, 3])
    graph = helper.make_graph(nodes, "g", [x_info], [y_info], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    x = np.random.default_rng(6).normal(size=(2, 4, 2, 2)).astype(np.float32)
    expected = _run(model, x)
    np.testing.assert_array_equal(expected[:, :, 2, 2], x[:, :, 1, 1])
    assert onnx_pools.gather_pool_to_matmul(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Reshape", "MatMul", "Reshape"]
    np.testing.assert_allclose(_run(model, x), expected, atol=1e-6)


def test_a_repeat_of_a_one_pixel_map_becomes_a_rank_4_tile():
    """The 6x6 pool of a 1x1 map, one axis (`Unsqueeze -> Expand -> Reshape` from PyTorch,
    a rank-5 Tile from tf2onnx; OpenCV's DNN module fails on both) becomes a Tile of the unit
    axis: the same values at every batch size. A repeat of a longer axis is left alone."""
    inits = [
        numpy_helper.from_array(np.array([2], np.int64), "axes"),
        numpy_helper.from_array(np.array([1, 1, 6, 1, 1], np.int64), "shape"),
        numpy_helper.from_array(np.array([-1, 6, 1, 4], np.int64), "target"),
    ]
    nodes = [
        helper.make_node("Unsqueeze", ["x", "axes"], ["u"]),
        helper.make_node("Expand", ["u", "shape"], ["e"]),
        helper.make_node("Reshape", ["e", "target"], ["y"]),
    ]
    cases = ((1, 1, "Expand"), (2, 0, "Expand"), (1, 1, "Tile"))  # Tile: as tf2onnx writes it
    for height, rewrites, op in cases:
        nodes[1] = helper.make_node(op, ["u", "shape"], ["e"])
        x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, height, 1, 4])
        y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        graph = helper.make_graph(nodes, "g", [x_info], [y_info], initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        if height == 2:  # (B, 2, 1, 4) repeated 6 times along a new axis: (B, 12, 1, 4)
            model.graph.initializer[2].CopyFrom(
                numpy_helper.from_array(np.array([-1, 12, 1, 4], np.int64), "target")
            )
        xs = [np.random.default_rng(b).normal(size=(b, height, 1, 4)).astype(np.float32)
              for b in (1, 3)]  # fmt: skip
        expected = [_run(model, x) for x in xs]
        assert onnx_pools.repeat_to_tile(model) == rewrites
        ops = [n.op_type for n in model.graph.node]
        assert ops == (["Tile", "Reshape"] if rewrites else ["Unsqueeze", op, "Reshape"])
        for x, want in zip(xs, expected, strict=True):
            np.testing.assert_array_equal(_run(model, x), want)


def test_unit_axis_round_trips_around_a_pool_are_dropped():
    """jax2onnx's `Unsqueeze(0) -> Unsqueeze(1) -> ... -> Squeeze(0, 1)` (around its 6-D
    pools) reads the 4-D tensor itself afterwards; a Squeeze of other axes stays."""
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "a0"),
        numpy_helper.from_array(np.array([1], np.int64), "a1"),
        numpy_helper.from_array(np.array([0, 1], np.int64), "a01"),
        numpy_helper.from_array(np.array([1, 0], np.int64), "a10"),
    ]
    for axes, dropped in (("a01", 1), ("a10", 1), ("a1", 0)):
        nodes = [
            helper.make_node("Unsqueeze", ["x", "a0"], ["u0"]),
            helper.make_node("Unsqueeze", ["u0", "a1"], ["u1"]),
            helper.make_node("Squeeze", ["u1", axes], ["s"]),
            helper.make_node("Relu", ["s"], ["y"]),
        ]
        x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 4, 4, 2])
        y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
        graph = helper.make_graph(nodes, "g", [x_info], [y_info], initializer=inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
        x = np.random.default_rng(7).normal(size=(3, 4, 4, 2)).astype(np.float32)
        expected = _run(model, x)
        assert onnx_pools.drop_unit_axis_round_trips(model) == dropped
        ops = [n.op_type for n in model.graph.node]
        assert ops == (["Relu"] if dropped else ["Unsqueeze", "Unsqueeze", "Squeeze", "Relu"])
        np.testing.assert_array_equal(_run(model, x), expected)


@pytest.mark.parametrize("axes, keepdims", [([1, 2], 0), ([1, 2], 1), ([2, 3], 0), ([-1, -2], 1)])
def test_a_spatial_reduce_mean_becomes_a_global_average_pool(axes, keepdims):
    """jax2onnx's global average pool (OpenCV computes it right only at its first batch size),
    on NHWC or NCHW, keeping the dimensions or not: `[Transpose ->] GlobalAveragePool ->
    Flatten or [Transpose]`, the same means."""
    nodes = [helper.make_node("ReduceMean", ["x"], ["y"], axes=axes, keepdims=keepdims)]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 5, 4, 3])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = _model(nodes, [x_info], [y_info])  # opset 17: the axes as an attribute
    x = np.random.default_rng(1).normal(size=(2, 5, 4, 3)).astype(np.float32)
    expected = x.mean(axis=tuple(axes), keepdims=bool(keepdims))
    assert onnx_pools.mean_to_global_pool(model) == 1
    ops = [n.op_type for n in model.graph.node]
    assert "ReduceMean" not in ops and "GlobalAveragePool" in ops
    np.testing.assert_allclose(_run(model, x), expected, rtol=1e-5, atol=1e-6)
    nodes = [helper.make_node("ReduceMean", ["x"], ["y"], axes=[3], keepdims=0)]
    other = _model(nodes, [x_info], [y_info])
    assert onnx_pools.mean_to_global_pool(other) == 0  # not a spatial mean: left alone


def test_a_broadcast_of_a_unit_axis_to_a_computed_shape_becomes_a_rank_4_tile():
    """jax2onnx's repeat of a 1x1 map: Reshape to rank 5 -> Expand to a shape built from the
    batch -> Reshape back, as one Tile of the rank-4 map (OpenCV fails on that Expand)."""
    inits = [
        numpy_helper.from_array(np.array([-1, 1, 1, 1, 3], np.int64), "s5"),
        numpy_helper.from_array(np.array([0], np.int64), "i0"),
        numpy_helper.from_array(np.array([1, 6, 1, 3], np.int64), "rest"),
        numpy_helper.from_array(np.array([-1, 6, 1, 3], np.int64), "s4"),
    ]
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "i0"], ["batch"], axis=0),
        helper.make_node("Concat", ["batch", "rest"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "s5"], ["r5"]),
        helper.make_node("Expand", ["r5", "target"], ["e5"]),
        helper.make_node("Reshape", ["e5", "s4"], ["y"]),
    ]
    x_info = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, 1, 3])
    y_info = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 6, 1, 3])
    model = _model(nodes, [x_info], [y_info], inits)
    x = np.random.default_rng(1).normal(size=(2, 1, 1, 3)).astype(np.float32)
    expected = _run(model, x)
    assert onnx_pools.broadcast_to_tile(model) == 1
    assert [n.op_type for n in model.graph.node] == ["Tile"]
    np.testing.assert_array_equal(_run(model, x), expected)
    np.testing.assert_array_equal(_run(model, x[:1]), expected[:1])
