"""One benchmark measurement in this process: a ferzoo model on one Keras backend, or a reference.

`benchmarks/run.py` starts one subprocess per (backend, model, image size) with `KERAS_BACKEND`
set, because Keras fixes its backend when it is first imported; each subprocess prints one JSON
record on its last line. Run it directly to time a single configuration:

    KERAS_BACKEND=tensorflow python benchmarks/worker.py --model resnet18 --size 96 --steps 3
    python benchmarks/worker.py --reference --model resnet18 --size 96 --steps 3
    KERAS_BACKEND=jax python benchmarks/worker.py --model resnet18 --precision mixed_bfloat16
    KERAS_BACKEND=torch python benchmarks/worker.py --model resnet18 --size 112 --batch 128  # a GPU

Timings are wall-clock medians over `--steps` repeated steps on one fixed random batch, after
the first step (reported separately as `first_*_s`: tracing, XLA/JIT compilation, allocator
warm-up) and `--warmup` further unrecorded steps. Peak memory is this process's RSS high-water
mark (`resource.getrusage`), which covers everything the process did (imports, training and
inference). On a GPU the reference runs there too (torch's first CUDA device), and each timed call
ends with `torch.cuda.synchronize()`; the Keras calls wait for their results already (they return
the loss or the predictions as NumPy). `device` in the record names what ran the steps.

A flag given reaches the backend or the run stops with one line on stderr saying why (exit code
2): `--jit-compile true` on TensorFlow with op determinism on (Keras would run without XLA),
`--fuse-bn true` or `--native-conv true` where they change nothing (JAX, a mixed policy), a
data format or a thread count the backend did not take. `--threads N` also pins the process to
N cores (XLA's CPU thread pools take no count). The record says what ran: `jit_compile`, the
layers that took the fused or native kernels, `threads_in_effect`, and the processor's
instruction-set `cap` (`benchmarks/run.py --max-isa`) and `isa`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

BATCH = 16
#: The arguments every record carries, as `benchmarks/run.py` reads them.
RECORDED_ARGS = ("model", "size", "steps", "warmup", "label", "threads")
#: `ferzoo.runtime.precision.CHOICES`, spelled out so that `--help` needs no Keras import.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")


def median_time(fn, steps: int, warmup: int) -> tuple[float, float, list[float]]:
    """(first call, median of `steps` calls after `warmup` more, all recorded times), seconds."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return first, statistics.median(times), times


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def build_compiled(
    name: str, size: int, settings: dict, policy: str = "float32", batch: int = BATCH
):
    """ferzoo model `name` at `size` px, sped up and compiled as `settings` (a `resolve` dict) says.

    The model is built under the dtype policy `policy` (one of `ferzoo.runtime.precision.POLICIES`;
    resolve `"auto"` first) and its optimizer gets loss scaling where the policy needs it.
    Returns `(model, switched, images, labels)`: `switched` is `performance.optimize`'s count,
    and `images`/`labels` one fixed random batch of `batch` in the model's data format. The
    process-wide part of `settings` (TF op determinism) is the caller's
    (`performance.apply_runtime_settings`).
    """
    import keras

    import ferzoo
    from ferzoo.evaluation.losses import loss_for
    from ferzoo.runtime import performance, precision

    data_format = settings["data_format"]
    shape = (size, size, 3) if data_format == "channels_last" else (3, size, size)
    keras.utils.set_random_seed(0)
    with precision.scope(policy):
        model = ferzoo.build(name, num_classes=7, input_shape=shape, data_format=data_format)
    switched = performance.optimize(model, settings)
    model.compile(
        optimizer=precision.optimizer_for(keras.optimizers.Adam(1e-3), policy),
        loss=loss_for(model),
        jit_compile=settings["jit_compile"],
    )
    rng = np.random.default_rng(0)
    images = rng.random((batch, *shape), dtype=np.float32)
    labels = rng.integers(0, 7, batch).astype("int32")
    return model, switched, images, labels


def _keras_record(args) -> dict:
    import keras

    import ferzoo
    from ferzoo.runtime import performance, precision

    backend = keras.backend.backend()
    settings = performance.resolve(
        backend,
        data_format=args.data_format,
        jit_compile=args.jit_compile,
        deterministic=args.deterministic,
        fuse_batch_norm=args.fuse_bn,
        native_conv=args.native_conv,
    )
    performance.apply_runtime_settings(backend, deterministic=settings["deterministic"])
    if args.threads and backend == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    policy = precision.resolve(args.precision, backend)
    model, _, images, labels = build_compiled(args.model, args.size, settings, policy, args.batch)
    applied = performance.in_effect(model)
    check_applied(args, applied, backend, policy)
    # On the backend's device before timing, as the reference's batch is (no copy per step).
    images, labels = keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels)
    record = {
        "jit_compile": bool(model.jit_compile),
        "precision": policy,
        "fused_batch_norm": applied["fused_batch_norm"],
        "native_conv": applied["native_conv"],
        "threads_in_effect": threads_in_effect(backend, args.threads),
    }
    record.update(
        _time_all(
            train=lambda: model.train_on_batch(images, labels),
            infer=lambda: model.predict_on_batch(images),
            latency=lambda: model.predict_on_batch(images[:1]),
            args=args,
        )
    )
    record.update(
        backend=backend,
        data_format=settings["data_format"],
        deterministic=settings["deterministic"],
        device=_keras_device(backend),
        profile=ferzoo.profile(model),
    )
    return record


def refuse(message: str) -> None:
    """Stop the run: `message` as the one line on stderr, exit code 2."""
    print(f"worker.py: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def check_applied(args, applied: dict, backend: str, policy: str) -> None:
    """Each speed flag given reached the backend (`applied`: `performance.in_effect`), or
    `refuse` says why it did not."""
    if args.jit_compile is True and not applied["jit_compile"]:
        if applied["deterministic"]:
            refuse(
                f"--jit-compile true is refused on {backend} with op determinism on (Keras "
                "turns XLA off then); add --deterministic false"
            )
        refuse(f"--jit-compile true is refused on {backend}: a layer of {args.model} has no XLA")
    if args.deterministic is not None and applied["deterministic"] != args.deterministic:
        refuse(f"--deterministic {str(args.deterministic).lower()} does nothing on {backend}")
    if args.data_format is not None and applied["data_format"] != args.data_format:
        refuse(f"--data-format {args.data_format} did not reach {args.model} on {backend}")
    for flag, name, where in (("fuse_bn", "fused_batch_norm", "TensorFlow and torch"),
                              ("native_conv", "native_conv", "torch")):  # fmt: skip
        if getattr(args, flag) and not applied[name]:
            why = f"{where} only" if policy == "float32" else f"float32 layers only, not {policy}"
            refuse(
                f"--{flag.replace('_', '-')} true does nothing on {backend} ({why}); leave it out"
            )


def threads_in_effect(backend: str, threads: int) -> dict:
    """The cores this process may use and the thread count each framework took; with
    `threads`, `refuse` when one differs from it."""
    seen = {"cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}
    if backend in ("torch", "reference (torch)"):
        import torch

        seen["torch"] = torch.get_num_threads()
    elif backend == "tensorflow":
        import tensorflow as tf

        seen["intra_op"] = tf.config.threading.get_intra_op_parallelism_threads()
    if threads:
        wrong = {k: v for k, v in seen.items() if v is not None and v != threads}
        if wrong or seen["cores"] is None and backend == "jax":
            refuse(f"--threads {threads} did not reach {backend}: {wrong or 'no core pinning'}")
    return seen


def _keras_device(backend: str) -> str:
    """What the Keras backend computes on: a GPU's name, or "cpu"."""
    try:
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        if backend == "jax":
            import jax

            device = jax.devices()[0]
            return device.device_kind if device.platform == "gpu" else "cpu"
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return (
            tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu")
            if gpus
            else "cpu"
        )
    except Exception as err:  # noqa: BLE001  (the timing matters more than the name)
        return f"? ({type(err).__name__})"


def reference_steps(
    name: str,
    size: int,
    batch: int = BATCH,
    data_format: str | None = None,
    precision_policy: str = "float32",
) -> dict:
    """The hand-written PyTorch model's steps on one fixed random batch (a GPU where there is one).

    Returns `{"train", "infer", "latency"}` (callables: one Adam training step, a batch and a
    single image of inference), `"net"` (the module) and `"policy"` (the resolved precision).
    """
    import torch

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.reference_torch import build_reference
    from ferzoo.runtime import precision

    torch.manual_seed(0)
    fmt = torch.channels_last if data_format != "channels_first" else torch.contiguous_format
    cuda = torch.cuda.is_available()
    where = torch.device("cuda" if cuda else "cpu")
    net = build_reference(name, num_classes=7).to(where, memory_format=fmt)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    images = torch.rand(batch, 3, size, size, device=where)
    images = images.contiguous(memory_format=fmt)
    labels = torch.randint(0, 7, (batch,), device=where)
    # The PyTorch counterpart of a Keras mixed policy: autocast (AMP), and for float16 a
    # gradient scaler, as PyTorch's AMP recipe has it.
    policy = precision.resolve(precision_policy, "torch")
    half = {"mixed_float16": torch.float16, "mixed_bfloat16": torch.bfloat16}.get(policy)
    device = images.device.type

    def autocast():
        return torch.autocast(device, dtype=half, enabled=half is not None)

    scaler = torch.amp.GradScaler(device, enabled=half is torch.float16)

    def train():
        net.train()
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            probs = net(images).float()
        # The same loss as Keras' sparse categorical cross-entropy on probabilities.
        loss = torch.nn.functional.nll_loss(torch.log(probs.clamp(1e-7, 1 - 1e-7)), labels)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if cuda:  # CUDA calls return before the GPU is done
            torch.cuda.synchronize()

    def infer(batch):
        net.eval()
        with torch.no_grad(), autocast():
            net(batch)
        if cuda:
            torch.cuda.synchronize()

    return {
        "train": train,
        "infer": lambda: infer(images),
        "latency": lambda: infer(images[:1]),
        "net": net,
        "policy": policy,
        "data_format": "channels_last" if fmt is torch.channels_last else "channels_first",
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
    }


def _reference_record(args) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from benchmarks.reference_torch import count_params

    steps = reference_steps(args.model, args.size, args.batch, args.data_format, args.precision)
    record = _time_all(
        train=steps["train"], infer=steps["infer"], latency=steps["latency"], args=args
    )
    record.update(
        threads_in_effect=threads_in_effect("reference (torch)", args.threads),
        backend="reference (torch)",
        data_format=steps["data_format"],
        jit_compile=False,
        deterministic=False,
        device=steps["device"],
        precision=steps["policy"],
        profile={"params": count_params(steps["net"])},
    )
    return record


def _time_all(train, infer, latency, args) -> dict:
    first_train, train_s, train_times = median_time(train, args.steps, args.warmup)
    record = {
        "first_train_step_s": first_train,
        "train_step_s": train_s,
        "train_step_times_s": train_times,
        "train_images_per_s": args.batch / train_s,
    }
    if not args.train_only:
        first_infer, infer_s, _ = median_time(infer, args.steps, args.warmup)
        first_lat, latency_s, _ = median_time(latency, args.steps, args.warmup)
        record.update(
            first_infer_s=first_infer,
            infer_images_per_s=args.batch / infer_s,
            first_latency_s=first_lat,
            latency_ms=1000.0 * latency_s,
        )
    return record


def limit_threads(threads: int) -> None:
    """Limit every framework in this process to `threads` compute threads and pin the process
    to `threads` cores (call before the frameworks are imported): XLA's CPU thread pools (JAX)
    take no count, only `--xla_cpu_multi_thread_eigen=false`, which leaves its other pools."""
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ[name] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = f"{flags} --xla_cpu_multi_thread_eigen=false".strip()
    if hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if threads > len(cores):
            refuse(f"--threads {threads} is more than the {len(cores)} cores this process has")
        os.sched_setaffinity(0, cores[:threads])
    if "torch" in sys.modules or os.environ.get("KERAS_BACKEND") == "torch":
        import torch

        torch.set_num_threads(threads)


def main(argv: list[str] | None = None) -> dict:
    """Time one configuration and print its JSON record as the last line of stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=BATCH, help="images per training step")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--reference", action="store_true", help="time benchmarks/reference_torch")
    parser.add_argument("--data-format", default=None, choices=["channels_last", "channels_first"])
    parser.add_argument("--jit-compile", default=None, choices=["true", "false", "auto"])
    parser.add_argument(
        "--deterministic",
        default=None,
        choices=["true", "false"],
        help="TF op determinism (ferzoo.train turns it on); default: ferzoo.runtime.performance's",
    )
    parser.add_argument("--fuse-bn", default=None, choices=["true", "false"])
    parser.add_argument(
        "--native-conv",
        default=None,
        choices=["true", "false"],
        help="ferzoo.runtime.performance.native_convolutions (torch); default: ferzoo.runtime.performance's",
    )
    parser.add_argument(
        "--precision",
        default="float32",
        choices=PRECISIONS,
        help="dtype policy (ferzoo.runtime.precision; auto: mixed on a GPU); the reference uses AMP",
    )
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--label", default="", help="a free-form tag stored in the record")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="compute threads per process; 0 = the framework's default",
    )
    args = parser.parse_args(argv)
    if args.threads:
        limit_threads(args.threads)
    if args.jit_compile is not None:
        args.jit_compile = {"true": True, "false": False, "auto": "auto"}[args.jit_compile]
    if args.fuse_bn is not None:
        args.fuse_bn = args.fuse_bn == "true"
    if args.native_conv is not None:
        args.native_conv = args.native_conv == "true"
    if args.deterministic is not None:
        args.deterministic = args.deterministic == "true"
    record = _reference_record(args) if args.reference else _keras_record(args)
    from ferzoo.runtime import cpu

    processor = cpu.processor()
    record.update(cap=processor["cap"], isa=processor["effective_isa"])
    # The run's arguments under their own names, then what the run measured about the machine.
    record.update({name: getattr(args, name) for name in RECORDED_ARGS})
    record.update(batch=args.batch, load_average=os.getloadavg(), peak_rss_mib=_peak_rss_mib())
    print(json.dumps(record), flush=True)
    return record


if __name__ == "__main__":
    main()
