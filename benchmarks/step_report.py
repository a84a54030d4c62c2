"""results/step_profiles.md from a folder of `benchmarks/profile_step.py --json` records.

    python benchmarks/profile_step.py --report results/step_profiles --output results/step_profiles.md

One table per (ISA cap, model, image size): rows are the op kinds of `step_kinds.KINDS`,
columns the backends and the reference, each cell ms per step and % of that backend's step
(the median of its profiled steps). A section of the existing file headed `## What it says`
(the reading, written by hand) is kept as it is, at the end.
"""

from __future__ import annotations

import glob
import os

from benchmarks.step_kinds import KINDS

COLUMNS = ("tensorflow", "jax", "torch", "reference (torch)")
READING = "## What it says"
_ROWS = (
    "conv_forward",
    "conv_input_grad",
    "conv_filter_grad",
    "conv_both",
    "batch_norm",
    "attention",
    "elementwise",
    "optimizer",
    "overhead",
)
_LABELS = {**KINDS, "conv_both": "convolution gradients, both (sum of the two rows above)"}
HOW = (
    "How an op's kind is found (`benchmarks/step_kinds.py`). Each op counts for the wall time "
    "in which it was the innermost event of its thread, shared equally with the ops of other "
    "threads running at the same time, so the kinds add up to at most the step.",
    "",
    "- TensorFlow: op events `<scope>/<name>:<type>`; the type decides convolutions "
    "(`Conv2D`, `Conv2DBackpropInput`, `Conv2DBackpropFilter` and oneDNN's `_MklNative*`, "
    "`_MklFused*` forms) and batch norm (`FusedBatchNorm*`); other ops by the layer their "
    "scope names (Keras' Adam is plain ops under `adam/`).",
    "- JAX: XLA's thunk runtime names each event after its HLO instruction (stats `hlo_op`, "
    "`hlo_module`, `program_id`); the optimized module, dumped with `--xla_dump_to`, gives "
    "each instruction (or each instruction of a fusion) its `op_name`. `transpose(jvp(...))` "
    "marks the backward pass. A backward convolution whose output has the dimensions of a "
    "kernel (in any order: XLA picks its own layout, so dim_labels do not tell) is the filter "
    "gradient, any other the input gradient; XLA leaves most filter gradients it rewrites "
    "with no op_name, and the shape still tells. A `reverse` (the kernel flip of an input "
    "gradient, with its copies) is input gradient work. Other fusions go to the kind most of "
    "their instructions have.",
    "- torch (Keras on torch, and the reference): `aten::` ops by their own time; the "
    "attention layers' forward is marked with `record_function` (the reference's modules by "
    "hooks, Keras' layers by their `call`), their backward found through the autograd "
    "sequence numbers, the Keras optimizer's `apply` marked too.",
)


def load(folder: str) -> list[dict]:
    """The records in `folder` (`*.json`), in a stable order."""
    from ferzoo.files import read_json  # noqa: PLC0415

    paths = sorted(glob.glob(os.path.join(folder, "*.json")))
    if not paths:
        raise ValueError(f"no *.json record in the report folder. Received: {folder!r}")
    return [read_json(path) for path in paths]


def split_kinds(record: dict) -> tuple[dict[str, float], bool]:
    """The record's kinds with torch's unsplit gradients shared out by oneDNN's log.

    Returns `(kinds, estimated)`: `estimated` says that the input and filter gradient rows
    are an estimate (torch's one op, split in the proportion oneDNN timed its two primitives).
    """
    kinds = dict(record["kinds_ms"])
    grads = kinds.pop("conv_grads", 0.0)
    split = record.get("onednn_split")
    estimated = False
    if grads and split and sum(split.values()):
        share = split["backward_data"] / sum(split.values())
        kinds["conv_input_grad"] += share * grads
        kinds["conv_filter_grad"] += (1 - share) * grads
        estimated = True
    elif grads:
        kinds["conv_input_grad"] = float("nan")
        kinds["conv_filter_grad"] = float("nan")
    both = kinds["conv_input_grad"] + kinds["conv_filter_grad"]
    kinds["conv_both"] = grads if grads and not estimated else both
    return kinds, estimated


def _cell(ms: float, wall: float, estimated: bool = False) -> str:
    if ms != ms:  # NaN: not split
        return "n/a"
    mark = "~" if estimated else ""
    return f"{mark}{ms:.1f} ({100 * ms / wall:.0f} %)"


def table(records: list[dict]) -> list[str]:
    """The markdown table of one (cap, model, size): records of several backends."""
    by_backend = {r["backend"]: r for r in records}
    columns = [c for c in COLUMNS if c in by_backend]
    lines = [
        "| ms per step (% of the step) | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    reference = by_backend.get("reference (torch)")
    wall = [f"**{by_backend[c]['step_median_ms']:.0f}**" for c in columns]
    lines.append("| step wall time, profiled (median) | " + " | ".join(wall) + " |")
    if reference:
        ratio = [
            f"{by_backend[c]['step_median_ms'] / reference['step_median_ms']:.2f}x" for c in columns
        ]
        lines.append("| step time / reference's | " + " | ".join(ratio) + " |")
    for row in _ROWS:
        cells = []
        for c in columns:
            kinds, estimated = split_kinds(by_backend[c])
            mark = estimated and row in ("conv_input_grad", "conv_filter_grad")
            cells.append(_cell(kinds[row], by_backend[c]["step_median_ms"], mark))
        lines.append(f"| {_LABELS[row]} | " + " | ".join(cells) + " |")
    unprofiled = []
    for c in columns:
        after_first = sorted(by_backend[c]["warmup_s"][1:]) or by_backend[c]["warmup_s"]
        unprofiled.append(f"{1000 * after_first[len(after_first) // 2]:.0f}")
    lines.append("| step wall time, not profiled (warm-up steps after the first) | ")
    lines[-1] += " | ".join(unprofiled) + " |"
    return lines


def _group_key(record: dict) -> tuple:
    return (record.get("cap") or "", record["model"], record["size"])


def render(records: list[dict], reading: str = "") -> str:
    """The whole results/step_profiles.md text."""
    first = records[0]
    cpu = first["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(first["versions"].items()))
    dates = sorted({r["date"] for r in records})
    out = [
        "# Where the time of a training step goes (issue 31)",
        "",
        "`benchmarks/profile_step.py`: one training step of batch 16 (Adam, the step "
        "`ferzoo.train` compiles), profiled per op and summed by kind of op, on each Keras "
        "backend and the hand-written PyTorch reference (`benchmarks/reference_torch.py`). "
        "Each cell is ms per step and % of that backend's step (median of the profiled steps); "
        "overhead is the step's wall time less the ops' time (host dispatch, Python, waits). "
        "`~`: torch computes both convolution gradients in one op (`aten::convolution_backward`); "
        "the two rows share its time in the proportion oneDNN's own log timed its backward_data "
        "and backward_weights primitives in one more step.",
        "",
        f"Machine: {cpu.get('model', '?')}, {cpu.get('cores', '?')} cores, "
        f"{' '.join(cpu.get('extensions', []))}. Versions: {versions}. "
        f"Dates: {dates[0]} to {dates[-1]}.",
        "",
        *HOW,
        "",
    ]
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault(_group_key(record), []).append(record)
    order = sorted(groups, key=lambda key: (key[0], len(key[1]), key[1], key[2]))
    for cap, model, size in order:
        group = groups[cap, model, size]
        title = f"## {model}, {size} px" + (f", capped at {cap.upper()}" if cap else "")
        steps = group[0]["steps"]
        warmup = group[0]["warmup"]
        out += [title, "", f"{warmup} warm-up steps, then {steps} profiled.", ""]
        out += table(group) + [""]
        # torch's unsplit gradients are explained once, above the tables
        notes = {n for r in group for n in r.get("notes", []) if not n.startswith("torch:")}
        notes = sorted(n for n in notes if "oneDNN" not in n)
        out += [f"- {note}" for note in notes] + ([""] if notes else [])
    out += ["## Commands", "", "```"]
    out += sorted({r["command"] for r in records}) + ["```", ""]
    if reading:
        out += [reading.rstrip(), ""]
    return "\n".join(out)


def write_report(folder: str, output: str) -> None:
    """Write `render(load(folder))` to `output`, keeping its hand-written reading."""
    from ferzoo.files import write_text  # noqa: PLC0415

    reading = ""
    if os.path.exists(output):
        with open(output, encoding="utf-8") as file:
            text = file.read()
        if READING in text:
            reading = text[text.index(READING) :]
    write_text(output, render(load(folder), reading))
    print(f"wrote {output}")
