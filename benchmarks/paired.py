"""Two speed settings of one model, timed in one process with alternating training steps.

    KERAS_BACKEND=torch python benchmarks/paired.py --model resnet18 --size 96 \\
        --a native_conv=false --b native_conv=true
    KERAS_BACKEND=jax python benchmarks/paired.py --precision mixed_bfloat16 --a jit_compile=false

On a shared or virtual machine the speed of a whole process drifts by 10 to 50 % from one run
to the next (results/bench.md), which hides a 10 % change between two `benchmarks/worker.py`
runs. Here both models live in the same process and their training steps alternate (A B, B A,
...), so drift hits both alike; the speed-up is the median over the pairs of A's step time
over B's, with the range of the pairs. `--a`/`--b` are `ferzoo.runtime.performance.resolve` overrides
(`fuse_batch_norm`, `native_conv`, `jit_compile`: true/false/auto); the rest of the
configuration is ferzoo's default on the current backend; `--precision` sets the dtype policy of
both (`ferzoo.runtime.precision`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BATCH = 16
_VALUES = {"true": True, "false": False, "auto": "auto"}


def parse_settings(text: str) -> dict:
    """`"native_conv=false,fuse_batch_norm=true"` -> `{"native_conv": False, ...}`."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in ("fuse_batch_norm", "native_conv", "jit_compile"):
            raise ValueError(
                "settings must be key=value with key in fuse_batch_norm, native_conv, "
                f"jit_compile. Received: {item!r}"
            )
        if value.lower() not in _VALUES:
            raise ValueError(f"{key} must be true, false or auto. Received: {key}={value!r}")
        out[key] = _VALUES[value.lower()]
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--a", default="", help="resolve overrides of A, e.g. native_conv=false")
    parser.add_argument("--b", default="", help="resolve overrides of B")
    parser.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "mixed_float16", "mixed_bfloat16", "auto"),
        help="dtype policy of both models (ferzoo.runtime.precision)",
    )
    args = parser.parse_args(argv)
    settings_a, settings_b = parse_settings(args.a), parse_settings(args.b)

    if ROOT not in sys.path:  # run as `python benchmarks/paired.py`
        sys.path.insert(0, ROOT)
    from benchmarks.worker import build_compiled
    from ferzoo.runtime import performance, precision

    # Process-wide settings as ferzoo.train has them (TF op determinism), shared by A and B.
    performance.apply_runtime_settings(deterministic=performance.resolve()["deterministic"])
    policy = precision.resolve(args.precision)
    models = []
    for overrides in (settings_a, settings_b):
        model, switched, images, labels = build_compiled(
            args.model, args.size, performance.resolve(**overrides), policy
        )
        models.append((model, switched))
    for model, _ in models:  # tracing, compilation, allocator warm-up
        model.train_on_batch(images, labels)
        model.train_on_batch(images, labels)
    times: list[list[float]] = [[], []]
    for i in range(args.pairs):
        for which in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter()
            models[which][0].train_on_batch(images, labels)
            times[which].append(time.perf_counter() - start)
    ratios = [a / b for a, b in zip(times[0], times[1], strict=True)]
    record = {
        "backend": performance.resolve()["backend"],
        "model": args.model,
        "size": args.size,
        "precision": policy,
        "a": args.a,
        "b": args.b,
        "a_switched": models[0][1],
        "b_switched": models[1][1],
        "a_step_s": statistics.median(times[0]),
        "b_step_s": statistics.median(times[1]),
        "speedup_b_over_a": statistics.median(ratios),
        "speedup_min": min(ratios),
        "speedup_max": max(ratios),
    }
    print(
        f"{record['backend']} {args.model} {args.size}px: A ({args.a or 'default'}) "
        f"{record['a_step_s']:.3f} s/step, B ({args.b or 'default'}) {record['b_step_s']:.3f} "
        f"s/step; B is {record['speedup_b_over_a']:.2f}x A (pairs {min(ratios):.2f} to "
        f"{max(ratios):.2f})"
    )
    print(json.dumps(record))
    return record


if __name__ == "__main__":
    main()
