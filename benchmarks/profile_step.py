"""Op breakdown of one training step with torch.profiler: Keras on torch vs the hand-written model.

    KERAS_BACKEND=torch python benchmarks/profile_step.py --model resnet18 --size 96
    KERAS_BACKEND=torch python benchmarks/profile_step.py --model resnet18 --size 96 --plain-keras
    python benchmarks/profile_step.py --reference --model resnet18 --size 96

Prints the ops that take the most self CPU time over `--steps` steps (after one warm-up step),
grouped into convolution, batch norm, element-wise/copies and the optimizer, so the gap between
ferzoo and the reference can be read off (results/bench.md quotes the output).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

GROUPS = {
    "convolution": ("conv", "mkldnn_convolution"),
    "batch norm": ("batch_norm",),
    "copies / layout": (
        "copy_",
        "contiguous",
        "clone",
        "permute",
        "to_copy",
        "pad",
        "constant_pad",
    ),
    "optimizer": ("adam", "_foreach", "lerp", "addcdiv", "sqrt"),
}


def _group(name: str) -> str:
    lowered = name.lower()
    for group, keys in GROUPS.items():
        if any(k in lowered for k in keys):
            return group
    return "other"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--reference", action="store_true")
    parser.add_argument(
        "--plain-keras",
        action="store_true",
        help="Keras' own layers, without ferzoo.runtime.performance.optimize (fused BN, native convs)",
    )
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    import torch
    from torch.profiler import ProfilerActivity, profile

    rng = np.random.default_rng(0)
    if args.reference:
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from benchmarks.reference_torch import build_reference

        net = build_reference(args.model).to(memory_format=torch.channels_last)
        opt = torch.optim.Adam(net.parameters(), 1e-3)
        x = torch.rand(16, 3, args.size, args.size).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 7, (16,))

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.nll_loss(torch.log(net(x).clamp(1e-7, 1 - 1e-7)), y)
            loss.backward()
            opt.step()
    else:
        import keras

        import ferzoo
        from ferzoo.evaluation.losses import loss_for
        from ferzoo.runtime import performance

        if keras.backend.backend() != "torch":
            raise ValueError("Run with KERAS_BACKEND=torch (torch.profiler sees torch ops only).")
        model = ferzoo.build(args.model, input_shape=(args.size, args.size, 3))
        if not args.plain_keras:
            print("ferzoo.runtime.performance.optimize:", performance.optimize(model))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss_for(model))
        x = rng.random((16, args.size, args.size, 3), dtype=np.float32)
        y = rng.integers(0, 7, 16)

        def step():
            model.train_on_batch(x, y)

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    groups: dict[str, float] = {}
    for e in events:
        groups[_group(e.key)] = groups.get(_group(e.key), 0.0) + e.self_cpu_time_total
    print(f"total self CPU per step: {total / args.steps / 1e6:.3f} s")
    for group, t in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:16s} {t / args.steps / 1e6:7.3f} s  {100 * t / total:5.1f} %")
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.top))


if __name__ == "__main__":
    main()
