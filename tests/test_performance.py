"""ferzoo.runtime.performance, the benchmark report, and the hand-written PyTorch references.

The references must be the same networks as ferzoo's: equal parameter counts, and equal outputs
once ferzoo's weights are copied in. No timing is asserted here (speed belongs to benchmarks/).
"""

from __future__ import annotations

import argparse
import os
import sys

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.evaluation.losses import loss_for
from ferzoo.runtime import performance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import run as bench_run  # noqa: E402

# --- ferzoo.runtime.performance ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", performance.BACKENDS)
def test_defaults_are_valid_compile_and_format_values(backend):
    assert performance.recommended_data_format(backend) in ("channels_last", "channels_first")
    kwargs = performance.default_compile_kwargs(backend)
    assert set(kwargs) == {"jit_compile"}
    assert kwargs["jit_compile"] in (True, False, "auto")
    settings = performance.resolve(backend)
    assert settings["backend"] == backend
    assert settings["data_format"] == performance.recommended_data_format(backend)
    assert settings["jit_compile"] == kwargs["jit_compile"]


def test_resolve_overrides_win_and_default_backend_is_current():
    settings = performance.resolve(data_format="channels_first", jit_compile=False)
    assert settings["backend"] == keras.backend.backend()
    assert settings["data_format"] == "channels_first"
    assert settings["jit_compile"] is False


def test_bad_arguments_name_the_argument():
    with pytest.raises(ValueError, match="backend=.*mxnet"):
        performance.recommended_data_format("mxnet")
    with pytest.raises(ValueError, match="data_format=.*nhwc"):
        performance.resolve("jax", data_format="nhwc")


def test_recommended_configuration_keeps_outputs():
    """A model built and compiled the recommended way computes what the plain model computes."""
    fmt = performance.recommended_data_format()
    x = np.random.default_rng(0).random((2, 40, 40, 3), dtype=np.float32)
    keras.utils.set_random_seed(1)
    plain = ferzoo.build("resnet18", input_shape=(40, 40, 3), data_format="channels_last")
    shape = (40, 40, 3) if fmt == "channels_last" else (3, 40, 40)
    fast = ferzoo.build("resnet18", input_shape=shape, data_format=fmt)
    assert ferzoo.profile(fast)["params"] == ferzoo.profile(plain)["params"]
    fast.set_weights(plain.get_weights())  # kernels do not depend on the data format
    performance.optimize(fast)
    fast.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        **performance.default_compile_kwargs(),
    )
    xf = x if fmt == "channels_last" else np.transpose(x, (0, 3, 1, 2))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(fast.predict_on_batch(xf)),
        keras.ops.convert_to_numpy(plain(x, training=False)),
        atol=1e-5,
    )


def _twin_models(name="resnet18", size=40):
    keras.utils.set_random_seed(0)
    plain = ferzoo.build(name, input_shape=(size, size, 3), data_format="channels_last")
    fused = ferzoo.build(name, input_shape=(size, size, 3), data_format="channels_last")
    fused.set_weights(plain.get_weights())
    return plain, fused


def test_fuse_batch_norm_counts_layers_per_backend():
    plain, fused = _twin_models()
    count = performance.fuse_batch_norm(fused)
    expected = 0 if keras.backend.backend() == "jax" else 20  # ResNet18: 20 batch norms
    assert count == expected
    assert performance.fuse_batch_norm(fused) == 0  # already fused: nothing more to do
    assert fused.get_config() == plain.get_config()  # so a saved model is unchanged


def test_fused_batch_norm_trains_on_a_batch_of_one_at_1x1():
    """A last batch of one example: ResNet18's last stage is 1x1 at 32 px, one value per
    channel, which torch's batch_norm refuses; the fused layers then fall back to Keras'."""
    plain, fused = _twin_models(size=32)
    performance.fuse_batch_norm(fused)
    x = np.random.default_rng(1).random((1, 32, 32, 3), dtype=np.float32)
    _assert_same_step(plain, fused, x, np.array([2]), "sparse_categorical_crossentropy")


def test_optimize_counts_layers_per_backend():
    plain, fast = _twin_models()
    switched = performance.optimize(fast)
    expected = {
        "tensorflow": {"fused_batch_norm": 20, "native_conv": 0},
        "jax": {"fused_batch_norm": 0, "native_conv": 0},
        # ResNet18: 20 convolutions (17 in the stages and stem, 3 shortcuts) and 1 max pool.
        "torch": {"fused_batch_norm": 20, "native_conv": 21},
    }[keras.backend.backend()]
    assert switched == expected
    assert performance.optimize(fast) == {"fused_batch_norm": 0, "native_conv": 0}
    assert fast.get_config() == plain.get_config()
    off = performance.resolve(fuse_batch_norm=False, native_conv=False)
    assert performance.optimize(_twin_models()[1], off) == {"fused_batch_norm": 0, "native_conv": 0}


def _assert_same_step(plain, fast, x, y, loss):
    """Same outputs (inference), then one SGD step: same loss and same updated weights."""
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(fast(x, training=False)),
        keras.ops.convert_to_numpy(plain(x, training=False)),
        atol=1e-5,
    )
    losses = []
    for model in (plain, fast):
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
        losses.append(float(model.train_on_batch(x, y)))
    assert losses[0] == pytest.approx(losses[1], abs=1e-5)
    for a, b in zip(plain.weights, fast.weights, strict=True):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a), atol=1e-4, err_msg=a.path
        )


def _conv_zoo():
    """Every Conv2D/pooling case native_convolutions takes, and the ones it hands back to Keras."""
    inputs = keras.Input((13, 13, 4))
    L = keras.layers
    x = L.Conv2D(8, 3, padding="same", activation="relu")(inputs)  # stride 1, odd kernel
    x = L.Conv2D(8, 3, strides=2, padding="valid", use_bias=False)(x)
    x = L.Conv2D(8, 3, dilation_rate=2, padding="same")(x)
    x = L.Conv2D(8, (1, 3), groups=2, padding="same")(x)  # grouped, non-square
    x = L.Conv2D(8, 2, padding="same")(x)  # even kernel: Keras pads unevenly, Keras' path
    x = L.Conv2D(8, 3, strides=2, padding="same")(x)  # stride 2 "same": Keras' path
    x = L.MaxPooling2D(2, strides=1)(x)
    x = L.AveragePooling2D(2, strides=1)(x)
    x = L.MaxPooling2D(2, padding="same")(x)  # Keras' path
    outputs = L.Dense(3, activation="softmax")(L.GlobalAveragePooling2D()(x))
    return keras.Model(inputs, outputs)


def test_native_convolutions_keep_outputs_and_gradients():
    keras.utils.set_random_seed(0)
    plain, fast = _conv_zoo(), _conv_zoo()
    fast.set_weights(plain.get_weights())
    count = performance.native_convolutions(fast)
    # 6 convolutions and 3 poolings; the three "Keras' path" cases are switched but fall back.
    assert count == (9 if keras.backend.backend() == "torch" else 0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 13, 13, 4)).astype("float32")
    _assert_same_step(plain, fast, x, np.array([0, 1, 2, 1]), "sparse_categorical_crossentropy")


@pytest.mark.parametrize("name", ["resnet18", "wamf_resnet18"])
def test_optimize_keeps_outputs_gradients_and_statistics(name):
    """fuse_batch_norm and native_convolutions together, as ferzoo.train applies them."""
    if name != "resnet18" and keras.backend.backend() == "jax":
        pytest.skip("optimize changes nothing on JAX; resnet18 shows that it keeps everything")
    plain, fused = _twin_models(name, size=40 if name == "resnet18" else 64)
    performance.optimize(fused)
    rng = np.random.default_rng(0)
    x = rng.random((3, *plain.input_shape[1:]), dtype=np.float32)
    # Non-trivial moving statistics, so that the inference path is checked too.
    for a, b in zip(plain.weights, fused.weights, strict=True):
        if "moving" in a.path:
            value = rng.uniform(0.5, 1.5, a.shape).astype("float32")
            a.assign(value)
            b.assign(value)
    # One training step with SGD: same loss, same updated weights and moving statistics.
    _assert_same_step(plain, fused, x, np.array([0, 1, 2]), loss_for(plain))


# --- the report -----------------------------------------------------------------------------------


def _record(backend, model, size, img_s, macs=1_000_000_000):
    return {
        "backend": backend,
        "model": model,
        "size": size,
        "label": "",
        "data_format": "channels_last",
        "jit_compile": False,
        "train_images_per_s": img_s,
        "train_step_s": 16 / img_s,
        "first_train_step_s": 1.0,
        "infer_images_per_s": 4 * img_s,
        "first_infer_s": 0.5,
        "latency_ms": 10.0,
        "peak_rss_mib": 900.0,
        "profile": {"macs": macs, "params": 1},
    }


_META = {
    "commands": ["python benchmarks/run.py --quick"],
    "date": "today",
    "machine": {
        "nproc": 2,
        "cpu": "cpu",
        "mhz": 2000.0,
        "ram_gib": 8.0,
        "peak_gflops": 128.0,
        "peak_source": "float32 2048x2048 matmul",
    },
    "versions": {"keras": "3"},
    "load": "1.0",
}


def test_report_pairs_rounds_for_the_ratio(tmp_path):
    """The ratio is the median of per-round ratios, not the ratio of medians."""
    # Round 0: a slow machine (both slow); round 1 and 2: fast. ferzoo is 1.25x in every round.
    speeds = [(8.0, 10.0), (16.0, 20.0), (16.0, 20.0)]
    records = []
    for i, (ref, tf) in enumerate(speeds):
        records += [
            dict(_record(bench_run.REFERENCE, "resnet18", 96, ref), round=i),
            dict(_record("tensorflow", "resnet18", 96, tf), round=i),
        ]
    records[-1]["train_step_s"] = 16 / 40.0  # round 2: ferzoo 2.5x
    assert bench_run.paired_ratios(records, "tensorflow", "resnet18", 96) == pytest.approx(
        [1.25, 1.25, 2.5]
    )
    # A record of another invocation (a later --merge run) is not paired with this one's rounds.
    records.append(dict(_record("jax", "resnet18", 96, 5.0), round=0, command="another run"))
    assert bench_run.paired_ratios(records, "jax", "resnet18", 96) == []
    combined = {r["backend"]: r for r in bench_run.combine_rounds(records)}
    assert combined["tensorflow"]["rounds"] == 3
    assert combined["tensorflow"]["train_images_per_s"] == pytest.approx(20.0)  # median step
    text = bench_run.write_report(records, _META, str(tmp_path / "bench.md"))
    ratio_row = next(line for line in text.splitlines() if line.startswith("| resnet18 | 96 |"))
    assert "20.0 (**1.25** [1.25-2.50])" in ratio_row


def test_report_gives_ratio_and_gflops(tmp_path):
    records = [
        _record("tensorflow", "resnet18", 96, 12.0),
        _record("torch", "resnet18", 96, 5.0),
        _record(bench_run.REFERENCE, "resnet18", 96, 10.0),
    ]
    text = bench_run.write_report(records, _META, str(tmp_path / "bench.md"))
    assert text.startswith("# ferzoo benchmarks")
    assert "python benchmarks/run.py --quick" in text
    ratio_row = next(
        line for line in text.splitlines() if line.startswith("| resnet18 | 96 | 10.0")
    )
    assert "12.0 (**1.20**)" in ratio_row  # the default backend, marked
    assert "5.0 (0.50)" in ratio_row
    # Training GFLOP/s = 2 x 1 GMAC x 3 (forward + backward) x 12 img/s = 72 = 56.2 % of 128.
    tf_row = next(line for line in text.splitlines() if "| resnet18 | tensorflow | 96 |" in line)
    assert "| 72.0 | 56.2 |" in tf_row


def test_report_of_gpu_runs_names_the_gpu_and_its_batch_without_a_cpu_peak(tmp_path):
    gpu = dict(device="NVIDIA H200", batch=128)
    records = [
        dict(_record("jax", "resnet18", 112, 12.0), train_step_s=128 / 12.0, **gpu),
        dict(_record(bench_run.REFERENCE, "resnet18", 112, 10.0), train_step_s=12.8, **gpu),
    ]
    meta = dict(_META, machine=dict(_META["machine"], gpus=["NVIDIA H200, 143771 MiB"]))
    text = bench_run.write_report(records, meta, str(tmp_path / "bench.md"))
    assert "GPU: NVIDIA H200, 143771 MiB." in text and "- Batch 128 for training" in text
    assert "img/s (batch 128)" in text
    jax_row = next(line for line in text.splitlines() if "| resnet18 | jax | 112 |" in line)
    assert "| 72.0 | - |" in jax_row  # GFLOP/s, but no % of a CPU peak


def test_worker_times_the_batch_it_is_given_on_the_device_it_names():
    from benchmarks import worker

    args = ["--model", "resnet18", "--size", "32", "--steps", "1", "--warmup", "0", "--batch", "3"]
    record = worker.main([*args, "--train-only"])
    assert record["batch"] == 3
    assert record["train_images_per_s"] == pytest.approx(3 / record["train_step_s"])
    assert record["device"] == "cpu"  # the CI machines have no GPU
    if keras.backend.backend() == "torch":
        reference = worker.main([*args, "--train-only", "--reference"])
        assert (reference["batch"], reference["device"]) == (3, "cpu")


def test_machine_peak_is_a_measured_matmul_rate():
    peak, source = bench_run.measured_peak_gflops(size=256, repeats=2)
    assert "256x256 matmul" in source and "numpy" in source
    # 2 n^3 FLOP for n = 256 in no less than a microsecond: below 33,554 GFLOP/s; and any CPU
    # does it in well under a second: above 0.03 GFLOP/s.
    assert 0.03 < peak < 33_554


# --- the PyTorch references -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["resnet18", "msc_wca_resnet18"])
def test_reference_matches_ferzoo_parameters_and_outputs(name):
    torch = pytest.importorskip("torch")
    from benchmarks.reference_torch import build_reference, count_params, load_keras_weights

    keras.utils.set_random_seed(0)
    model = ferzoo.build(name, input_shape=(40, 40, 3), data_format="channels_last")
    net = build_reference(name).eval()
    assert count_params(net) == ferzoo.profile(model)["params"]
    # Non-trivial batch-norm statistics and Morlet shifts, so that a mismatch shows.
    rng = np.random.default_rng(0)
    for variable in model.weights:
        if any(key in variable.path for key in ("moving", "gamma", "beta", "shift")):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    load_keras_weights(net, model)
    x = rng.random((2, 40, 40, 3), dtype=np.float32)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    with torch.no_grad():
        got = net(
            torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        )
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)


def test_reference_rejects_unknown_name():
    pytest.importorskip("torch")
    from benchmarks.reference_torch import build_reference

    with pytest.raises(ValueError, match="name=.*resnet50"):
        build_reference("resnet50")


# --- benchmarks/paired.py -------------------------------------------------------------------------


def test_paired_settings_parse_and_name_bad_values():
    from benchmarks import paired

    assert paired.parse_settings("native_conv=false, jit_compile=auto") == {
        "native_conv": False,
        "jit_compile": "auto",
    }
    with pytest.raises(ValueError, match="'fuse=true'"):
        paired.parse_settings("fuse=true")
    with pytest.raises(ValueError, match="native_conv='maybe'"):
        paired.parse_settings("native_conv=maybe")


@pytest.mark.slow
def test_paired_times_both_settings_in_one_process():
    from benchmarks import paired

    record = paired.main(
        ["--size", "32", "--pairs", "2", "--a", "fuse_batch_norm=false", "--b", ""]
    )
    assert record["a_switched"]["fused_batch_norm"] == 0
    expected = 0 if keras.backend.backend() == "jax" else 20
    assert record["b_switched"]["fused_batch_norm"] == expected
    assert record["a_step_s"] > 0 and record["b_step_s"] > 0
    assert record["speedup_min"] <= record["speedup_b_over_a"] <= record["speedup_max"]


def test_worker_times_a_keras_configuration():
    from benchmarks import worker

    record = worker.main(["--model", "resnet18", "--size", "32", "--steps", "1", "--warmup", "0"])
    assert record["backend"] == keras.backend.backend()
    assert record["data_format"] == performance.recommended_data_format()
    assert record["train_images_per_s"] == pytest.approx(worker.BATCH / record["train_step_s"])
    assert record["infer_images_per_s"] > 0 and record["latency_ms"] > 0
    assert record["profile"]["params"] == ferzoo.profile(ferzoo.build("resnet18"))["params"]
    from ferzoo.runtime import cpu

    assert (record["cap"], record["isa"]) == (cpu.cap_in_force(), cpu.processor()["effective_isa"])
    assert record["threads_in_effect"]["cores"] == cpu.processor()["cores"]


# --- --precision in the benchmarks ----------------------------------------------------------------


def test_benchmark_precision_choices_are_ferzoo_precision_choices():
    from benchmarks import worker
    from ferzoo.runtime import precision

    assert worker.PRECISIONS == bench_run.PRECISIONS == precision.CHOICES


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_worker_builds_a_mixed_model_with_float32_outputs(policy):
    from benchmarks import worker

    saved = keras.config.dtype_policy()
    model, _, images, _ = worker.build_compiled("resnet18", 32, performance.resolve(), policy)
    assert keras.config.dtype_policy() == saved  # the policy is the model's, not the process's
    assert model.get_layer("stem_conv").compute_dtype == policy.split("_")[1]
    assert keras.backend.standardize_dtype(model.output.dtype) == "float32"
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")
    assert images.dtype == np.float32


def test_reference_trains_with_amp():
    pytest.importorskip("torch")
    from benchmarks import worker

    args = ["--reference", "--model", "resnet18", "--size", "32", "--steps", "1", "--warmup", "0"]
    record = worker.main([*args, "--precision", "mixed_float16", "--train-only"])
    assert record["precision"] == "mixed_float16"
    assert record["train_images_per_s"] > 0


def test_report_keeps_precisions_apart(tmp_path):
    records = [
        _record("tensorflow", "resnet18", 96, 12.0),
        _record(bench_run.REFERENCE, "resnet18", 96, 10.0),
        dict(_record("tensorflow", "resnet18", 96, 30.0), precision="mixed_bfloat16"),
        dict(_record(bench_run.REFERENCE, "resnet18", 96, 20.0), precision="mixed_bfloat16"),
    ]
    assert len(bench_run.combine_rounds(records)) == 4  # not merged across precisions
    assert bench_run.paired_ratios(records, "tensorflow", "resnet18", 96, "mixed_bfloat16") == [
        pytest.approx(1.5)
    ]
    text = bench_run.write_report(records, _META, str(tmp_path / "bench.md"))
    rows = [line for line in text.splitlines() if line.startswith("| resnet18 | 96 |")]
    assert "12.0 (**1.20**)" in rows[0] and "30.0 (**1.50**)" in rows[1]
    assert "## Training (precision `mixed_bfloat16`)" in text


# --- --max-isa and the flags that must reach the backend -----------------------------------------


def test_report_keeps_capped_runs_apart_and_says_how_they_were_capped(tmp_path):
    from ferzoo.runtime import cpu

    records = [
        _record("tensorflow", "resnet18", 96, 12.0),
        _record(bench_run.REFERENCE, "resnet18", 96, 10.0),
        dict(_record("tensorflow", "resnet18", 96, 9.0), cap="avx2"),
        dict(_record(bench_run.REFERENCE, "resnet18", 96, 6.0), cap="avx2"),
    ]
    assert len(bench_run.combine_rounds(records)) == 4  # not merged across caps
    assert bench_run.paired_ratios(records, "tensorflow", "resnet18", 96, cap="avx2") == [1.5]
    text = bench_run.write_report(records, _META, str(tmp_path / "bench.md"))
    described = cpu.describe_cap("avx2")
    assert f"The backends and the reference {described}:" in text
    assert f"## Training ({described})" in text
    rows = [line for line in text.splitlines() if line.startswith("| resnet18 | 96 |")]
    assert "12.0 (**1.20**)" in rows[0] and "9.0 (**1.50**)" in rows[1]


def _args(**given):
    names = ("jit_compile", "deterministic", "data_format", "fuse_bn", "native_conv")
    return argparse.Namespace(model="resnet18", **{n: given.get(n) for n in names})


_APPLIED = {"data_format": "channels_last", "jit_compile": False, "deterministic": True,
            "fused_batch_norm": 20, "native_conv": 0}  # fmt: skip


@pytest.mark.backend_free
@pytest.mark.parametrize(
    "given, applied, backend, policy, says",
    [
        (dict(jit_compile=True), {}, "tensorflow", "float32", "add --deterministic false"),
        (dict(jit_compile=True), dict(deterministic=False), "tensorflow", "float32", "no XLA"),
        (dict(deterministic=True), dict(deterministic=False), "jax", "float32", "does nothing"),
        (dict(data_format="channels_first"), {}, "torch", "float32", "did not reach"),
        (dict(fuse_bn=True), dict(fused_batch_norm=0), "jax", "float32", "TensorFlow and torch"),
        (dict(native_conv=True), {}, "torch", "mixed_bfloat16", "not mixed_bfloat16"),
    ],
)
def test_a_flag_that_does_not_reach_the_backend_stops_the_worker(
    capsys, given, applied, backend, policy, says
):
    from benchmarks import worker

    with pytest.raises(SystemExit) as stopped:
        worker.check_applied(_args(**given), {**_APPLIED, **applied}, backend, policy)
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("worker.py: --") and says in line
    # The same flags that did reach the backend pass.
    worker.check_applied(_args(), _APPLIED, backend, policy)


def test_worker_refuses_jit_compile_that_keras_would_drop(capsys):
    from benchmarks import worker

    refused = {"tensorflow": ["--jit-compile", "true"], "jax": ["--fuse-bn", "true"],
               "torch": ["--native-conv", "true", "--precision", "mixed_bfloat16"]}  # fmt: skip
    args = ["--model", "resnet18", "--size", "32", "--steps", "1", "--warmup", "0", "--train-only"]
    with pytest.raises(SystemExit):
        worker.main([*args, *refused[keras.backend.backend()]])
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("worker.py: --")
