"""The ferzoo benchmark suite: training and inference speed per model and backend, against hand-written PyTorch.

    python benchmarks/run.py                                   # everything (slow on 2 cores)
    python benchmarks/run.py --quick                           # fewer steps, 224 px only for training
    python benchmarks/run.py --backends tensorflow --models resnet18 --sizes 96 --steps 3
    python benchmarks/run.py --backends jax,torch --precision mixed_bfloat16 --merge
    python benchmarks/run.py --backends jax,torch --models resnet18 --sizes 112 --batch 128  # a GPU

Every (backend, model, image size) runs in its own subprocess (`benchmarks/worker.py`) with
`KERAS_BACKEND` set, because Keras fixes its backend per process; the hand-written PyTorch
references (`benchmarks/reference_torch.py`, resnet18 and msc_wca_resnet18) run in the same
invocation, on the same machine, interleaved with the Keras runs. Records are kept in
`results/bench.json` (with `--merge`, the records of earlier invocations that this one does not
redo are kept, so a long suite can be run in parts under the 10-minute limit per command) and
`results/bench.csv`, and `results/bench.md` is written from all of them, followed by the notes
in `benchmarks/notes.md` (the speed work and the profiles).

Each Keras run uses ferzoo's default speed configuration (`ferzoo.runtime.performance.resolve`: the data
format, `jit_compile` and, on TensorFlow, op determinism that `ferzoo.train` uses), unless
`--worker-args` overrides it (e.g. `--worker-args "--jit-compile true --deterministic false"
--label xla`; a flag that would not reach the backend stops that run with one line saying why).
`--precision` picks the dtype policy of every run (`ferzoo.runtime.precision`; the reference then uses
PyTorch's AMP); records of different precisions are kept apart, so runs of each policy merge
into one report. `--max-isa avx2` caps every subprocess, the reference's too, to an instruction
set (`ferzoo.runtime.cpu.cap_environment`: oneDNN, ATen, MKL and XLA), so that an AVX-512
machine measures what an AVX2 one would do; each record stores its cap, capped records are kept
apart from uncapped ones, and the report says beside the figures how they were capped
(results/cpu_isa.md: what each variable changes). The report is written by
`benchmarks/report.py`.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "benchmarks", "worker.py")
if ROOT not in sys.path:  # `python benchmarks/run.py`: the benchmarks and ferzoo from this tree
    sys.path.insert(0, ROOT)

from benchmarks.report import (  # noqa: E402  (after the path: run as a script too)
    BACKENDS,
    DEFAULT_BACKEND,
    MODELS,
    REFERENCE,
    REFERENCE_MODELS,
    combine_rounds,
    key,
    paired_ratios,
    write_csv,
    write_report,
)

#: `ferzoo.runtime.precision.CHOICES` (run.py does not import ferzoo before the workers start).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")


# --- the machine --------------------------------------------------------------------------------


def machine_info() -> dict:
    """CPU model, cores, frequency, RAM and an estimated FP32 peak, from /proc."""
    info = {"nproc": os.cpu_count(), "cpu": platform.processor() or "?", "mhz": None}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name":
                    info["cpu"] = value
                elif key == "cpu MHz" and info["mhz"] is None:
                    info["mhz"] = float(value)
                elif key == "vendor_id" and "vendor" not in info:
                    info["vendor"] = value
                elif key == "cpu family" and "family" not in info:
                    info["family"] = int(value)
        with open("/proc/meminfo") as f:
            info["ram_gib"] = int(f.readline().split()[1]) / 2**20
    except OSError:
        pass
    info["peak_gflops"], info["peak_source"] = measured_peak_gflops()
    from ferzoo.runtime.cpu import processor  # /proc/cpuinfo only: no framework is imported
    from ferzoo.runtime.devices import nvidia_gpus  # nvidia-smi only: no framework is imported

    info["processor"] = processor()

    info["gpus"] = [f"{g['model']}, {g['memory_bytes'] >> 20} MiB" for g in nvidia_gpus()]
    return info


def measured_peak_gflops(size: int = 2048, repeats: int = 8) -> tuple[float, str]:
    """The FP32 peak measured here: the best of `repeats` `size`^3 matmuls on all cores.

    NumPy's BLAS and PyTorch's (oneDNN/MKL) are both timed where installed, the faster one
    counts: % of peak is then against what this machine really delivers today, not a figure
    from /proc/cpuinfo (an estimate read 122-131 % on an Intel Xeon of this kind).
    """
    import numpy as np

    a, b = (np.random.default_rng(i).standard_normal((size, size), np.float32) for i in (0, 1))
    engines = {"numpy": lambda: a @ b}
    try:
        import torch

        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        engines["torch"] = lambda: torch.mm(ta, tb)
    except ImportError:
        pass
    best: dict[str, float] = {}
    for name, matmul in engines.items():
        matmul()  # warm-up
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            matmul()
            times.append(time.perf_counter() - started)
        best[name] = 2 * size**3 / min(times) / 1e9
    name = max(best, key=best.get)
    return best[name], f"float32 {size}x{size} matmul, best of {repeats}, {name} (" + ", ".join(
        f"{k} {v:.0f}" for k, v in best.items()) + " GFLOP/s)"  # fmt: skip


def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("keras", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "torch", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    try:
        from ferzoo import __version__

        out["ferzoo"] = __version__
    except ImportError:
        pass
    return out


# --- running ------------------------------------------------------------------------------------


def _run_worker(backend: str, model: str, size: int, args, reference: bool) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    if args.max_isa:
        from ferzoo.runtime.cpu import cap_environment

        env.update(cap_environment(args.max_isa, environ=env))
    command = [sys.executable, WORKER, "--model", model, "--size", str(size)]
    command += ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    command += ["--precision", args.precision, "--batch", str(args.batch)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.quick and size != min(args.sizes):
        command.append("--train-only")  # --quick: inference at the smallest size only
    if reference:
        command.append("--reference")
        env["KERAS_BACKEND"] = "torch"
    else:
        command += shlex.split(args.worker_args)
        env["KERAS_BACKEND"] = backend
    started = time.perf_counter()
    proc = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=args.timeout, check=False
    )
    wall = time.perf_counter() - started
    last = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    try:
        record = json.loads(last[0])
    except (IndexError, json.JSONDecodeError):
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        refused = [line for line in tail if line.startswith("worker.py: ")]  # one line: why
        record = {"error": refused[-1] if refused else " | ".join(tail[-5:])}
        record["error"] = record["error"] or f"exit code {proc.returncode}"
        record.update(backend=REFERENCE if reference else backend, model=model, size=size)
    record["label"] = "" if reference else args.label
    record.setdefault("cap", args.max_isa)  # the worker's own reading, where it ran
    record["wall_s"] = wall
    return record


def run(args) -> list[dict]:
    """Run every requested configuration; return the records (one per subprocess).

    A model with a hand-written reference runs `args.rounds` times, each round timing every
    backend and the reference back to back (in alternating order), so that each round gives a
    ferzoo / reference ratio measured under the same machine conditions; the report gives the
    median over rounds. Other models run once.
    """
    records = []
    for size in args.sizes:
        for model in args.models:
            jobs = [(b, False) for b in args.backends]
            rounds = 1
            if args.reference and model in REFERENCE_MODELS:
                jobs.append((REFERENCE, True))
                rounds = args.rounds
            for round_index in range(rounds):
                for backend, reference in jobs if round_index % 2 == 0 else jobs[::-1]:
                    tag = f" round {round_index + 1}/{rounds}" if rounds > 1 else ""
                    print(f"[bench] {backend} {model} {size}px{tag} ...", end=" ", flush=True)
                    record = _run_worker(backend, model, size, args, reference)
                    record["round"] = round_index
                    record["loadavg_1min_before_after"] = os.getloadavg()[0]
                    print(
                        record.get("error")
                        or f"train {record['train_step_s']:.3f} s/step ({record['wall_s']:.0f} s)",
                        flush=True,
                    )
                    records.append(record)
    return records


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, checked: a bad value is a ValueError naming it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sizes", default="224,96")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per measurement")
    parser.add_argument("--batch", type=int, default=16, help="images per training step")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 timed steps after 1 warm-up step, inference only at the smallest size",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="rounds for the models with a reference (ratio = median over rounds); --quick: 1",
    )
    parser.add_argument("--threads", type=int, default=0, help="threads per process; 0 = default")
    parser.add_argument(
        "--precision",
        default="float32",
        choices=PRECISIONS,
        help="dtype policy of every run (ferzoo.runtime.precision); the reference uses PyTorch's AMP",
    )
    parser.add_argument(
        "--max-isa",
        default=None,
        help="cap every subprocess to an instruction set: avx2, avx512, ... "
        "(ferzoo.runtime.cpu.cap_environment)",
    )
    parser.add_argument("--no-reference", dest="reference", action="store_false")
    parser.add_argument("--worker-args", default="", help="extra arguments for worker.py")
    parser.add_argument("--label", default="", help="configuration label (with --worker-args)")
    parser.add_argument("--merge", action="store_true", help="keep other records in bench.json")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite bench.md/csv from bench.json, run nothing",
    )
    parser.add_argument("--timeout", type=float, default=580.0, help="seconds per subprocess")
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "results"))
    args = parser.parse_args(argv)
    args.backends = [b for b in args.backends.split(",") if b]
    for backend in args.backends:
        if backend not in BACKENDS:
            raise ValueError(f"backends must be among {BACKENDS}. Received: backends={backend!r}")
    args.models = [m for m in args.models.split(",") if m]
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.quick:
        args.steps, args.warmup, args.rounds = min(args.steps, 3), 1, 1
    if args.rounds < 1:
        raise ValueError(f"rounds must be >= 1. Received: rounds={args.rounds}")
    if args.max_isa is not None:
        from ferzoo.runtime.cpu import check_isa

        args.max_isa = check_isa(args.max_isa, "--max-isa")
    return args


def save(args: argparse.Namespace, records: list[dict], command: str, loads: list[float]):
    """bench.json (with `--merge`, the other configurations' records kept), bench.csv, bench.md."""
    os.makedirs(args.output_dir, exist_ok=True)
    path_json = os.path.join(args.output_dir, "bench.json")
    previous = {"records": [], "commands": [], "loads": []}
    if args.merge and os.path.exists(path_json):
        with open(path_json) as f:
            previous = json.load(f)
    redone = {key(r) for r in records}
    kept = [r for r in previous["records"] if key(r) not in redone]
    all_records = kept + records
    commands = [c for c in previous.get("commands", []) if any(r.get("command") == c for r in kept)]
    commands.append(command)
    loads = previous.get("loads", []) + loads
    meta = {
        "commands": commands,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "versions": versions(),
        "load": f"{min(loads):.1f} to {max(loads):.1f} (median {statistics.median(loads):.1f})",
        "loads": loads,
    }
    with open(path_json, "w") as f:
        json.dump({**meta, "records": all_records}, f, indent=1)
    write_csv(all_records, os.path.join(args.output_dir, "bench.csv"))
    write_report(all_records, meta, os.path.join(args.output_dir, "bench.md"))


def main(argv: list[str] | None = None) -> list[dict]:
    """Parse the arguments, run the benchmarks, write results/bench.{md,json,csv}."""
    args = parse_args(argv)
    if args.report_only:
        with open(os.path.join(args.output_dir, "bench.json")) as f:
            saved = json.load(f)
        write_csv(saved["records"], os.path.join(args.output_dir, "bench.csv"))
        write_report(saved["records"], saved, os.path.join(args.output_dir, "bench.md"))
        return saved["records"]
    command = "python benchmarks/run.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    if args.max_isa:
        from ferzoo.runtime.cpu import describe_cap

        print(f"[bench] every subprocess {describe_cap(args.max_isa)}", flush=True)
    load_before = os.getloadavg()[0]
    records = run(args)
    load_after = os.getloadavg()[0]
    for r in records:
        r["command"] = command.strip()
    save(args, records, command.strip(), [load_before, load_after])
    print(f"[bench] wrote {args.output_dir}/bench.md, bench.json, bench.csv")
    return records


__all__ = [
    "DEFAULT_BACKEND",
    "REFERENCE",
    "combine_rounds",
    "main",
    "paired_ratios",
    "write_csv",
    "write_report",
]


if __name__ == "__main__":
    main()
