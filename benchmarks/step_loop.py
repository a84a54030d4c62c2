"""Data on the device and steps per call: one `ferzoo.train` epoch of resnet18 per variant.

    KERAS_BACKEND=tensorflow python benchmarks/step_loop.py --output results/step_loop.md
    KERAS_BACKEND=jax python benchmarks/step_loop.py --output results/step_loop.md --append
    KERAS_BACKEND=torch python benchmarks/step_loop.py --output results/step_loop.md --append

Per image size, `ferzoo.train` runs one epoch of `--model` on `--dataset` in each variant:
the host gathers uint8 batches (`--data-on-device off`), the step gathers them from the images
held on the device (`on`), and, on TensorFlow and JAX, `on` with `--steps` training steps per
Python call (`--steps-per-execution`; PyTorch's Keras trainer runs one). The variants run in
turn, then again in the reverse order, in one process (`--repeats`); the table keeps each
variant's best training rate: images/s of the epoch's steps after the first call (which
compiles), and the compile, steps, validation and wall seconds of that epoch. A benchmark,
not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.data_pipeline import common_arguments, cpu_model, write_page  # noqa: E402


def variants(steps: int, backend: str) -> list[tuple[str, int]]:
    """`(data_on_device, steps_per_execution)` pairs this backend runs."""
    out = [("off", 1), ("on", 1)]
    return out + ([("on", steps)] if backend != "torch" and steps > 1 else [])


def run_epoch(args, size: int, where: str, steps: int) -> dict:
    """One epoch's timings and its training rate (images/s after the first call)."""
    import ferzoo

    with tempfile.TemporaryDirectory() as out:
        result = ferzoo.train(args.model, args.dataset, image_size=size, epochs=1,
                              batch_size=args.batch_size, data_dir=args.data_dir,
                              output_dir=out, verbose=0, evaluate_test=False, checkpoint=False,
                              data_on_device=where, steps_per_execution=steps)  # fmt: skip
        with open(os.path.join(out, "config.json")) as f:
            train = json.load(f)["data_sizes"]["train"]
    timings = dict(result.timings)
    timed = max(0, train - steps * args.batch_size)
    timings["rate"] = timed / timings["steps"] if timings["steps"] > 0 else 0.0
    return timings


def measure(args, size: int, backend: str) -> dict:
    """`{variant: best timings}` at one size (variants in turn, then reversed)."""
    best: dict[tuple[str, int], dict] = {}
    order = variants(args.steps, backend)
    for repeat in range(args.repeats):
        for variant in order if repeat % 2 == 0 else order[::-1]:
            timings = run_epoch(args, size, *variant)
            if variant not in best or timings["rate"] > best[variant]["rate"]:
                best[variant] = timings
    return best


def report(args, rows: dict[int, dict], backend: str) -> str:
    from ferzoo.files import markdown_table

    head = ["size", "data on device", "steps per call", "training images/s", "vs off, 1",
            "compile s", "steps s", "validation s", "wall s"]  # fmt: skip
    cells = []
    for size, best in rows.items():
        base = best["off", 1]["rate"]
        for (where, steps), t in best.items():
            cells.append([f"{size} px", where, str(steps), f"{t['rate']:,.1f}",
                          f"{t['rate'] / base:.2f}x" if base else "-", f"{t['compile']:.1f}",
                          f"{t['steps']:.1f}", f"{t['validation']:.1f}", f"{t['wall']:.1f}"])  # fmt: skip
    command = "python benchmarks/step_loop.py " + " ".join(sys.argv[1:])
    return "\n".join([
        f"## {backend}",
        "",
        f"Command: `KERAS_BACKEND={backend} {command}`; machine: {cpu_model()}; date: "
        f"{datetime.date.today().isoformat()}. One `ferzoo.train` epoch of {args.model} on "
        f"`{args.dataset}`, batch {args.batch_size}, each variant best of {args.repeats} "
        "(in turn, then reversed).",
        "",
        *markdown_table(head, cells),
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--steps", type=int, default=4, help="steps per call of the third run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant")
    args = parser.parse_args(argv)
    from ferzoo.runtime import logs

    logs.quiet_backends()
    import keras

    backend = keras.backend.backend()
    rows = {int(s): measure(args, int(s), backend) for s in args.sizes.split(",")}
    page = report(args, rows, backend)
    print(page)
    write_page(args, "Data on the device and steps per call (issue 18)", page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
