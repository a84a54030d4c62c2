"""Import-to-first-prediction time of `ferzoo.Predictor` and `ferzoo predict`: `.onnx` vs `.keras`.

    python benchmarks/startup.py                   # resnet18 at 96 px, 5 fresh processes each
    python benchmarks/startup.py --model msc_wca_resnet18 --size 112 --rounds 3

A user's script or `ferzoo predict` pays this once per start: the imports, loading the model
and one photo's detection, crop and classification. Each engine runs in fresh Python processes
(round-robin, `--rounds` each); the clock starts before the first import and stops after the
first `Predictor.predict` returns; `cli-onnxruntime` runs `ferzoo predict model.onnx photo.png`
(the command line's code, its CSV to /dev/null) on the same clock, and every engine's whole
process (interpreter start to exit) is timed from outside too. The `.onnx` file is exported once by `ferzoo export`'s code
(TensorFlow); the `.keras` file has the same random weights. Writes results/startup.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENGINES = {  # engine -> (model file suffix, KERAS_BACKEND)
    "onnxruntime": (".onnx", "tensorflow"),  # the backend is never imported for .onnx
    "cli-onnxruntime": (".onnx", "tensorflow"),  # `ferzoo predict model.onnx photo.png`
    "keras-tensorflow": (".keras", "tensorflow"),
    "keras-jax": (".keras", "jax"),
    "keras-torch": (".keras", "torch"),
}
TIMED = """
import time; start = time.perf_counter()
import sys, json
from ferzoo.serving.predictor import Predictor
faces = Predictor(sys.argv[1]).predict(sys.argv[2])
elapsed = time.perf_counter() - start
print(json.dumps({"s": elapsed, "faces": len(faces),
                  "keras_imported": "keras" in sys.modules}))
"""
TIMED_CLI = """
import time; start = time.perf_counter()
import contextlib, io, json, sys
from ferzoo import cli
with contextlib.redirect_stdout(io.StringIO()) as csv:
    code = cli.main(["predict", sys.argv[1], sys.argv[2]])
elapsed = time.perf_counter() - start
assert code == 0, code
print(json.dumps({"s": elapsed, "faces": len(csv.getvalue().splitlines()),  # rows, no header
                  "keras_imported": "keras" in sys.modules}))
"""


def prepare(model: str, size: int, folder: str) -> tuple[str, str]:
    """Export `model` (random weights) to folder/model.onnx and .keras; draw a photo."""
    import cv2
    import keras
    import numpy as np

    import ferzoo
    from ferzoo import face, synthetic
    from ferzoo.serving.export import export_model

    keras.utils.set_random_seed(0)
    net = ferzoo.build(model, num_classes=7, input_shape=(size, size, 3))
    base = os.path.join(folder, "model")
    net.save(base + ".keras")
    export_model(net, base + ".onnx", "onnx", info={"model": model})
    for seed in range(50):  # a drawn face that the Haar detector finds
        rng = np.random.default_rng(seed)
        image = synthetic.draw_face(rng, synthetic.subject_params(rng), label=3, size=240)
        if face.detect_faces(image):
            break
    photo = os.path.join(folder, "photo.png")
    cv2.imwrite(photo, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return base, photo


def time_once(engine: str, base: str, photo: str) -> dict:
    suffix, backend = ENGINES[engine]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    code = TIMED_CLI if engine.startswith("cli-") else TIMED
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, base + suffix, photo], env=env,
                         capture_output=True, text=True, check=True)  # fmt: skip
    wall = time.perf_counter() - start
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall": wall}


def report(model: str, size: int, times: dict[str, list[dict]], command: str) -> str:
    lines = [
        "# Import to first prediction: `ferzoo.Predictor` on an .onnx and a .keras file", "",
        f"Produced by `{command}` ({model}, {size} px, random weights; a 240x240 photo with one",
        "drawn face: Haar detection, the datasets' crop, one classification). Each cell is the",
        "median over fresh Python processes [min-max]; the shared 2-core CPU machine's load",
        f"average at the end: {os.getloadavg()[0]:.1f}.", "",
        "| engine | seconds | whole process, seconds | Keras imported | faces found |",
        "|---|---|---|---|---|",
    ]  # fmt: skip
    for engine, runs in times.items():
        s, w = [r["s"] for r in runs], [r["wall"] for r in runs]
        lines.append(f"| {engine} | {statistics.median(s):.2f} [{min(s):.2f}-{max(s):.2f}] | "
                     f"{statistics.median(w):.2f} [{min(w):.2f}-{max(w):.2f}] | "
                     f"{runs[0]['keras_imported']} | {runs[0]['faces']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--output", default=os.path.join(ROOT, "results", "startup.md"))
    args = parser.parse_args(argv)
    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory() as folder:
        base, photo = prepare(args.model, args.size, folder)
        times: dict[str, list[dict]] = {e: [] for e in engines}
        for _ in range(args.rounds):
            for engine in engines:
                times[engine].append(time_once(engine, base, photo))
    command = "python benchmarks/startup.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(args.model, args.size, times, command.strip())
    sys.path.insert(0, ROOT)
    from ferzoo.files import write_text

    write_text(args.output, text)
    print(text)


if __name__ == "__main__":
    main()
