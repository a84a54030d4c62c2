"""Can ferzoo's data path keep a model fed? Images/s of each path beside resnet18's training.

    python benchmarks/data_pipeline.py --sizes 48,112 --output results/data_pipeline.md
    # then, in a venv without TensorFlow (only the data source and NumPy paths exist there):
    KERAS_BACKEND=torch python benchmarks/data_pipeline.py --output results/data_pipeline.md --append

Per image size, on the training part of `--dataset` (paper protocol):

- the one-time read of every image into memory (decode, crop to the face box, resize), through
  tf.data (TFRecord shards; needs TensorFlow) and through TFDS's data source (the ArrayRecord
  copy; no TensorFlow): images/s over the whole dataset, the second of two reads;
- the batches `model.fit` gets from the in-memory images: tf.data, and the NumPy
  `keras.utils.PyDataset` (iterated through Keras' own PyDataset adapter, with its worker
  threads, as `fit` does), as float32 in [0, 1] (what `ferzoo.data.load`'s users get) and as
  uint8 (what `ferzoo.train` fits on: conversion and augmentation happen on the device, in the
  step; issue 18): the fastest of `--passes` full passes after a warm-up pass;
- resnet18's training images/s at that size and batch size (`ferzoo.build`, ferzoo's speed
  settings, Adam), from `--steps` timed `train_on_batch` steps after two warm-up steps.

The pipeline and the model are timed apart, each with all the CPU it can take; in training they
share it. A benchmark, not a test: it asserts nothing. The datasets are prepared (with their
ArrayRecord copy) on first use, which needs TensorFlow.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cpu_model() -> str:
    """lscpu's model name, and the CPU count."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines()
                    if line.startswith("Model name"))  # fmt: skip
    except (OSError, subprocess.SubprocessError, StopIteration):
        name = platform.processor() or "?"
    return f"{name}, {os.cpu_count()} CPUs"


def time_reads(found, cols, size: int, readers: list[str]) -> dict[str, float]:
    """Images/s of the one-time read into memory, per reader (the second of two reads)."""
    from ferzoo.data import readers as data_readers

    out = {}
    for reader in readers:
        data_readers.read_images(found, cols, size, True, reader)  # warm: imports, file cache
        start = time.perf_counter()
        data_readers.read_images(found, cols, size, True, reader)
        out[reader] = len(cols.ids) / (time.perf_counter() - start)
    return out


def _one_pass(batches, pipeline: str) -> float:
    start = time.perf_counter()
    if pipeline == "tf.data":
        for _ in batches:
            pass
    else:  # as model.fit reads a PyDataset: Keras' adapter, with the worker threads
        from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

        adapter = PyDatasetAdapter(batches, shuffle=False)
        adapter.on_epoch_begin()
        for _ in adapter.get_numpy_iterator():
            pass
        adapter.on_epoch_end()
    return time.perf_counter() - start


def time_batches(part, pipeline: str, raw: bool, batch_size: int, passes: int) -> float:
    """Images/s of full passes over a training part (the fastest, after a warm-up pass)."""
    from ferzoo.data.batching import make_batches

    batches = make_batches(pipeline, part.images, part.labels, batch_size=batch_size,
                           train=True, seed=0, raw=raw)  # fmt: skip
    _one_pass(batches, pipeline)
    return len(part) / min(_one_pass(batches, pipeline) for _ in range(passes))


def time_model(size: int, num_classes: int, batch_size: int, steps: int) -> float:
    """resnet18's training images/s (train_on_batch, after two warm-up steps)."""
    import keras

    import ferzoo
    from ferzoo import performance
    from ferzoo.losses import loss_for

    keras.backend.clear_session()
    net = ferzoo.build("resnet18", num_classes=num_classes, input_shape=(size, size, 3))
    performance.optimize(net)
    net.compile(keras.optimizers.Adam(1e-3), loss_for(net), **performance.default_compile_kwargs())
    rng = np.random.default_rng(0)
    x = rng.random((batch_size, size, size, 3), dtype=np.float32)
    y = rng.integers(0, num_classes, batch_size).astype(np.int32)
    for _ in range(2):
        net.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        net.train_on_batch(x, y)
    return steps * batch_size / (time.perf_counter() - start)


def measure(args, size: int) -> dict:
    """Every figure at one image size."""
    from ferzoo import data
    from ferzoo.data import preparation, readers

    loaded = data.load(args.dataset, image_size=size, data_dir=args.data_dir,
                       reader=args.readers[0], pipeline=args.pipelines[0])  # fmt: skip
    found = preparation.prepared(args.dataset, args.data_dir, add_copy=True)
    cols = readers.columns_of(found, args.readers[0])
    row = {"size": size, "examples": len(cols.ids), "train": loaded.sizes["train"]}
    row["read"] = time_reads(found, cols, size, args.readers)
    row["batches"] = {
        (pipeline, raw): time_batches(
            loaded.parts["train"], pipeline, raw, args.batch_size, args.passes
        )
        for pipeline in args.pipelines
        for raw in (False, True)
    }
    row["model"] = time_model(size, loaded.num_classes, args.batch_size, args.steps)
    return row


def report(args, rows: list[dict], backend: str, load_start: float) -> str:
    """The markdown page."""
    from ferzoo.data.base import tensorflow_available
    from ferzoo.files import markdown_table

    batch_cols = [(p, raw) for p in args.pipelines for raw in (False, True)]
    names = {"tf.data": "read: tf.data", "numpy": "read: data source"}
    head = (["size", *[names[r] for r in args.readers]]
            + [f"{p} batches" + (", uint8" if raw else "") for p, raw in batch_cols]
            + ["resnet18 training", "slowest batches / training"])  # fmt: skip
    cells = []
    for row in rows:
        slowest = min(row["batches"].values())
        cells.append([f"{row['size']} px"] + [f"{row['read'][r]:,.0f}" for r in args.readers]
                     + [f"{row['batches'][k]:,.0f}" for k in batch_cols]
                     + [f"{row['model']:,.1f}", f"{slowest / row['model']:,.0f}x"])  # fmt: skip
    lines = markdown_table(head, cells)
    command = "python benchmarks/data_pipeline.py " + " ".join(sys.argv[1:])
    return "\n".join([
        f"## {backend}",
        "",
        f"Images/s. Command: `KERAS_BACKEND={backend} {command}`; machine: {cpu_model()}; "
        f"date: {datetime.date.today().isoformat()}; 1-minute load average "
        f"{load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end.",
        "",
        f"Dataset `{args.dataset}` ({rows[0]['examples']} images, {rows[0]['train']} in the "
        f"paper protocol's training part), batch {args.batch_size}, backend {backend}, "
        f"TensorFlow {'installed' if tensorflow_available() else 'not installed'}. "
        "`read` is the one-time read of every image into memory (decode, crop, resize); the "
        "batches are passes over the training part as `model.fit` gets them; resnet18 "
        "training is `train_on_batch` on random images of the same size.",
        "",
        *lines,
        "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="synthetic_faces")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--sizes", default="48,112", help="comma-separated image sizes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--passes", type=int, default=2, help="timed passes over the batches")
    parser.add_argument("--steps", type=int, default=5, help="timed resnet18 training steps")
    parser.add_argument("--readers", default=None, help="tf.data,numpy (default: those usable)")
    parser.add_argument("--pipelines", default=None, help="tf.data,numpy (default: as readers)")
    parser.add_argument("--output", default=None, help="write the markdown page here")
    parser.add_argument("--append", action="store_true", help="add to --output, do not replace")
    args = parser.parse_args(argv)

    from ferzoo import logs

    logs.quiet_backends()
    import keras

    from ferzoo.data.base import tensorflow_available

    usable = ["tf.data", "numpy"] if tensorflow_available() else ["numpy"]
    args.readers = args.readers.split(",") if args.readers else usable
    args.pipelines = args.pipelines.split(",") if args.pipelines else usable
    load_start = os.getloadavg()[0]
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(args, size))
        print(f"{size} px: {rows[-1]}", file=sys.stderr, flush=True)
    page = report(args, rows, keras.backend.backend(), load_start)
    print(page)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        append = args.append and os.path.exists(args.output)
        with open(args.output, "a" if append else "w") as f:
            f.write("\n" + page if append else f"# Data pipeline against training speed\n\n{page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
