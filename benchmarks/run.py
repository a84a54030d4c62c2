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
`--worker-args` overrides it (e.g. `--worker-args "--jit-compile true" --label xla`).
`--precision` picks the dtype policy of every run (`ferzoo.runtime.precision`; the reference then uses
PyTorch's AMP); records of different precisions are kept apart, so runs of each policy merge
into one report.
"""

from __future__ import annotations

import argparse
import csv
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
NOTES = os.path.join(ROOT, "benchmarks", "notes.md")
MODELS = ("resnet18", "msc_wca_resnet18", "wamf_resnet18", "cnn", "wca_mcnn")
REFERENCE_MODELS = ("resnet18", "msc_wca_resnet18")
BACKENDS = ("tensorflow", "jax", "torch")
REFERENCE = "reference (torch)"
#: The backend Keras uses when KERAS_BACKEND is unset, so the one `ferzoo.train` gets by default.
DEFAULT_BACKEND = "tensorflow"
#: `ferzoo.runtime.precision.CHOICES` (run.py does not import ferzoo before the workers start).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "auto")


# --- the machine --------------------------------------------------------------------------------


def machine_info() -> dict:
    """CPU model, cores, frequency, RAM and an estimated FP32 peak, from /proc."""
    info = {"nproc": os.cpu_count(), "cpu": platform.processor() or "?", "mhz": None, "flags": ""}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key, value = key.strip(), value.strip()
                if key == "model name":
                    info["cpu"] = value
                elif key == "cpu MHz" and info["mhz"] is None:
                    info["mhz"] = float(value)
                elif key == "flags" and not info["flags"]:
                    info["flags"] = value
                elif key == "vendor_id" and "vendor" not in info:
                    info["vendor"] = value
                elif key == "cpu family" and "family" not in info:
                    info["family"] = int(value)
        with open("/proc/meminfo") as f:
            info["ram_gib"] = int(f.readline().split()[1]) / 2**20
    except OSError:
        pass
    info.pop("flags")
    info["peak_gflops"], info["peak_source"] = measured_peak_gflops()
    sys.path.insert(0, ROOT)
    from ferzoo.runtime.devices import nvidia_gpus  # nvidia-smi only: no framework is imported

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
        sys.path.insert(0, ROOT)
        from ferzoo import __version__

        out["ferzoo"] = __version__
    except ImportError:
        pass
    return out


# --- running ------------------------------------------------------------------------------------


def _run_worker(backend: str, model: str, size: int, args, reference: bool) -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
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
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        record = {"error": " | ".join(tail) or f"exit code {proc.returncode}"}
        record.update(backend=REFERENCE if reference else backend, model=model, size=size)
    record["label"] = "" if reference else args.label
    record["wall_s"] = wall
    return record


def _key(record: dict) -> tuple:
    return (
        record.get("backend"),
        record.get("model"),
        record.get("size"),
        record.get("label", ""),
        record.get("precision", "float32"),  # records from before --precision are float32
    )


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


def combine_rounds(records: list[dict]) -> list[dict]:
    """One record per configuration: the median over its rounds (a record per round in input).

    The combined record keeps the first round's fields and takes, for every timing, the median
    over the rounds; `round_train_step_s` lists the rounds' training step times.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if "error" not in r:
            groups.setdefault(_key(r), []).append(r)
    combined = []
    for group in groups.values():
        out = dict(group[0])
        out["rounds"] = len(group)
        out["round_train_step_s"] = [r["train_step_s"] for r in group]
        for field in (
            "train_step_s",
            "first_train_step_s",
            "infer_images_per_s",
            "first_infer_s",
            "latency_ms",
            "peak_rss_mib",
        ):
            values = [r[field] for r in group if r.get(field) is not None]
            if values:
                out[field] = statistics.median(values)
        out["train_images_per_s"] = out.get("batch", 16) / out["train_step_s"]
        combined.append(out)
    return combined + [r for r in records if "error" in r]


def paired_ratios(
    records: list[dict], backend: str, model: str, size: int, precision: str = "float32"
) -> list[float]:
    """ferzoo / reference training-throughput ratios, one per round that timed both.

    Rounds pair only within one invocation of this script (records with the same command), and
    only records of the same `precision`.
    """
    by_round: dict[tuple, dict[str, dict]] = {}
    for r in records:
        if "error" in r or (r.get("model"), r.get("size")) != (model, size):
            continue
        if r.get("precision", "float32") != precision:
            continue
        if r.get("backend") not in (backend, REFERENCE) or r.get("label", "") != "":
            continue
        by_round.setdefault((r.get("command", ""), r.get("round", 0)), {})[r["backend"]] = r
    return [
        pair[REFERENCE]["train_step_s"] / pair[backend]["train_step_s"]
        for _, pair in sorted(by_round.items(), key=lambda item: item[0][1])
        if backend in pair and REFERENCE in pair
    ]


# --- the report ---------------------------------------------------------------------------------


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _train_cells(r, gflops: str, peak: str) -> str:
    return (
        f"{r.get('data_format', '-')} | {r.get('jit_compile', '-')} | "
        f"{_fmt(r['train_images_per_s'])} | {_fmt(r['train_step_s'], 3)} | "
        f"{_fmt(r['first_train_step_s'], 1)} | {gflops} | {peak} | {_fmt(r['peak_rss_mib'], 0)}"
    )


def _infer_cells(r, gflops: str, peak: str) -> str:
    return (
        f"{_fmt(r['infer_images_per_s'])} | {_fmt(r['first_infer_s'], 2)} | {gflops} | {peak} | "
        f"{_fmt(r['latency_ms'], 1)}"
    )


# (section, the throughput key, FLOPs per MAC-pass factor, header, the cells after
# model | backend | size): training counts forward and backward (3 passes), inference one.
_TABLES = (
    ("Training", "train_images_per_s", 3, [
        "| model | backend | size | data format | jit | img/s | s/step | first step s | GFLOP/s | % of peak | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ], _train_cells),
    ("Inference", "infer_images_per_s", 1, [
        "| model | backend | size | img/s (batch 16) | first call s | GFLOP/s | % of peak | latency ms (batch 1) |",
        "|---|---|---|---|---|---|---|---|",
    ], _infer_cells),
)  # fmt: skip


def _peak_for(record: dict, machine: dict) -> float:
    """The peak of the cores the run could use (`--threads` limits it)."""
    threads = record.get("threads") or machine["nproc"]
    return machine["peak_gflops"] * min(threads, machine["nproc"]) / machine["nproc"]


def _percent_of_peak(gflops: float | None, record: dict, machine: dict) -> float | None:
    """GFLOP/s as % of the CPU peak; None for a run on a GPU (no CPU peak applies)."""
    if not gflops or record.get("device", "cpu") != "cpu":
        return None
    return 100 * gflops / _peak_for(record, machine)


def _gflops(record: dict, images_per_s: float | None, factor: int) -> float | None:
    macs = (record.get("profile") or {}).get("macs")
    if not macs or images_per_s is None:
        return None
    return 2 * macs * factor * images_per_s / 1e9


def write_report(records: list[dict], meta: dict, path_md: str) -> str:
    """Write bench.md from the records and the run metadata; return the markdown."""
    machine = meta["machine"]
    peak = machine["peak_gflops"]
    lines = ["# ferzoo benchmarks", ""]
    batches = ", ".join(str(b) for b in sorted({r.get("batch", 16) for r in records}))
    lines += ["Produced by `benchmarks/run.py`:", ""]
    for command in meta["commands"]:
        lines.append(f"    {command}")
    lines += [
        "",
        f"- Date: {meta['date']}",
        f"- Machine: {machine['nproc']} cores, {machine['cpu']}, {machine['mhz']:.0f} MHz, "
        f"{machine['ram_gib']:.1f} GiB RAM."
        + (f" GPU: {'; '.join(machine['gpus'])}." if machine.get("gpus") else ""),
        f"- FP32 peak, measured in this run: {peak:.0f} GFLOP/s "
        f"({machine.get('peak_source', 'estimated from /proc/cpuinfo by an older run')}).",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        f"- Load average (1 min) during the runs: {meta['load']} on {machine['nproc']} cores "
        "(the benchmark's own processes count in it; more than the core count means other jobs "
        "shared the machine and the figures are noisier: see the per-step times in bench.json).",
        f"- Batch {batches} for training and inference throughput, batch 1 for latency; "
        "random images (on the device that computes, before timing), "
        "one fixed batch (no input pipeline). Medians over the repeated steps after the first "
        "(the first step, with tracing/compilation, is reported on its own) and the warm-up "
        "steps. Training: `train_on_batch` with Adam (Keras), forward + backward + Adam step "
        "(reference). Inference: `predict_on_batch`.",
        "- GFLOP/s = 2 x MACs (from `ferzoo.profile`, per image, forward) x images/s; a training "
        "step is counted as 3 forward passes (forward + backward for activations and weights).",
        "- Threads: "
        + (", ".join(sorted({str(r.get("threads") or "framework default") for r in records})))
        + " compute thread(s) per process; % of peak is against the peak of that many cores "
        "(CPU runs only).",
        "- Peak memory: the RSS high-water mark of the subprocess that ran the configuration "
        "(framework import, model, training and inference steps).",
        "",
    ]
    raw = records
    records = combine_rounds(records)
    ok = [r for r in records if "error" not in r]
    precisions = sorted({r.get("precision", "float32") for r in ok}, key=lambda p: p != "float32")
    configs = sorted({(r.get("label", ""), r.get("precision", "float32")) for r in ok})
    configs.sort(key=lambda c: c[1] != "float32")  # float32 first, as before --precision
    sizes = sorted({r["size"] for r in ok}, reverse=True)

    def pick(backend, model, size, label="", precision="float32"):
        for r in ok:
            if _key(r) == (backend, model, size, label, precision):
                return r
        return None

    order = [b for b in (*BACKENDS, REFERENCE) if any(r["backend"] == b for r in ok)]
    models = [m for m in MODELS if any(r["model"] == m for r in ok)]
    models += sorted({r["model"] for r in ok} - set(models))

    # Ratio rows first: the headline.
    lines += ["## ferzoo / hand-written PyTorch (training throughput)", ""]
    lines += [
        f"Training images/s of ferzoo's default configuration (backend `{DEFAULT_BACKEND}`, "
        "the one Keras uses when KERAS_BACKEND is unset, and the other backends for "
        "comparison) over the hand-written PyTorch reference (channels_last), same machine, "
        "same run. >= 1.00 means ferzoo is at least as fast. Where a configuration ran in "
        "several rounds (reference and backends timed back to back in each), img/s is from "
        "the median step time over the rounds and the ratio is the median of the rounds' "
        "ratios, with their range in brackets.",
        "",
    ]
    for precision in precisions:
        if precision != "float32":  # the reference in PyTorch's AMP of the same 16-bit type
            lines += [f"Precision `{precision}` (the reference with AMP):", ""]
        lines += [
            "| model | size | reference img/s | "
            + " | ".join(f"{b} img/s (ratio)" for b in BACKENDS if b in order)
            + " |",
            "|---|---|---|" + "---|" * len([b for b in BACKENDS if b in order]),
        ]
        for model in REFERENCE_MODELS:
            for size in sizes:
                ref = pick(REFERENCE, model, size, "", precision)
                if ref is None:
                    continue
                cells = []
                for backend in BACKENDS:
                    if backend not in order:
                        continue
                    r = pick(backend, model, size, "", precision)
                    if r is None:
                        cells.append("-")
                        continue
                    ratios = paired_ratios(raw, backend, model, size, precision)
                    ratio = (
                        statistics.median(ratios)
                        if ratios
                        else r["train_images_per_s"] / ref["train_images_per_s"]
                    )
                    spread = f" [{min(ratios):.2f}-{max(ratios):.2f}]" if len(ratios) > 1 else ""
                    mark = "**" if backend == DEFAULT_BACKEND else ""
                    cells.append(
                        f"{_fmt(r['train_images_per_s'])} ({mark}{ratio:.2f}{mark}{spread})"
                    )
                lines.append(
                    f"| {model} | {size} | {_fmt(ref['train_images_per_s'])} | "
                    + " | ".join(cells)
                    + " |"
                )
        lines.append("")

    def gflops(r, images_per_s, factor):
        """`_gflops` of a picked record; the reference's falls back on a ferzoo twin's MACs."""
        g = _gflops(r, images_per_s, factor)
        if g is None and r["backend"] == REFERENCE:
            model, size = r["model"], r["size"]
            precision = r.get("precision", "float32")
            twins = (pick(b, model, size, "", precision) for b in BACKENDS)
            twin = next((t for t in twins if t), None)
            g = _gflops(twin, images_per_s, factor) if twin else None
        return g

    def picked(label, precision, key):
        """(model, backend, size, record) of every run of `label` that measured `key`."""
        for model in models:
            for size in sizes:
                for backend in order:
                    r = pick(backend, model, size, "" if backend == REFERENCE else label, precision)
                    if r is not None and key in r:
                        yield model, backend, size, r

    for label, precision in configs:
        parts = ([f"configuration `{label}`"] if label else []) + (
            [f"precision `{precision}`"] if precision != "float32" else []
        )
        title = f" ({', '.join(parts)})" if parts else ""
        for section, key, factor, header, row in _TABLES:
            header = [header[0].replace("(batch 16)", f"(batch {batches})"), *header[1:]]
            lines += [f"## {section}{title}", "", *header]
            for model, backend, size, r in picked(label, precision, key):
                g = gflops(r, r[key], factor)
                peak = _fmt(_percent_of_peak(g, r, machine))
                lines.append(f"| {model} | {backend} | {size} | {row(r, _fmt(g), peak)} |")
            lines.append("")
    failed = [r for r in records if "error" in r]
    if failed:
        lines += ["## Failed runs", ""]
        for r in failed:
            lines.append(f"- {r['backend']} {r['model']} {r['size']} px: {r['error']}")
        lines.append("")
    if os.path.exists(NOTES):
        with open(NOTES) as f:
            lines += [f.read().rstrip(), ""]
    text = "\n".join(lines)
    with open(path_md, "w") as f:
        f.write(text)
    return text


def write_csv(records: list[dict], path: str) -> None:
    fields = [
        "backend",
        "model",
        "size",
        "label",
        "precision",
        "device",
        "batch",
        "data_format",
        "jit_compile",
        "deterministic",
        "threads",
        "steps",
        "warmup",
        "train_images_per_s",
        "train_step_s",
        "first_train_step_s",
        "infer_images_per_s",
        "first_infer_s",
        "latency_ms",
        "first_latency_s",
        "peak_rss_mib",
        "macs",
        "params",
        "error",
    ]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for r in records:
            row = dict(r)
            row.update({k: (r.get("profile") or {}).get(k) for k in ("macs", "params")})
            writer.writerow(row)


def main(argv: list[str] | None = None) -> list[dict]:
    """Parse the arguments, run the benchmarks, write results/bench.{md,json,csv}."""
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

    if args.report_only:
        with open(os.path.join(args.output_dir, "bench.json")) as f:
            saved = json.load(f)
        write_csv(saved["records"], os.path.join(args.output_dir, "bench.csv"))
        write_report(saved["records"], saved, os.path.join(args.output_dir, "bench.md"))
        return saved["records"]
    command = "python benchmarks/run.py " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    load_before = os.getloadavg()[0]
    records = run(args)
    load_after = os.getloadavg()[0]
    for r in records:
        r["command"] = command.strip()

    os.makedirs(args.output_dir, exist_ok=True)
    path_json = os.path.join(args.output_dir, "bench.json")
    previous = {"records": [], "commands": [], "loads": []}
    if args.merge and os.path.exists(path_json):
        with open(path_json) as f:
            previous = json.load(f)
    redone = {_key(r) for r in records}
    kept = [r for r in previous["records"] if _key(r) not in redone]
    all_records = kept + records
    commands = [c for c in previous.get("commands", []) if any(r.get("command") == c for r in kept)]
    commands.append(command.strip())
    loads = previous.get("loads", []) + [load_before, load_after]
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
    print(f"[bench] wrote {args.output_dir}/bench.md, bench.json, bench.csv")
    return records


if __name__ == "__main__":
    main()
