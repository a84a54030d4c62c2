"""The benchmark records and their report: results/bench.md and results/bench.csv.

`benchmarks/run.py` runs the measurements and calls `write_report` and `write_csv`; `python
benchmarks/run.py --report-only` rewrites both from results/bench.json. A configuration is a
(backend, model, size, label, precision, cap) key (`key`): records of different labels,
precisions or instruction-set caps (`run.py --max-isa`) are kept apart, and a configuration
measured in several rounds is combined into its median (`combine_rounds`).
"""

from __future__ import annotations

import csv
import os
import statistics

from ferzoo.runtime.cpu import describe_cap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTES = os.path.join(ROOT, "benchmarks", "notes.md")
MODELS = ("resnet18", "msc_wca_resnet18", "wamf_resnet18", "cnn", "wca_mcnn")
REFERENCE_MODELS = ("resnet18", "msc_wca_resnet18")
BACKENDS = ("tensorflow", "jax", "torch")
REFERENCE = "reference (torch)"
#: The backend Keras uses when KERAS_BACKEND is unset, so the one `ferzoo.train` gets by default.
DEFAULT_BACKEND = "tensorflow"

# --- the records ----------------------------------------------------------------------------------


def key(record: dict) -> tuple:
    """A record's configuration: (backend, model, size, label, precision, cap)."""
    return (
        record.get("backend"),
        record.get("model"),
        record.get("size"),
        record.get("label", ""),
        record.get("precision", "float32"),  # records from before --precision are float32
        record.get("cap"),  # records from before --max-isa ran uncapped
    )


def combine_rounds(records: list[dict]) -> list[dict]:
    """One record per configuration: the median over its rounds (a record per round in input).

    The combined record keeps the first round's fields and takes, for every timing, the median
    over the rounds; `round_train_step_s` lists the rounds' training step times.
    """
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if "error" not in r:
            groups.setdefault(key(r), []).append(r)
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
    records: list[dict],
    backend: str,
    model: str,
    size: int,
    precision: str = "float32",
    cap: str | None = None,
) -> list[float]:
    """ferzoo / reference training-throughput ratios, one per round that timed both.

    Rounds pair only within one invocation of run.py (records with the same command), and only
    records of the same `precision` and `cap`.
    """
    by_round: dict[tuple, dict[str, dict]] = {}
    for r in records:
        if "error" in r or (r.get("model"), r.get("size")) != (model, size):
            continue
        if (r.get("precision", "float32"), r.get("cap")) != (precision, cap):
            continue
        if r.get("backend") not in (backend, REFERENCE) or r.get("label", "") != "":
            continue
        by_round.setdefault((r.get("command", ""), r.get("round", 0)), {})[r["backend"]] = r
    return [
        pair[REFERENCE]["train_step_s"] / pair[backend]["train_step_s"]
        for _, pair in sorted(by_round.items(), key=lambda item: item[0][1])
        if backend in pair and REFERENCE in pair
    ]


# --- cells ----------------------------------------------------------------------------------------


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


# --- the report -----------------------------------------------------------------------------------


class _Records:
    """The combined records of a report, looked up by configuration."""

    def __init__(self, records: list[dict]):
        self.raw = records
        combined = combine_rounds(records)
        self.ok = [r for r in combined if "error" not in r]
        self.failed = [r for r in combined if "error" in r]
        self.sizes = sorted({r["size"] for r in self.ok}, reverse=True)
        self.order = [b for b in (*BACKENDS, REFERENCE) if any(r["backend"] == b for r in self.ok)]
        self.models = [m for m in MODELS if any(r["model"] == m for r in self.ok)]
        self.models += sorted({r["model"] for r in self.ok} - set(self.models))
        # (label, precision, cap): float32 first (as before --precision), uncapped first.
        configs = {
            (r.get("label", ""), r.get("precision", "float32"), r.get("cap")) for r in self.ok
        }
        self.configs = sorted(configs, key=lambda c: (c[1] != "float32", c[2] or "", c[0], c[1]))
        self.variants = sorted({(p, cap) for _, p, cap in self.configs},
                               key=lambda v: (v[0] != "float32", v[1] or "", v[0]))  # fmt: skip

    def pick(self, backend, model, size, label="", precision="float32", cap=None):
        for r in self.ok:
            if key(r) == (backend, model, size, label, precision, cap):
                return r
        return None

    def gflops(self, r: dict, images_per_s, factor: int):
        """`_gflops` of a record; the reference's falls back on a ferzoo twin's MACs."""
        g = _gflops(r, images_per_s, factor)
        if g is None and r["backend"] == REFERENCE:
            variant = (r.get("precision", "float32"), r.get("cap"))
            twins = (self.pick(b, r["model"], r["size"], "", *variant) for b in BACKENDS)
            twin = next((t for t in twins if t), None)
            g = _gflops(twin, images_per_s, factor) if twin else None
        return g


def _header(records: list[dict], meta: dict) -> list[str]:
    machine = meta["machine"]
    batches = ", ".join(str(b) for b in sorted({r.get("batch", 16) for r in records}))
    lines = ["# ferzoo benchmarks", "", "Produced by `benchmarks/run.py`:", ""]
    lines += [f"    {command}" for command in meta["commands"]]
    processor = machine.get("processor")
    lines += [
        "",
        f"- Date: {meta['date']}",
        f"- Machine: {machine['nproc']} cores, {machine['cpu']}, {machine['mhz']:.0f} MHz, "
        f"{machine['ram_gib']:.1f} GiB RAM."
        + (f" GPU: {'; '.join(machine['gpus'])}." if machine.get("gpus") else ""),
    ]
    if processor:
        lines.append(
            f"- Processor (`ferzoo.runtime.cpu.processor()`): {processor['model']}, "
            f"{processor['cores']} cores for this process, vector extensions "
            f"{' '.join(processor['extensions']) or 'none found'} (level {processor['isa']})."
        )
    caps = sorted({r["cap"] for r in records if r.get("cap")})
    if caps:
        lines.append(
            "- Instruction-set cap (`--max-isa`): the runs marked with a cap ran "
            + "; ".join(describe_cap(c) for c in caps)
            + " (what each variable changes: results/cpu_isa.md)."
        )
    lines += [
        f"- FP32 peak, measured in this run: {machine['peak_gflops']:.0f} GFLOP/s "
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
        + " compute thread(s) per process (a limit also pins the process to that many cores); "
        "% of peak is against the peak of that many cores (CPU runs only).",
        "- Peak memory: the RSS high-water mark of the subprocess that ran the configuration "
        "(framework import, model, training and inference steps).",
        "",
    ]
    return lines


def _ratio_row(recs: _Records, model: str, size: int, variant: tuple) -> str | None:
    ref = recs.pick(REFERENCE, model, size, "", *variant)
    if ref is None:
        return None
    cells = []
    for backend in (b for b in BACKENDS if b in recs.order):
        r = recs.pick(backend, model, size, "", *variant)
        if r is None:
            cells.append("-")
            continue
        ratios = paired_ratios(recs.raw, backend, model, size, *variant)
        ratio = (
            statistics.median(ratios)
            if ratios
            else r["train_images_per_s"] / ref["train_images_per_s"]
        )
        spread = f" [{min(ratios):.2f}-{max(ratios):.2f}]" if len(ratios) > 1 else ""
        mark = "**" if backend == DEFAULT_BACKEND else ""
        cells.append(f"{_fmt(r['train_images_per_s'])} ({mark}{ratio:.2f}{mark}{spread})")
    return f"| {model} | {size} | {_fmt(ref['train_images_per_s'])} | " + " | ".join(cells) + " |"


def _ratios(recs: _Records) -> list[str]:
    lines = ["## ferzoo / hand-written PyTorch (training throughput)", ""]
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
    backends = [b for b in BACKENDS if b in recs.order]
    for precision, cap in recs.variants:
        if precision != "float32":  # the reference in PyTorch's AMP of the same 16-bit type
            lines += [f"Precision `{precision}` (the reference with AMP):", ""]
        if cap:
            lines += [f"The backends and the reference {describe_cap(cap)}:", ""]
        lines += [
            "| model | size | reference img/s | "
            + " | ".join(f"{b} img/s (ratio)" for b in backends)
            + " |",
            "|---|---|---|" + "---|" * len(backends),
        ]
        for model in REFERENCE_MODELS:
            for size in recs.sizes:
                row = _ratio_row(recs, model, size, (precision, cap))
                if row is not None:
                    lines.append(row)
        lines.append("")
    return lines


def _tables(recs: _Records, machine: dict, batches: str) -> list[str]:
    lines = []
    for label, precision, cap in recs.configs:
        parts = ([f"configuration `{label}`"] if label else []) + (
            [f"precision `{precision}`"] if precision != "float32" else []
        )
        parts += [describe_cap(cap)] if cap else []
        title = f" ({', '.join(parts)})" if parts else ""
        for section, measured, factor, header, row in _TABLES:
            header = [header[0].replace("(batch 16)", f"(batch {batches})"), *header[1:]]
            lines += [f"## {section}{title}", "", *header]
            for model in recs.models:
                for size in recs.sizes:
                    for backend in recs.order:
                        tag = "" if backend == REFERENCE else label
                        r = recs.pick(backend, model, size, tag, precision, cap)
                        if r is None or measured not in r:
                            continue
                        g = recs.gflops(r, r[measured], factor)
                        peak = _fmt(_percent_of_peak(g, r, machine))
                        lines.append(f"| {model} | {backend} | {size} | {row(r, _fmt(g), peak)} |")
            lines.append("")
    return lines


def write_report(records: list[dict], meta: dict, path_md: str) -> str:
    """Write bench.md from the records and the run metadata; return the markdown."""
    recs = _Records(records)
    batches = ", ".join(str(b) for b in sorted({r.get("batch", 16) for r in records}))
    lines = _header(records, meta) + _ratios(recs) + _tables(recs, meta["machine"], batches)
    if recs.failed:
        lines += ["## Failed runs", ""]
        for r in recs.failed:
            cap = f" ({describe_cap(r['cap'])})" if r.get("cap") else ""
            lines.append(f"- {r['backend']} {r['model']} {r['size']} px{cap}: {r['error']}")
        lines.append("")
    if os.path.exists(NOTES):
        with open(NOTES) as f:
            lines += [f.read().rstrip(), ""]
    text = "\n".join(lines)
    with open(path_md, "w") as f:
        f.write(text)
    return text


CSV_FIELDS = (
    "backend", "model", "size", "label", "precision", "cap", "device", "batch", "data_format",
    "jit_compile", "deterministic", "threads", "steps", "warmup", "train_images_per_s",
    "train_step_s", "first_train_step_s", "infer_images_per_s", "first_infer_s", "latency_ms",
    "first_latency_s", "peak_rss_mib", "macs", "params", "error",
)  # fmt: skip


def write_csv(records: list[dict], path: str) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for r in records:
            row = dict(r)
            row.update({k: (r.get("profile") or {}).get(k) for k in ("macs", "params")})
            writer.writerow(row)
