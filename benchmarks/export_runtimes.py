"""Every registered model's ONNX export in every installed runtime, from one backend.

    KERAS_BACKEND=tensorflow python benchmarks/export_runtimes.py --output results/export_runtimes.md
    KERAS_BACKEND=jax python benchmarks/export_runtimes.py --output results/export_runtimes.md --append
    KERAS_BACKEND=torch python benchmarks/export_runtimes.py --output results/export_runtimes.md --append

Per model (`--models`, default all of `ferzoo.list_models()`), at `--size` px with seeded random
weights (the capsule kernels scaled up 30x, as in tests/test_export.py, so that the capsule
heads' scores differ between faces): `export_model` writes the `.onnx` file (itself checked in
ONNX Runtime against Keras), `check_runtimes` runs it in every installed runtime (ONNX Runtime,
OpenVINO, OpenCV DNN: random inputs at batch 1 and then 3 in one net, and drawn faces) and
`known_limits` lists the notes `ferzoo export` would print. A row per model: the spread of
Keras' scores over the faces (max - min: near 0, the scores hardly differ and a small
difference means little), each runtime's largest difference from Keras, or its error. A check run by hand, not a test: it asserts
nothing, and the page says what failed.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.data_pipeline import write_page  # noqa: E402


def _spread_capsules(model) -> None:
    for layer in model.layers:
        if type(layer).__name__ in ("PrimaryCapsule", "Capsule"):
            for weight in layer.trainable_weights:
                weight.assign(weight * 30.0)


def check_model(name: str, size: int, folder: str) -> dict:
    """`{runtime: "max diff" or "error: ..."}` and the notes, for `name` at `size` px."""
    import keras

    import ferzoo
    from ferzoo.serving import export as ex
    from ferzoo.serving import runtimes

    keras.utils.set_random_seed(0)
    model = ferzoo.build(name, num_classes=7, input_shape=(size, size, 3))
    _spread_capsules(model)
    path = os.path.join(folder, f"{name}.onnx")
    try:
        ex.export_model(model, path, "onnx")
    except Exception as err:  # noqa: BLE001 (the page reports it)
        return {"export": f"error: {str(err).splitlines()[0][:120]}"}
    scores = keras.ops.convert_to_numpy(model(ex._face_batch(model, None)))
    cells = {"export": "ok", "spread": f"{np.ptp(scores):.2f}"}
    for row in ex.check_runtimes(model, path, repeats=0):
        if not row.loads:
            cells[row.runtime] = f"error: {(row.error or '')[:120]}"
        else:
            cells[row.runtime] = f"{row.max_diff:.1e}" + ("" if row.same_shape else " (shape!)")
    cells["notes"] = ", ".join(sorted(runtimes.known_limits(path))) or "none"
    return cells


def versions() -> str:
    """The installed runtimes' versions, for the page."""
    from importlib import metadata

    found = []
    for dist in ("onnxruntime", "openvino", "opencv-python-headless", "opencv-python", "onnx"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated (default: all)")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--output", default=None, help="write the markdown page here")
    parser.add_argument("--append", action="store_true", help="add to --output, do not replace")
    args = parser.parse_args(argv)
    import keras

    import ferzoo
    from ferzoo.serving import runtimes

    names = args.models.split(",") if args.models else list(ferzoo.list_models())
    installed = [r for r in runtimes.RUNTIMES if runtimes.installed(r)]
    columns = ["export", "spread", *installed, "notes"]
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            cells = check_model(name, args.size, folder)
            lines.append(f"| {name} | " + " | ".join(cells.get(c, "-") for c in columns) + " |")
            print(lines[-1], flush=True)
    backend = keras.backend.backend()
    page = (
        f"## {backend}, {args.size} px ({datetime.date.today()})\n\n"
        f"`KERAS_BACKEND={backend} python benchmarks/export_runtimes.py --size {args.size}`; "
        "spread: max - min of Keras' scores on the faces; each runtime: max |runtime - Keras| "
        f"over batch 1, batch 3 and drawn faces; {versions()}.\n\n" + "\n".join(lines) + "\n"
    )
    write_page(args, "Every model's ONNX export in every runtime", page)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
