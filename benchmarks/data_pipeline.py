"""Can ferzoo's data path keep a model fed? Images/s of each path beside resnet18's training.

    python benchmarks/data_pipeline.py --sizes 48,112 --output results/data_pipeline.md
    # then, in a venv without TensorFlow (only the data source and NumPy paths exist there):
    KERAS_BACKEND=torch python benchmarks/data_pipeline.py --output results/data_pipeline.md --append

Per image size, on the training part of `--dataset` (paper protocol):

- the one-time read of every image into memory (decode, crop to the face box, resize), through
  tf.data (TFRecord shards; needs TensorFlow) and through TFDS's data source (the ArrayRecord
  copy; no TensorFlow): images/s over the whole dataset, the second of two reads;
- the batches `model.fit` gets from the in-memory images: tf.data, and the NumPy
  `keras.utils.PyDataset` (iterated through Keras' own PyDataset adapter, as `fit` does), as
  float32 in [0, 1] (what `ferzoo.data.load`'s users get) and as uint8 (what `ferzoo.train`
  fits on: conversion and augmentation happen on the device, in the step; issue 18): the
  fastest of `--passes` full passes after a warm-up pass;
- each of `--models` (resnet18 and msc_wca_resnet18) training at that size and batch size as
  `ferzoo.train` runs a step (uint8 batches, the /255 conversion and `FaceAugment` in the
  compiled step; ferzoo's speed settings, Adam), without augmentation and with `--augment`
  (0.5), paired in one process: `--steps` timed `train_on_batch` steps after two warm-up
  steps, each pair timed in both orders;
- where one `ferzoo.train` epoch of resnet18 on the dataset spends its time (data, build,
  compile, steps, validation, other; `--no-split` skips it).

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
    else:  # as model.fit reads a PyDataset: through Keras' adapter
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
                           train=True, seed=0, output="uint8" if raw else "float")  # fmt: skip
    _one_pass(batches, pipeline)
    return len(part) / min(_one_pass(batches, pipeline) for _ in range(passes))


def time_model(name: str, size: int, num_classes: int, batch_size: int, steps: int,
               augment: float) -> float:  # fmt: skip
    """`name`'s training images/s as `ferzoo.train` runs a step: uint8 batches into
    `device_input.training_model` (the /255 conversion and `FaceAugment(augment)` in the
    step), `train_on_batch` after two warm-up steps."""
    import keras

    import ferzoo
    from ferzoo.evaluation.losses import loss_for
    from ferzoo.runtime import performance
    from ferzoo.training.device_input import training_model

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    net = ferzoo.build(name, num_classes=num_classes, input_shape=(size, size, 3))
    performance.optimize(net)
    model = training_model(net, augment=augment, seed=0)
    model.compile(keras.optimizers.Adam(1e-3), loss_for(net),
                  **performance.default_compile_kwargs())  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, num_classes, batch_size).astype(np.int32)
    for _ in range(2):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    return steps * batch_size / (time.perf_counter() - start)


def time_models(args, size: int, num_classes: int) -> dict:
    """`{(model, augment): images/s}`, each model without and with augmentation in turn, and
    the pair again in the other order (the better of the two of each: paired, one process)."""
    out = {}
    for name in args.models:
        for order in ((0.0, args.augment), (args.augment, 0.0)):
            for augment in order:
                rate = time_model(name, size, num_classes, args.batch_size, args.steps, augment)
                out[name, augment] = max(out.get((name, augment), 0.0), rate)
    return out


def time_split(args, size: int) -> dict:
    """One `ferzoo.train` epoch of resnet18 on the dataset: where its time went (seconds)."""
    import tempfile

    import ferzoo

    with tempfile.TemporaryDirectory() as out:
        result = ferzoo.train("resnet18", args.dataset, image_size=size, epochs=1,
                              batch_size=args.batch_size, data_dir=args.data_dir,
                              output_dir=out, verbose=0)  # fmt: skip
    return result.timings


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
    row["models"] = time_models(args, size, loaded.num_classes)
    row["model"] = row["models"]["resnet18", 0.0] if "resnet18" in args.models else None
    row["split"] = time_split(args, size) if args.split else None
    return row


def training_lines(args, rows: list[dict]) -> list[str]:
    """The training table: each model without and with augmentation, and their ratio."""
    from ferzoo.files import markdown_table

    head = ["size", "model", "augment 0", f"augment {args.augment}", "ratio"]
    cells = [[f"{row['size']} px", name, f"{row['models'][name, 0.0]:,.1f}",
              f"{row['models'][name, args.augment]:,.1f}",
              f"{row['models'][name, args.augment] / row['models'][name, 0.0]:.2f}x"]
             for row in rows for name in args.models]  # fmt: skip
    return markdown_table(head, cells)


def split_lines(rows: list[dict]) -> list[str]:
    """The time split of one training epoch per size (seconds, and shares of the wall)."""
    from ferzoo.files import markdown_table
    from ferzoo.training.timing import PARTS

    rows = [row for row in rows if row["split"]]
    if not rows:
        return []
    head = ["size", *PARTS, "wall"]
    cells = [[f"{row['size']} px"]
             + [f"{row['split'][p]:.1f} ({row['split'][p] / row['split']['wall']:.0%})"
                for p in PARTS] + [f"{row['split']['wall']:.1f}"] for row in rows]  # fmt: skip
    return ["One `ferzoo.train` epoch of resnet18 on the dataset (seconds, share of the wall):",
            "", *markdown_table(head, cells), ""]  # fmt: skip


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
        slowest, model = min(row["batches"].values()), row["model"]
        cells.append([f"{row['size']} px"] + [f"{row['read'][r]:,.0f}" for r in args.readers]
                     + [f"{row['batches'][k]:,.0f}" for k in batch_cols]
                     + ([f"{model:,.1f}", f"{slowest / model:,.0f}x"] if model else
                        ["-", "-"]))  # fmt: skip
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
        "batches are passes over the training part as `model.fit` gets them (float32, and the "
        "uint8 batches `ferzoo.train` fits on); training is `train_on_batch` of uint8 random "
        "images through the conversion and `FaceAugment` in the step, as `ferzoo.train` runs "
        "it (resnet18 training: without augmentation).",
        "",
        *markdown_table(head, cells),
        "",
        "Training images/s without and with augmentation on the device (paired: each pair "
        "timed in both orders, the better of the two kept):",
        "",
        *training_lines(args, rows),
        "",
        *split_lines(rows),
    ])  # fmt: skip


def common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options this benchmark shares with benchmarks/step_loop.py."""
    parser.add_argument("--dataset", default="synthetic_faces")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--sizes", default="48,112", help="comma-separated image sizes")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default=None, help="write the markdown page here")
    parser.add_argument("--append", action="store_true", help="add to --output, do not replace")


def write_page(args, title: str, page: str) -> None:
    """`page` into `args.output` (after what is there with `--append`, else under `title`)."""
    if not args.output:
        return
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    append = args.append and os.path.exists(args.output)
    with open(args.output, "a" if append else "w") as f:
        f.write("\n" + page if append else f"# {title}\n\n{page}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(parser)
    parser.add_argument("--passes", type=int, default=2, help="timed passes over the batches")
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per model")
    parser.add_argument("--models", default="resnet18,msc_wca_resnet18")
    parser.add_argument("--augment", type=float, default=0.5, help="the strength beside 0")
    parser.add_argument(
        "--no-split",
        dest="split",
        action="store_false",
        help="skip the one-epoch ferzoo.train run and its time split",
    )
    parser.add_argument("--readers", default=None, help="tf.data,numpy (default: those usable)")
    parser.add_argument("--pipelines", default=None, help="tf.data,numpy (default: as readers)")
    args = parser.parse_args(argv)

    from ferzoo.runtime import logs

    logs.quiet_backends()
    import keras

    from ferzoo.data.base import tensorflow_available

    usable = ["tf.data", "numpy"] if tensorflow_available() else ["numpy"]
    args.readers = args.readers.split(",") if args.readers else usable
    args.pipelines = args.pipelines.split(",") if args.pipelines else usable
    args.models = args.models.split(",")
    load_start = os.getloadavg()[0]
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        rows.append(measure(args, size))
        print(f"{size} px: {rows[-1]}", file=sys.stderr, flush=True)
    page = report(args, rows, keras.backend.backend(), load_start)
    print(page)
    write_page(args, "Data pipeline against training speed", page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
