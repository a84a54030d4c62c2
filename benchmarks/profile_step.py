"""Where the time of one training step goes, by kind of op, on each Keras backend and the reference.

    python benchmarks/profile_step.py --backend jax --model resnet18 --size 48 \\
        --json results/step_profiles/jax-resnet18-48.json
    python benchmarks/profile_step.py --backend reference --model msc_wca_resnet18 --size 96
    python benchmarks/profile_step.py --backend torch --model resnet18 --size 96 --plain-keras
    python benchmarks/profile_step.py --backend tensorflow --model resnet18 --size 48 --max-isa avx2
    python benchmarks/profile_step.py --report results/step_profiles --output results/step_profiles.md

The step is the one `ferzoo.train` trains (`benchmarks/worker.py`'s `build_compiled`, with
`performance.resolve`, `performance.apply_runtime_settings` and `performance.optimize`:
`model.train_on_batch` on one fixed random batch of 16), or the hand-written PyTorch step of
`benchmarks/reference_torch.py` (`worker.reference_steps`). `--warmup` steps (not profiled:
compilation, allocator warm-up) are followed by `--steps` profiled ones, each timed on the wall
clock. The profilers: TensorFlow's and JAX's (an XSpace file; JAX's thunks are mapped to their
HLO instructions through XLA's dump of the optimized module, `--xla_dump_to`), torch.profiler
for Keras on torch and the reference. `benchmarks/step_kinds.py` sorts the ops into kinds;
each op counts for the wall time it had (shared where ops of two threads overlapped), so the
kinds add up to at most the step, and the rest is framework overhead (host-side dispatch,
Python, waiting). On torch `aten::convolution_backward` computes both gradients with no child
event for either: its time is one row (`conv_grads`) unless `--split-conv` (the default) can
split it by oneDNN's own timing of its primitives in one more step (`onednn_split`).

`--json` writes the record; `--report DIR` turns a folder of records into the summary tables of
results/step_profiles.md. `--max-isa avx2` caps every backend at AVX2 (the environment of
results/step_profiles.md, set before any backend loads).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from benchmarks import step_kinds  # noqa: E402
from ferzoo.runtime.cpu import cap_environment  # noqa: E402  (no framework is imported)

BACKENDS = ("tensorflow", "jax", "torch", "reference")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, default=None, help="default: KERAS_BACKEND")
    parser.add_argument("--reference", action="store_true", help="same as --backend reference")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=3, help="unprofiled steps first")
    parser.add_argument("--steps", type=int, default=5, help="profiled steps")
    parser.add_argument(
        "--plain-keras",
        action="store_true",
        help="Keras' own layers, without ferzoo.runtime.performance.optimize (fused BN, native convs)",
    )
    parser.add_argument("--max-isa", choices=["avx2"], default=None)
    parser.add_argument("--split-conv", choices=["onednn", "none"], default="onednn")
    parser.add_argument("--top", type=int, default=12, help="ops to print")
    parser.add_argument("--json", default=None, help="write the record here")
    parser.add_argument("--keep", default=None, help="keep the raw profiles (and HLO) here")
    parser.add_argument("--report", default=None, help="a folder of records: write the tables")
    parser.add_argument("--output", default="results/step_profiles.md", help="with --report")
    return parser


def _check(args) -> None:
    if args.reference:
        args.backend = "reference"
    if args.backend is None:
        args.backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    if args.backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={args.backend!r}")
    for name in ("size", "batch", "steps"):
        if getattr(args, name) < 1:
            raise ValueError(f"{name} must be positive. Received: {name}={getattr(args, name)}")
    if args.warmup < 1:
        raise ValueError(f"warmup must be at least 1 (compilation). Received: {args.warmup}")


def prepare_environment(backend: str, max_isa: str | None, dump_dir: str | None) -> None:
    """Set what the backends read when they load: Keras' backend, the ISA cap, XLA's dump."""
    if max_isa:  # oneDNN (TF, torch), ATen, MKL, NumPy and XLA's code generation
        os.environ.update(cap_environment(max_isa))
    flags = os.environ.get("XLA_FLAGS", "").split()
    if backend == "jax" and dump_dir:
        flags += [f"--xla_dump_to={dump_dir}", "--xla_dump_hlo_as_text"]
        flags.append("--xla_dump_hlo_module_re=train_step")
    if flags:
        os.environ["XLA_FLAGS"] = " ".join(flags)
    if backend != "reference":
        if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", backend) != backend:
            raise ValueError(f"Keras is loaded with another backend. Received: backend={backend}")
        os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def machine() -> dict:
    """The processor: model, cores, vector extensions, level and cap (`ferzoo.runtime.cpu`)."""
    from ferzoo.runtime.cpu import processor  # noqa: PLC0415  (/proc/cpuinfo only)

    return processor()


def versions() -> dict:
    import importlib.metadata as metadata  # noqa: PLC0415

    found = {}
    for name in ("keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "numpy"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def keras_step(args):
    """`(step, model)`: `model.train_on_batch` on one batch, the model compiled as ferzoo.train does."""
    import keras  # noqa: PLC0415

    from benchmarks.worker import build_compiled  # noqa: PLC0415
    from ferzoo.runtime import performance  # noqa: PLC0415

    backend = keras.backend.backend()
    plain = {"fuse_batch_norm": False, "native_conv": False} if args.plain_keras else {}
    settings = performance.resolve(backend, **plain)
    performance.apply_runtime_settings(backend, deterministic=settings["deterministic"])
    if backend == "jax":
        import jax  # noqa: PLC0415

        jax.config.update("jax_enable_compilation_cache", False)  # compile: XLA dumps it
    model, _, images, labels = build_compiled(args.model, args.size, settings, batch=args.batch)
    images, labels = keras.ops.convert_to_tensor(images), keras.ops.convert_to_tensor(labels)
    return (lambda: model.train_on_batch(images, labels)), model


def profile(args, work_dir: str) -> dict:
    """Build the step, run the warm-up steps, profile `args.steps` more; the record."""
    from benchmarks import profile_readers as readers  # noqa: PLC0415

    if args.backend == "reference":
        from benchmarks.worker import reference_steps  # noqa: PLC0415

        steps = reference_steps(args.model, args.size, args.batch)
        step, model = steps["train"], steps["net"]
    else:
        step, model = keras_step(args)
    scopes = readers.install_scopes(args.backend, model)
    warmup = readers.timed(step, args.warmup)
    run = getattr(readers, f"profile_{'torch' if args.backend == 'reference' else args.backend}")
    times, op_ms, notes = run(step, args.steps, model, work_dir, args)
    scopes()
    wall_ms = 1000.0 * statistics.median(times)
    kinds = step_kinds.by_kind(op_ms, wall_ms)
    split = None
    if "conv_grads" in {label[0] for label in op_ms} and args.split_conv == "onednn":
        split = readers.onednn_split(step)
        notes.append(readers.split_note(split))
    return {
        "backend": "reference (torch)" if args.backend == "reference" else args.backend,
        "model": args.model,
        "size": args.size,
        "batch": args.batch,
        "warmup": args.warmup,
        "steps": args.steps,
        "cap": args.max_isa,
        "xla_flags": args.user_xla_flags,
        "plain_keras": args.plain_keras,
        "step_s": times,
        "step_median_ms": wall_ms,
        "warmup_s": warmup,
        "kinds_ms": kinds,
        "onednn_split": split,
        "ops_ms": _top_ops(op_ms),
        "top_instances_ms": _top_instances(op_ms),
        "notes": notes,
        "machine": machine(),
        "versions": versions(),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": _command(args),
        "load_average": os.getloadavg(),
    }


def _top_ops(op_ms: dict) -> list[list]:
    """`[kind, op, ms]` by op (an op type, an HLO instruction's name less its number), slowest first."""
    totals: dict[tuple[str, str], float] = {}
    for (kind, op, *_), ms in op_ms.items():
        totals[kind, op] = totals.get((kind, op), 0.0) + ms
    ranked = sorted(totals.items(), key=lambda item: -item[1])
    return [[kind, op, round(ms, 3)] for (kind, op), ms in ranked]


def _top_instances(op_ms: dict, count: int = 25) -> list[list]:
    """`[kind, op, where, ms]` of the slowest single ops where the profile says which they are
    (TensorFlow's op names, XLA's instructions with their op_name, shape and window)."""
    ranked = sorted(
        ((label, ms) for label, ms in op_ms.items() if len(label) > 2), key=lambda item: -item[1]
    )
    return [[*label, round(ms, 3)] for label, ms in ranked[:count]]


def _command(args) -> str:
    """The command line that made the record, with the environment it was given."""
    env = cap_environment(args.max_isa, {}) if args.max_isa and "--max-isa" not in sys.argv else {}
    if args.user_xla_flags:
        env["XLA_FLAGS"] = args.user_xla_flags
    argv = sys.argv[1:] if sys.argv[0].endswith("profile_step.py") else []
    words = [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    words += ["python", "benchmarks/profile_step.py", *(shlex.quote(a) for a in argv)]
    return " ".join(words)


def print_record(record: dict, top: int) -> None:
    wall = record["step_median_ms"]
    print(
        f"{record['backend']} {record['model']} {record['size']} px: "
        f"{wall:.1f} ms/step (median of {record['steps']} profiled steps)"
    )
    for kind, ms in record["kinds_ms"].items():
        if ms or kind != "conv_grads":
            print(f"  {step_kinds.KINDS[kind]:72s} {ms:8.1f} ms {100 * ms / wall:5.1f} %")
    for kind, op, ms in record["ops_ms"][:top]:
        print(f"    {ms:8.1f} ms  {kind:16s} {op}")
    for note in record["notes"]:
        print(f"  note: {note}")


def main(argv: list[str] | None = None) -> dict | None:
    args = _parser().parse_args(argv)
    if args.report:
        from benchmarks.step_report import write_report  # noqa: PLC0415

        write_report(args.report, args.output)
        return None
    _check(args)
    args.user_xla_flags = os.environ.get("XLA_FLAGS", "")
    work_dir = args.keep or tempfile.mkdtemp(prefix="ferzoo-profile-")
    try:
        prepare_environment(args.backend, args.max_isa, os.path.join(work_dir, "hlo"))
        record = profile(args, work_dir)
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    print_record(record, args.top)
    if args.json:
        from ferzoo.files import write_json  # noqa: PLC0415

        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        write_json(args.json, record)
    return record


def _cli() -> None:
    try:
        main()
    except (ValueError, OSError) as err:
        message = re.sub(r"\s+", " ", str(err))
        print(f"profile_step: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    _cli()
