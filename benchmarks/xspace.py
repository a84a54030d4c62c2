"""Read the profiles of TensorFlow and JAX (XSpace files) and XLA's optimized HLO text.

`tf.profiler.experimental.start/stop` and `jax.profiler.trace` both write
`<dir>/plugins/profile/<run>/<host>.xplane.pb`, an `XSpace` protocol buffer; its class ships
inside TensorFlow (`tensorflow.tsl.profiler.protobuf.xplane_pb2`), so reading one needs
TensorFlow installed (the JAX profile is read in a second process where JAX has no TensorFlow
of its own to lean on: `profile_step.py` does it after the profiled steps, in the same process,
importing TensorFlow's protobuf module only).

The host plane (`/host:CPU`) holds one line per thread and on it the events: on TensorFlow,
each op as `"<name>:<type>"` inside `ExecutorState::Process`; on JAX (XLA's thunk runtime),
each thunk inside `ThunkExecutor::Execute`, named after its HLO instruction and carrying the
stats `hlo_op`, `hlo_module` and `program_id`, which find the instruction in the HLO dump
(`--xla_dump_to`, file `module_<program_id>.<hlo_module>.cpu_after_optimizations.txt`).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

HOST_PLANE = "/host:CPU"


def find_xspace(folder: str) -> str:
    """The newest `*.xplane.pb` below `folder`."""
    found = sorted(glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True))
    if not found:
        raise FileNotFoundError(f"no *.xplane.pb below {folder!r}: did the profiler run?")
    return max(found, key=os.path.getmtime)


def host_events(path: str) -> list[list[tuple[int, int, str, dict]]]:
    """Per thread of the host plane: `(start_ps, end_ps, name, stats)` of every event."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2  # noqa: PLC0415

    space = xplane_pb2.XSpace()
    with open(path, "rb") as file:
        space.ParseFromString(file.read())
    planes = [plane for plane in space.planes if plane.name == HOST_PLANE]
    if not planes:
        names = [plane.name for plane in space.planes]
        raise ValueError(f"no {HOST_PLANE} plane in {path}. Received: planes={names}")
    plane = planes[0]
    stat_names = {key: meta.name for key, meta in plane.stat_metadata.items()}

    def value(stat):
        which = stat.WhichOneof("value")
        if which == "ref_value":
            return plane.stat_metadata[stat.ref_value].name
        return getattr(stat, which) if which else None

    threads = []
    for line in plane.lines:
        origin = line.timestamp_ns * 1000
        events = []
        for event in line.events:
            name = plane.event_metadata[event.metadata_id].name
            stats = {stat_names.get(s.metadata_id, "?"): value(s) for s in event.stats}
            start = origin + event.offset_ps
            events.append((start, start + event.duration_ps, name, stats))
        threads.append(events)
    return threads


@dataclasses.dataclass(frozen=True)
class Instruction:
    """One HLO instruction: its opcode, op_name, output dimensions and called computation, and
    for a convolution `detail`: its output shape, window and dim_labels, then its op_name."""

    opcode: str
    op_name: str
    dims: tuple[int, ...]
    calls: str | None
    detail: str = ""


_COMPUTATION = re.compile(r"^(?:ENTRY\s+)?%([\w.\-]+)\s.*\{\s*$")
_INSTRUCTION = re.compile(r"^\s*(?:ROOT\s+)?%([\w.\-]+) = (.*)$")
_OPCODE = re.compile(r"(?:^|[\s}])([a-z][a-z0-9\-]*)\(")
_DIMS = re.compile(r"^[a-z]+\d*\[([\d,]*)\]")


def parse_hlo(text: str) -> tuple[dict[str, Instruction], dict[str, list[str]]]:
    """`(instructions, computations)` of an HLO module's text.

    `instructions` maps every instruction name to its `Instruction`; `computations` maps each
    computation's name to the names of its instructions (a fusion's body is found through
    `Instruction.calls`).
    """
    instructions: dict[str, Instruction] = {}
    computations: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        head = _COMPUTATION.match(line)
        if head and " = " not in line.split("{")[0]:
            current = computations.setdefault(head.group(1), [])
            continue
        match = _INSTRUCTION.match(line)
        if not match:
            continue
        name, rest = match.groups()
        opcode = _OPCODE.search(rest)
        op_name = re.search(r'op_name="([^"]*)"', rest)
        calls = re.search(r"calls=%([\w.\-]+)", rest)
        dims = _DIMS.match(rest)
        instructions[name] = Instruction(
            opcode=opcode.group(1) if opcode else "?",
            op_name=op_name.group(1) if op_name else "",
            dims=tuple(int(d) for d in dims.group(1).split(",") if d) if dims else (),
            calls=calls.group(1) if calls else None,
            detail=_conv_detail(rest, op_name)
            if opcode and opcode.group(1) == "convolution"
            else "",
        )
        current.append(name)
    return instructions, computations


def _conv_detail(rest: str, op_name) -> str:
    shape = rest.split(" ", 1)[0].split("{", 1)[0]
    window = re.search(r"window=\{([^}]*)\}", rest)
    labels = re.search(r"dim_labels=([\w>-]+)", rest)
    where = op_name.group(1).removeprefix("jit(train_step)/") if op_name else "(no op_name)"
    parts = [shape, window.group(1) if window else "", labels.group(1) if labels else "", where]
    return " ".join(part for part in parts if part)


def thunk_body(
    name: str, instructions: dict[str, Instruction], computations: dict[str, list[str]]
) -> list[Instruction]:
    """The instructions a thunk runs: the instruction itself, or a fusion's body (recursively)."""
    top = instructions.get(name)
    if top is None:
        return []
    if top.calls is None or top.calls not in computations:
        return [top]
    body = []
    for inner in computations[top.calls]:
        body.extend(thunk_body(inner, instructions, computations) if inner != name else [])
    return body or [top]


def hlo_dump(folder: str, module: str, program_id: int | None) -> str:
    """The optimized HLO text of `module` (program `program_id`) in XLA's dump `folder`."""
    pattern = f"module_{program_id:04d}." if program_id is not None else "module_*."
    found = sorted(
        glob.glob(os.path.join(folder, f"{pattern}{module}.cpu_after_optimizations.txt"))
    )
    if not found:
        raise FileNotFoundError(
            f"no optimized HLO of {module!r} (program {program_id}) in {folder!r}: was "
            "XLA_FLAGS=--xla_dump_to set before JAX was imported, and was the step compiled "
            "(not loaded from a compilation cache)?"
        )
    with open(found[-1], encoding="utf-8") as file:
        return file.read()
