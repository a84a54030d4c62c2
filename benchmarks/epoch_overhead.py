"""Per-epoch overhead of `ferzoo.train`: epoch time against the sum of its training steps.

    python benchmarks/epoch_overhead.py                          # resnet18 at 48 and 224 px
    python benchmarks/epoch_overhead.py --sizes 48 --epochs 3 --output results/epoch_overhead.md

Each run trains resnet18 on synthetic_faces (the full 1,008 images, paper split: 806 training
images) with ferzoo's default recipe and checkpoints. A callback times every training step; the
epoch's own time comes from `ferzoo.train`'s history (`epoch_time`). The overhead is the epoch
time minus the steps: validation, the checkpoint (the weights and the optimizer state once, the
kept weights when they improve), the history and the callbacks. The first epoch (compilation)
is left out. The target (issue 11) is an overhead under 10 % of the training time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _step_timer():
    import keras

    class StepTimer(keras.callbacks.Callback):
        """The seconds of each training step, per epoch."""

        def __init__(self):
            super().__init__()
            self.steps: list[list[float]] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.steps.append([])

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.steps[-1].append(time.perf_counter() - self._start)

    return StepTimer()


def measure(size: int, epochs: int, data_dir: str | None, work: str) -> dict:
    """One run: the median epoch time, the median sum of steps, the overhead, per epoch 2..N."""
    import keras

    from ferzoo.training import train

    keras.backend.clear_session()
    timer = _step_timer()
    result = train("resnet18", "synthetic_faces", image_size=size, epochs=epochs,
                   batch_size=16, data_dir=data_dir, output_dir=os.path.join(work, str(size)),
                   callbacks=[timer], evaluate_test=False, resume=False, augment=0.0,
                   verbose=0)  # fmt: skip
    epoch_times = result.history["epoch_time"][1:]
    step_sums = [sum(s) for s in timer.steps[1:]]
    overheads = [e - s for e, s in zip(epoch_times, step_sums, strict=True)]
    ckpt = os.path.join(work, str(size), "checkpoints")
    ckpt_bytes = sum(os.path.getsize(os.path.join(ckpt, f)) for f in os.listdir(ckpt))
    return {
        "size": size,
        "epoch_s": statistics.median(epoch_times),
        "steps_s": statistics.median(step_sums),
        "overhead_s": statistics.median(overheads),
        "overhead_pct": 100
        * statistics.median(o / s for o, s in zip(overheads, step_sums, strict=True)),  # fmt: skip
        "steps": len(timer.steps[-1]),
        "checkpoint_mib": ckpt_bytes / 2**20,
        "weights_mib": 4 * result.profile["params"] / 2**20,
    }


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo), else the platform's machine type."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def report(rows: list[dict], command: str) -> str:
    import keras

    from ferzoo.files import markdown_table

    lines = [
        "# Per-epoch overhead of ferzoo.train",
        "",
        f"`{command}`: {datetime.date.today()}, {cpu_model()} "
        f"({os.cpu_count()} cores), keras {keras.__version__} ({keras.backend.backend()}).",
        "resnet18 on synthetic_faces (paper split, 806 training images), batch 16; medians of "
        "epochs 2 to N. Overhead = epoch time - the sum of its training steps (validation, "
        "checkpoint, history).",
        "",
    ]
    header = ["size", "steps/epoch", "epoch s", "steps s", "overhead s", "overhead % of steps",
              "checkpoints/ MiB", "float32 weights MiB"]  # fmt: skip
    cells = [
        [r["size"], r["steps"], f"{r['epoch_s']:.2f}", f"{r['steps_s']:.2f}",
         f"{r['overhead_s']:.2f}", f"{r['overhead_pct']:.1f}", f"{r['checkpoint_mib']:.0f}",
         f"{r['weights_mib']:.0f}"]
        for r in rows
    ]  # fmt: skip
    return "\n".join(lines + markdown_table(header, cells, right=True)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[48, 224])
    parser.add_argument("--epochs", type=int, default=3, help="at least 2 (the first is left out)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output", default=None, help="write the markdown table here")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first epoch is left out)")
    sys.path.insert(0, ROOT)
    with tempfile.TemporaryDirectory(prefix="ferzoo-overhead-") as work:
        rows = [measure(size, args.epochs, args.data_dir, work) for size in args.sizes]
    text = report(rows, "python benchmarks/epoch_overhead.py " + " ".join(argv or sys.argv[1:]))
    print(text)
    if args.output:
        from ferzoo import files

        files.write_text(args.output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
