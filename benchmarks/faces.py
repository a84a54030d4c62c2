"""Face detectors on the photos that can be had here, and a model trained with and without alignment.

    nice -n 10 python benchmarks/faces.py --output results/faces.md            # detection only
    nice -n 10 python benchmarks/faces.py --output results/faces.md --train \
        --model resnet18 --image-size 48 --epochs 8                           # + 2 trainings

For each detector of `ferzoo.face.DETECTORS` (one object each, OpenCV on one thread): found or
missed, and the median time of `--repeats` detections, on scikit-image's bundled photos (the
two with a human face, astronaut and camera, and every other one, none with a face), on
ferzoo's drawn faces (`ferzoo.synthetic`, 96 px; every one has a face) and on made negatives
(noise, flat grey, a gradient, a checkerboard); then how far YuNet's eye line turns when the
astronaut photo is turned. With `--train`: `ferzoo.train` of `--model` on synthetic_faces
(prepared with YuNet in `--data-dir`) without and with `align=True`, the same seed and recipe
otherwise, and their test accuracy. Needs scikit-image (the `test` extra).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import numpy as np

NEGATIVES = ("noise", "grey", "gradient", "checkerboard")


def _photos() -> dict[str, np.ndarray]:
    """scikit-image's bundled 2-D and RGB photos (uint8 or made so), by name."""
    from skimage import data

    names = ("astronaut", "camera", "brick", "cat", "chelsea", "clock", "coffee", "coins",
             "colorwheel", "grass", "gravel", "horse", "immunohistochemistry", "logo", "moon",
             "page", "rocket", "text")  # fmt: skip
    out = {}
    for name in names:
        image = np.asarray(getattr(data, name)())
        if image.dtype != np.uint8:
            image = (image > 0).astype(np.uint8) * 255 if image.dtype == bool else image
        out[name] = image
    return out


def _negatives(rng: np.random.Generator) -> dict[str, np.ndarray]:
    ramp = np.linspace(0, 255, 320, dtype=np.float32)
    board = ((np.indices((320, 320)) // 40).sum(0) % 2 * 255).astype(np.uint8)
    return {
        "noise": rng.integers(0, 256, (320, 320, 3), dtype=np.uint8),
        "grey": np.full((320, 320, 3), 128, np.uint8),
        "gradient": np.repeat(np.tile(ramp, (320, 1))[..., None], 3, -1).astype(np.uint8),
        "checkerboard": board,
    }


def _timed(detector, image, repeats: int) -> tuple[int, float]:
    found = detector.detect(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.detect(image)
        times.append(time.perf_counter() - start)
    return len(found), statistics.median(times) * 1000


def detection_rows(names: list[str], repeats: int, drawn: int) -> list[str]:
    """The markdown rows: photo or set, its size, then found and ms per detector."""
    from ferzoo import face, synthetic

    detectors = {n: face.get_detector(n) for n in names}
    rng = np.random.default_rng(0)
    images = {**_photos(), **{f"made: {k}": v for k, v in _negatives(rng).items()}}
    rows = []
    for name, image in images.items():
        timed = [_timed(d, image, repeats) for d in detectors.values()]
        cells = [f"{'**found**' if n else 'none'} ({n}), {ms:.1f} ms" for n, ms in timed]
        rows.append(f"| {name} | {image.shape[1]}x{image.shape[0]} | " + " | ".join(cells) + " |")
    faces = [synthetic.draw_face(rng, synthetic.subject_params(rng), i % 7, 96)
             for i in range(drawn)]  # fmt: skip
    cells = []
    for detector in detectors.values():
        start = time.perf_counter()
        found = sum(bool(f) for f in detector.detect_many(faces))
        ms = (time.perf_counter() - start) / len(faces) * 1000
        cells.append(f"{found} of {len(faces)} found, {ms:.1f} ms")
    rows.append("| ferzoo.synthetic drawn faces | 96x96 | " + " | ".join(cells) + " |")
    return rows


def roll_rows() -> list[str]:
    """YuNet's eye-line angle on the astronaut photo turned about her face."""
    import cv2
    from skimage import data

    from ferzoo import face

    image = data.astronaut()
    rows = []
    for turn in (-30, -20, -10, 0, 10, 20, 30):
        matrix = cv2.getRotationMatrix2D((220, 130), turn, 1.0)
        found = face.find_faces(cv2.warpAffine(image, matrix, (512, 512)), "yunet")
        (ry, rx), (ly, lx) = found[0].landmarks[:2] * 512
        seen = np.degrees(np.arctan2(ly - ry, lx - rx))
        rows.append(f"| {turn} | {-turn + 1.0:.0f} | {seen:.1f} |")
    return rows


def train_rows(args) -> list[str]:
    """Test accuracy of `args.model` on synthetic_faces without and with alignment."""
    import ferzoo

    rows = []
    for align in (False, True):
        out = os.path.join(args.runs, f"align-{str(align).lower()}")
        result = ferzoo.train(
            args.model, "synthetic_faces", image_size=args.image_size, epochs=args.epochs,
            align=align, data_dir=args.data_dir, output_dir=out, seed=0, resume=False,
            verbose=0,
        )  # fmt: skip
        test = result.test
        rows.append(f"| {align} | {test['accuracy']:.4f} | {test['macro_f1']:.4f} | "
                    f"{result.best_epoch + 1} | {out} |")  # fmt: skip
    return rows


def page(args, detection: list[str], roll: list[str], trained: list[str]) -> str:
    import cv2

    from ferzoo import face

    names = args.detectors.split(",")
    when = datetime.date.today().isoformat()
    train = ""
    if args.train:
        train = (
            f" --train --model {args.model} --image-size {args.image_size} --epochs {args.epochs}"
        )
    lines = [
        "# Face detectors: found, missed and time per image",
        "",
        f"Made by `nice -n 10 python benchmarks/faces.py --output results/faces.md{train}` "
        f"on {when}, {platform.processor() or 'CPU'} "
        f"({os.cpu_count()} cores shared; OpenCV {cv2.__version__} on one thread). Versions: "
        + "; ".join(f"{n}: {face.describe(n)['detector_version']}" for n in names)
        + ".",
        "",
        f"Each cell: faces found and the median of {args.repeats} detections. Only astronaut "
        "and camera show a human face; every drawn face has one; the made images have none.",
        "",
        "| image | size | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
        *detection,
        "",
        "## YuNet's landmarks and a turned face",
        "",
        "The astronaut photo turned about her face (OpenCV's angle, counter-clockwise) and the "
        "angle of the eye line YuNet reports (image y down; 1 degree before turning). YuNet's "
        "landmarks follow an in-plane turn only in part, so alignment by them levels the "
        "faces' position and scale fully and their roll only as far as YuNet sees it.",
        "",
        "| turned by | eye line expected | eye line YuNet reports |",
        "|---|---|---|",
        *roll,
    ]
    if trained:
        lines += [
            "",
            "## A model trained with and without alignment",
            "",
            f"`ferzoo.train('{args.model}', 'synthetic_faces', image_size={args.image_size}, "
            f"epochs={args.epochs}, align=..., seed=0)` (TensorFlow, paper protocol, 8:1:1; "
            "augmentation 0.5), the dataset prepared with YuNet. One seed per row: a "
            "difference of a few points is within the noise of one run.",
            "",
            "| align | test accuracy | macro F1 | kept epoch | run |",
            "|---|---|---|---|---|",
            *trained,
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=None, help="write the markdown page here")
    parser.add_argument("--detectors", default="yunet,haar")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--drawn", type=int, default=70, help="drawn faces to detect")
    parser.add_argument("--train", action="store_true", help="train with and without align")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--data-dir", default="runs/faces_bench/tfds")
    parser.add_argument("--runs", default="runs/faces_bench")
    args = parser.parse_args(argv)
    import cv2

    cv2.setNumThreads(1)
    detection = detection_rows(args.detectors.split(","), args.repeats, args.drawn)
    trained = train_rows(args) if args.train else []
    text = page(args, detection, roll_rows(), trained)
    print(text)
    if args.output:
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
