"""benchmarks/profile_step.py: ops sorted into the kinds of results/step_profiles.md.

The classifier is pure Python (names as TensorFlow, XLA and torch.profiler write them, copied
from real profiles); one short profile on the current backend checks that the kinds it finds
add up to at most the step's wall time. No timing is asserted (speed belongs to benchmarks/).
"""

from __future__ import annotations

import math
import os
import sys

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import step_kinds, step_report, xspace  # noqa: E402

LAYERS = {
    "stage1_block1_conv1": "other",
    "stage1_block1_bn1": "batch_norm",
    "stem_bn": "batch_norm",
    "stem_msc": "attention",
    "conv_3x3": "other",
    "stem_wca": "attention",
    "max_morlet": "attention",
    "stem_pool": "other",
    "adam": "optimizer",
}
KERNELS = {"stage1_block1_conv1": (3, 3, 64, 64), "conv_3x3": (3, 3, 3, 64)}


@pytest.mark.backend_free
@pytest.mark.parametrize(
    "name, kind",
    [
        ("m_1/stage1_block1_conv1_1/convolution:_MklNativeConv2D", "conv_forward"),
        ("m_1/stage1_block1_conv1_1/convolution:_MklFusedConv2D", "conv_forward"),
        ("m_1/c_1/convolution:Conv2D", "conv_forward"),
        (
            "gradient_tape/m_1/stage1_block1_conv1_1/convolution/Conv2DBackpropInput:"
            "_MklNativeConv2DBackpropInput",
            "conv_input_grad",
        ),
        ("gradient_tape/m_1/c_1/convolution/Conv2DBackpropFilter:Conv2DBackpropFilter", "conv_filter_grad"),
        ("m_1/stage1_block1_bn1_1/FusedBatchNormV3:_MklNativeFusedBatchNormEx", "batch_norm"),
        ("gradient_tape/m_1/stem_bn_1/FusedBatchNormGradV3:_MklNativeFusedBatchNormGradV3", "batch_norm"),
        ("m_1/stage1_block1_bn1_1/AssignSubVariableOp:AssignSubVariableOp", "batch_norm"),
        ("adam/Sub_218/ReadVariableOp:ReadVariableOp", "optimizer"),
        ("Adam/update/ResourceApplyAdam:ResourceApplyAdam", "optimizer"),
        ("gradient_tape/m_1/stem_wca_1/max_morlet_1/Sin:Sin", "attention"),
        ("gradient_tape/m_1/stem_msc_1/Slice_1:Slice", "attention"),
        ("gradient_tape/m_1/stem_msc_1/conv_3x3_1/convolution/Conv2DBackpropFilter:"
         "_MklNativeConv2DBackpropFilter", "conv_filter_grad"),
        ("gradient_tape/m_1/stem_pool_1/MaxPool2d/MaxPoolGrad:_MklNativeMaxPoolGrad", "elementwise"),
    ],
)  # fmt: skip
def test_tensorflow_ops_by_type_then_scope(name, kind):
    assert step_kinds.tf_kind(name, LAYERS) == kind


def _hlo(ops=(), conv=None):
    return step_kinds.hlo_kind(ops, LAYERS, batch=16, kernels=KERNELS, conv=conv)


@pytest.mark.backend_free
def test_xla_convolutions_forward_and_both_gradients():
    forward = "jit(train_step)/jvp(stage1_block1_conv1)/conv_general_dilated"
    backward = "jit(train_step)/transpose(jvp(stage1_block1_conv1))/conv_general_dilated"
    assert _hlo(conv=((16, 8, 8, 64), forward)) == "conv_forward"
    assert _hlo(conv=((16, 8, 8, 64), backward)) == "conv_input_grad"
    # the kernel, in XLA's own layout, is the filter gradient's output
    assert _hlo(conv=((64, 3, 3, 64), backward)) == "conv_filter_grad"
    # XLA's rewritten filter gradients lose their op_name: the shape still tells
    assert _hlo(conv=((3, 3, 3, 64), "")) == "conv_filter_grad"
    assert _hlo(conv=((512, 3, 3, 512), "")) == "conv_filter_grad"
    assert _hlo(conv=((16, 4, 4, 128), "")) == "conv_input_grad"
    stem = "jit(train_step)/transpose(jvp(stem_msc))/conv_3x3/conv_general_dilated"
    assert _hlo(conv=((3, 3, 3, 64), stem)) == "conv_filter_grad"


@pytest.mark.backend_free
def test_xla_fusions_vote_and_kernel_flips_are_input_gradients():
    flip = [("copy", ""), ("reverse", ""), ("transpose", "")]
    assert _hlo(flip) == "conv_input_grad"
    bn = "jit(train_step)/transpose(jvp(stage1_block1_bn1))/jit(_var)/reduce_sum"
    relu = "jit(train_step)/transpose(jvp(stage1_block1_relu1))/select_n"
    assert _hlo([("reduce", bn), ("multiply", bn), ("select", relu)]) == "batch_norm"
    morlet = "jit(train_step)/transpose(jvp(stem_wca))/max_morlet/mul"
    assert _hlo([("multiply", morlet), ("parameter", "")]) == "attention"
    assert _hlo([("add", "jit(train_step)/adam/add")]) == "optimizer"
    assert _hlo([("reduce-window", "jit(train_step)/jvp(stem_pool)/reduce_window_max")]) == (
        "elementwise"
    )
    assert _hlo([("iota", "")]) == "elementwise"


@pytest.mark.backend_free
def test_torch_ops_by_the_events_around_them():
    backward = ["aten::mkldnn_convolution_backward", "aten::convolution_backward"]
    assert step_kinds.torch_kind(backward + ["ConvolutionBackward0"]) == "conv_grads"
    forward = ["aten::mkldnn_convolution", "aten::_convolution", "aten::conv2d"]
    assert step_kinds.torch_kind(forward + ["scope::attention"]) == "conv_forward"
    assert step_kinds.torch_kind(["aten::native_batch_norm_backward"]) == "batch_norm"
    assert step_kinds.torch_kind(["aten::lerp_", "Optimizer.step#Adam.step"]) == "optimizer"
    assert step_kinds.torch_kind(["aten::sqrt", "scope::optimizer"]) == "optimizer"
    assert step_kinds.torch_kind(["aten::cos", "scope::attention"]) == "attention"
    assert step_kinds.torch_kind(["aten::mul"], attention=True) == "attention"
    assert step_kinds.torch_kind(["aten::max_pool2d_with_indices"]) == "elementwise"


@pytest.mark.backend_free
def test_apportion_gives_nested_ops_their_own_time_and_shares_overlaps():
    threads = [
        # an executor span (None) holding two ops, one of which holds a child op
        [(0, 100, None), (10, 50, "a"), (20, 30, "b"), (60, 90, "c")],
        # another thread, running "d" while "a" and "c" run
        [(40, 70, "d")],
    ]
    totals = step_kinds.apportion(threads)
    assert totals["b"] == 10
    assert totals["a"] == pytest.approx(30 - 5)  # 10-20, 30-40, half of 40-50
    assert totals["d"] == pytest.approx(5 + 10 + 5)  # half of 40-50, 50-60, half of 60-70
    assert totals["c"] == pytest.approx(5 + 20)
    assert sum(totals.values()) == pytest.approx(80)  # the span with any op running
    kinds = step_kinds.by_kind({("conv_forward", "x"): 30.0, ("optimizer", "y"): 10.0}, 50.0)
    assert kinds["overhead"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="kind=.*convolution"):
        step_kinds.by_kind({("convolution", "x"): 1.0}, 2.0)


@pytest.mark.backend_free
def test_bad_names_name_the_value():
    with pytest.raises(ValueError, match="name='Conv2D'"):
        step_kinds.tf_kind("Conv2D", {})
    with pytest.raises(ValueError, match="'x': 'conv'"):
        step_kinds.scope_part("a/x", {"x": "conv"})


HLO = """HloModule jit_train_step, entry_computation_layout={(f32[3,3,64,64]{3,2,1,0})->f32[]}

%fused_computation.455 (param_0.1: f32[3,3,64,64]) -> f32[3,3,64,64] {
  %param_0.1 = f32[3,3,64,64]{3,2,1,0} parameter(0)
  %copy.1 = f32[3,3,64,64]{3,2,1,0} copy(%param_0.1)
  ROOT %reverse.1 = f32[3,3,64,64]{3,2,1,0} reverse(%copy.1), dimensions={0,1}, metadata={op_name="jit(train_step)/transpose(jvp(stage1_block1_conv1))/rev" stack_frame_id=1}
}

ENTRY %main.160 (state_0__0_.1: f32[3,3,64,64], data_0_.1: f32[16,8,8,64]) -> (f32[16,8,8,64], f32[]) {
  %state_0__0_.1 = f32[3,3,64,64]{3,2,1,0} parameter(0), metadata={op_name="state[0][0]"}
  %data_0_.1 = f32[16,8,8,64]{3,2,1,0} parameter(1)
  %copy_reverse_fusion.1 = f32[3,3,64,64]{3,2,1,0} fusion(%state_0__0_.1), kind=kLoop, calls=%fused_computation.455, backend_config={"outer_dimension_partitions":["2"]}
  %convolution.46 = f32[16,8,8,64]{3,2,1,0} convolution(%data_0_.1, %copy_reverse_fusion.1), window={size=3x3 pad=1_1x1_1}, dim_labels=b01f_01io->b01f, metadata={op_name="jit(train_step)/transpose(jvp(stage1_block1_conv1))/conv_general_dilated" stack_frame_id=117}
  ROOT %t = (f32[16,8,8,64]{3,2,1,0}, f32[]) tuple(%convolution.46, %state_0__0_.1)
}
"""  # noqa: E501


@pytest.mark.backend_free
def test_hlo_text_gives_each_thunk_its_instructions():
    instructions, computations = xspace.parse_hlo(HLO)
    assert set(computations) == {"fused_computation.455", "main.160"}
    conv = instructions["convolution.46"]
    assert (conv.opcode, conv.dims) == ("convolution", (16, 8, 8, 64))
    assert "transpose(jvp(stage1_block1_conv1))" in conv.op_name
    body = xspace.thunk_body("copy_reverse_fusion.1", instructions, computations)
    assert [i.opcode for i in body] == ["parameter", "copy", "reverse"]
    assert instructions["t"].opcode == "tuple"
    assert _hlo([(i.opcode, i.op_name) for i in body]) == "conv_input_grad"


@pytest.mark.backend_free
def test_report_shares_torch_gradients_by_onednn_log():
    kinds = {kind: 0.0 for kind in step_kinds.KINDS}
    kinds.update(conv_grads=30.0, conv_forward=10.0, overhead=10.0)
    record = {"kinds_ms": kinds, "onednn_split": {"backward_data": 1.0, "backward_weights": 2.0}}
    split, estimated = step_report.split_kinds(record)
    assert estimated
    assert (split["conv_input_grad"], split["conv_filter_grad"]) == pytest.approx((10.0, 20.0))
    assert split["conv_both"] == pytest.approx(30.0)
    split, estimated = step_report.split_kinds({**record, "onednn_split": None})
    assert not estimated and math.isnan(split["conv_input_grad"]) and split["conv_both"] == 30.0


def _check_profile(record):
    kinds = record["kinds_ms"]
    ops = sum(ms for kind, ms in kinds.items() if kind != "overhead")
    assert kinds["conv_forward"] > 0
    assert kinds["conv_grads"] + kinds["conv_input_grad"] + kinds["conv_filter_grad"] > 0
    assert kinds["batch_norm"] > 0 and kinds["optimizer"] > 0
    assert all(ms >= 0 for kind, ms in kinds.items() if kind != "overhead")
    # every op counts for its share of the wall clock: together at most the profiled steps
    assert ops <= 1000 * sum(record["step_s"]) / record["steps"] * 1.001


@pytest.mark.backend_free
def test_a_short_profile_of_the_reference_adds_up():
    pytest.importorskip("torch")
    from benchmarks import profile_step

    args = ["--backend", "reference", "--model", "resnet18", "--size", "32"]
    record = profile_step.main(args + ["--warmup", "1", "--steps", "2", "--split-conv", "none"])
    _check_profile(record)


def test_a_short_profile_on_this_backend_adds_up():
    backend = keras.backend.backend()
    if backend == "jax":
        pytest.skip("JAX's profile needs XLA's dump, set before JAX loads (a new process)")
    from benchmarks import profile_step

    args = ["--backend", backend, "--model", "resnet18", "--size", "32"]
    record = profile_step.main(args + ["--warmup", "1", "--steps", "1", "--split-conv", "none"])
    _check_profile(record)
