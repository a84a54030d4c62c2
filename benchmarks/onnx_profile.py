"""Where ONNX Runtime spends its time: its own profiler, per operator type and per node.

    python benchmarks/onnx_profile.py model.onnx --batch 1 --threads 2
    KERAS_BACKEND=tensorflow python benchmarks/onnx_profile.py --model msc_wca_resnet18 \\
        --size 224 --compare

With a file: runs it `--runs` times with `SessionOptions.enable_profiling` and prints the time
per run of each operator type and of the slowest nodes (with their input shapes). With
`--compare`: exports `--model` from Keras as Keras' `model.export(format="onnx")` writes it, with
only the stem's Pad folded into its max pool, and as `ferzoo export` writes it (all of
`ferzoo.serving.onnx_graph`'s rewrites), then times the three in one process, alternating,
with threads spinning and not, and profiles each. This is how the notes in results/inference.md were made.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def session(path: str, threads: int, spinning: bool, profile: bool = False):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tempfile.gettempdir(), "ferzoo-ort-profile")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _inputs(sess, batch: int):
    import numpy as np

    shape = [batch if not isinstance(d, int) else d for d in sess.get_inputs()[0].shape]
    return {sess.get_inputs()[0].name: np.random.default_rng(0).random(shape, dtype=np.float32)}


def profile(path: str, batch: int, threads: int, spinning: bool, runs: int) -> dict:
    """`{"ops": {op: ms per run}, "nodes": [(ms per run, op, node, input shapes)]}`."""
    sess = session(path, threads, spinning, profile=True)
    feed = _inputs(sess, batch)
    for _ in range(runs):
        sess.run(None, feed)
    with open(sess.end_profiling()) as f:
        events = json.load(f)
    ops: collections.Counter = collections.Counter()
    nodes: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        op = e["args"]["op_name"]
        shapes = [list(s.values())[0] for s in e["args"].get("input_type_shape", [])]
        ops[op] += e["dur"] / runs / 1000
        nodes[(op, e["name"][: -len("_kernel_time")], json.dumps(shapes[:2]))] += (
            e["dur"] / runs / 1000
        )
    return {
        "ops": dict(ops.most_common()),
        "nodes": [(ms, *key) for key, ms in nodes.most_common()],
        "total_ms": sum(ops.values()),
    }


def print_profile(name: str, result: dict, top: int) -> None:
    print(f"\n== {name}: {result['total_ms']:.1f} ms of kernels per run")
    for op, ms in list(result["ops"].items())[:top]:
        print(f"  {op:24s} {ms:8.2f} ms")
    print("  slowest nodes:")
    for ms, op, node, shapes in result["nodes"][:top]:
        print(f"  {ms:8.2f} ms  {op:12s} {node[-60:]:60s} {shapes}")


def paired(paths: dict[str, str], batch: int, threads: int, spinning: bool, rounds: int) -> dict:
    """Median ms per run of each file, timed in alternating rounds in this process."""
    sessions = {k: session(p, threads, spinning) for k, p in paths.items()}
    feeds = {k: _inputs(s, batch) for k, s in sessions.items()}
    times: dict[str, list[float]] = {k: [] for k in paths}
    for k, s in sessions.items():
        for _ in range(3):
            s.run(None, feeds[k])
    for r in range(rounds):
        for k in list(paths) if r % 2 == 0 else list(paths)[::-1]:
            start = time.perf_counter()
            for _ in range(5):
                sessions[k].run(None, feeds[k])
            times[k].append((time.perf_counter() - start) / 5 * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def export_variants(model: str, size: int, folder: str) -> dict[str, str]:
    """`model` at `size` px as Keras exports it (`keras`), with only the Pad folded
    (`keras+pad`), and as `ferzoo export` writes it (`ferzoo`: both rewrites)."""
    import keras
    import numpy as np
    import onnx

    import ferzoo
    from ferzoo.serving import onnx_graph
    from ferzoo.serving.export import export_model

    keras.utils.set_random_seed(0)
    net = ferzoo.build(model, num_classes=7, input_shape=(size, size, 3))
    net(np.zeros((1, size, size, 3), np.float32))
    raw = os.path.join(folder, f"{model}_{size}_keras.onnx")
    net.export(raw, format="onnx", verbose=False)
    graph = onnx.load(raw)
    onnx_graph.fold_pad_into_max_pool(graph)
    padded = os.path.join(folder, f"{model}_{size}_pad.onnx")
    onnx.save(graph, padded)
    ours = os.path.join(folder, f"{model}_{size}_ferzoo.onnx")
    export_model(net, ours, "onnx")
    return {"keras": raw, "keras+pad": padded, "ferzoo": ours}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", help="an .onnx file (or use --model with --compare)")
    parser.add_argument("--model", default="msc_wca_resnet18")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--compare", action="store_true")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--spinning", action="store_true")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}; batch {args.batch}, {args.threads} threads")
    if not args.compare:
        if not args.path:
            parser.error("give an .onnx file, or --compare")
        result = profile(args.path, args.batch, args.threads, args.spinning, args.runs)
        print_profile(args.path, result, args.top)
        return
    paths = export_variants(args.model, args.size, tempfile.mkdtemp(prefix="ferzoo-profile-"))
    for spinning in (True, False):
        times = paired(paths, args.batch, args.threads, spinning, args.rounds)
        shown = ", ".join(f"{k} {v:.1f} ms" for k, v in times.items())
        print(f"spinning={spinning}: {shown}")
    for name, path in paths.items():
        print_profile(name, profile(path, args.batch, args.threads, False, args.runs), args.top)


if __name__ == "__main__":
    main()
