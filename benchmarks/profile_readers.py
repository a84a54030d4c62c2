"""The three profilers of `benchmarks/profile_step.py`: run the profiled steps, name each op's kind.

Each `profile_<backend>(step, steps, model, work_dir, args)` returns `(times, op_ms, notes)`:
the wall time of each profiled step (seconds), `(kind, op) -> ms per step` (the op's share of
the wall clock, `step_kinds.apportion`), and notes on what could not be told apart.
"""

from __future__ import annotations

import collections
import os
import re
import tempfile
import time

from benchmarks import step_kinds, xspace

_TF_OP = re.compile(r"^[^\s:]+:(\w+)$")
_SCOPE_ATTENTION = "scope::attention"
_SCOPE_OPTIMIZER = "scope::optimizer"


def layer_parts(model) -> tuple[dict[str, str], dict[str, tuple[int, ...]]]:
    """`(parts, kernels)` of a Keras model: layer name -> part, layer name -> kernel shape.

    A part is `"batch_norm"` (Keras' BatchNormalization), `"attention"` (ferzoo's own layers:
    wavelet channel attention, Morlet activation, the multi-scale stem, and whatever they hold),
    `"other"`, and the optimizer's name is `"optimizer"`.
    """
    import keras  # noqa: PLC0415

    parts, kernels = {}, {}
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            parts[layer.name] = "batch_norm"
        elif type(layer).__module__.startswith("ferzoo.layers"):
            parts[layer.name] = "attention"
            for inner in layer._flatten_layers(include_self=False, recursive=True):
                parts.setdefault(inner.name, "other")
        else:
            parts.setdefault(layer.name, "other")
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 4:
            kernels[layer.name] = tuple(int(d) for d in kernel.shape)
    if getattr(model, "optimizer", None) is not None:
        parts[model.optimizer.name] = "optimizer"
    return parts, kernels


def timed(step, count: int) -> list[float]:
    times = []
    for _ in range(count):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return times


def _per_step(totals: dict, steps: int, unit_ms: float) -> dict:
    return {label: value * unit_ms / steps for label, value in totals.items()}


def profile_tensorflow(step, steps: int, model, work_dir: str, args):
    """TensorFlow's profiler: op events `"<scope>/<name>:<type>"` on the executor's threads."""
    import tensorflow as tf  # noqa: PLC0415

    parts, _ = layer_parts(model)
    log_dir = os.path.join(work_dir, "tf")
    options = tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0)
    tf.profiler.experimental.start(log_dir, options=options)
    try:
        times = timed(step, steps)
    finally:
        tf.profiler.experimental.stop()
    threads = []
    for events in xspace.host_events(xspace.find_xspace(log_dir)):
        labelled = []
        for start, end, name, _ in events:
            match = _TF_OP.match(name)
            label = (step_kinds.tf_kind(name, parts), match.group(1), name) if match else None
            labelled.append((start, end, label))
        threads.append(labelled)
    return times, _per_step(step_kinds.apportion(threads), steps, 1e-9), []


def profile_jax(step, steps: int, model, work_dir: str, args):
    """JAX's profiler: XLA's thunks, found in the optimized HLO by their instruction's name."""
    import jax  # noqa: PLC0415

    parts, kernels = layer_parts(model)
    log_dir = os.path.join(work_dir, "jax")
    options = jax.profiler.ProfileOptions()
    options.python_tracer_level = 0
    options.host_tracer_level = 2
    with jax.profiler.trace(log_dir, profiler_options=options):
        times = timed(step, steps)
    op_ms, notes = read_jax(log_dir, os.path.join(work_dir, "hlo"), parts, kernels, args.batch)
    return times, _per_step(op_ms, steps, 1e-9), notes


def read_jax(log_dir: str, hlo_dir: str, parts: dict, kernels: dict, batch: int):
    """`(label -> ps over all steps, notes)` of a JAX profile, with XLA's dump in `hlo_dir`."""
    modules: dict = {}
    notes: set[str] = set()
    threads = []
    for events in xspace.host_events(xspace.find_xspace(log_dir)):
        labelled = []
        for start, end, _, stats in events:
            label = None
            if "hlo_op" in stats:
                label = _thunk_label(stats, modules, parts, kernels, hlo_dir, batch, notes)
            labelled.append((start, end, label))
        threads.append(labelled)
    return step_kinds.apportion(threads), sorted(notes)


def _thunk_label(stats, modules, parts, kernels, hlo_dir, batch, notes):
    module, program = stats.get("hlo_module", "?"), stats.get("program_id")
    key = (module, program)
    if key not in modules:
        try:
            text = xspace.hlo_dump(hlo_dir, module, program)
        except FileNotFoundError:
            notes.add(f"no HLO dump of {module} (program {program}): its thunks are 'elementwise'")
            modules[key] = None
        else:
            modules[key] = xspace.parse_hlo(text)
    op = str(stats["hlo_op"])
    short = re.sub(r"\.\d+$", "", op)
    if modules[key] is None:
        return ("elementwise", f"{module}:{short}")
    instructions, computations = modules[key]
    body = xspace.thunk_body(op, instructions, computations)
    convs = [i for i in body if i.opcode == "convolution"]
    kind = step_kinds.hlo_kind(
        [(i.opcode, i.op_name) for i in body],
        parts,
        batch=batch,
        kernels=kernels,
        conv=(convs[0].dims, convs[0].op_name) if convs else None,
    )
    named = [i.op_name for i in body if i.op_name]
    where = f"{op}: {convs[0].detail}" if convs else f"{op}: {named[-1] if named else ''}"
    return (kind, short, where)


def profile_torch(step, steps: int, model, work_dir: str, args):
    """torch.profiler: `aten::` ops by their self time, scoped by the events around them."""
    from torch.profiler import ProfilerActivity  # noqa: PLC0415
    from torch.profiler import profile as torch_profile  # noqa: PLC0415

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        times = timed(step, steps)
    events = list(prof.events())
    scoped = set()
    for event in events:
        if event.sequence_nr >= 0 and _SCOPE_ATTENTION in _chain(event):
            scoped.add(event.sequence_nr)
    threads = collections.defaultdict(list)
    for event in events:
        label = None
        if event.name.startswith("aten::"):
            chain = _chain(event)
            attention = any(_backward_of(e, scoped) for e in _ancestors(event))
            label = (step_kinds.torch_kind(chain, attention), event.name)
        threads[event.thread].append((event.time_range.start, event.time_range.end, label))
    notes = [
        "torch: aten::convolution_backward computes the input and the filter gradient in one "
        "op with no child event for either: its time is the 'not split' row (the report shares "
        "it out by oneDNN's log of one more step, where there is one)"
    ]
    return times, _per_step(step_kinds.apportion(threads.values()), steps, 1e-3), notes


def _ancestors(event):
    while event is not None:
        yield event
        event = event.cpu_parent


def _chain(event) -> list[str]:
    return [e.name for e in _ancestors(event)]


def _backward_of(event, scoped: set[int]) -> bool:
    return (
        event.name.startswith("autograd::engine::evaluate_function") and event.sequence_nr in scoped
    )


def install_scopes(backend: str, model):
    """Mark the attention layers' forward and the optimizer on torch; returns the undo."""
    if backend not in ("torch", "reference"):
        return lambda: None
    from torch.autograd.profiler import record_function  # noqa: PLC0415

    if backend == "reference":
        from benchmarks.reference_torch import MultiScaleConv, WaveletChannelAttention  # noqa

        handles, open_scopes = [], []
        for module in model.modules():
            if isinstance(module, MultiScaleConv | WaveletChannelAttention):
                handles.append(module.register_forward_pre_hook(_enter(open_scopes)))
                handles.append(module.register_forward_hook(_leave(open_scopes)))
        return lambda: [handle.remove() for handle in handles]
    parts, _ = layer_parts(model)
    wrapped = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if parts.get(layer.name) == "attention" and "call" not in vars(layer):
            layer.call = _scoped(layer.call, _SCOPE_ATTENTION, record_function)
            wrapped.append(layer)
    optimizer = model.optimizer
    optimizer.apply = _scoped(optimizer.apply, _SCOPE_OPTIMIZER, record_function)

    def undo():
        for layer in wrapped:
            del layer.call
        del optimizer.apply

    return undo


def _scoped(function, name, record_function):
    def call(*args, **kwargs):
        with record_function(name):
            return function(*args, **kwargs)

    return call


def _enter(open_scopes):
    from torch.autograd.profiler import record_function  # noqa: PLC0415

    def hook(module, inputs):
        scope = record_function(_SCOPE_ATTENTION)
        scope.__enter__()
        open_scopes.append(scope)

    return hook


def _leave(open_scopes):
    def hook(module, inputs, outputs):
        open_scopes.pop().__exit__(None, None, None)

    return hook


_ONEDNN_EXEC = re.compile(r"^onednn_verbose,.*?exec,cpu,convolution,[^,]*,(backward_\w+),")


def onednn_split(step) -> dict | None:
    """oneDNN's own timing of one more step's convolution primitives: backward_data (the input
    gradient) against backward_weights (the filter gradient), in ms; None where none ran."""
    import torch  # noqa: PLC0415

    with tempfile.TemporaryFile(mode="w+") as capture:
        saved = os.dup(1)
        try:
            os.dup2(capture.fileno(), 1)
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                step()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        text = capture.read()
    split = {"backward_data": 0.0, "backward_weights": 0.0}
    for line in text.splitlines():
        match = _ONEDNN_EXEC.match(line)
        if match and match.group(1) in split:
            split[match.group(1)] += float(line.rsplit(",", 1)[1])
    return split if any(split.values()) else None


def split_note(split: dict | None) -> str:
    if split is None:
        return "oneDNN logged no backward convolution: the gradients stay one row"
    data, weights = split["backward_data"], split["backward_weights"]
    return (
        f"oneDNN's log of one more step: backward_data {data:.1f} ms, backward_weights "
        f"{weights:.1f} ms ({100 * data / (data + weights):.0f} % input gradient)"
    )
