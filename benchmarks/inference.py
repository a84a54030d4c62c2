"""Inference speed: Keras on each backend, ONNX Runtime (float and int8), OpenVINO and
hand-written PyTorch, paired; video.

    python benchmarks/inference.py                              # everything, results/inference.md
    python benchmarks/inference.py --models resnet18 --sizes 96 --rounds 1 --no-video   # a quick look

For each model and size, every engine runs in its own subprocess (Keras fixes its backend per
process), in rounds: each round times every engine back to back, in alternating order (as
`benchmarks/run.py` does), so a ratio is taken between runs under the same machine conditions;
the report gives the median of the rounds' ratios with their range. The engines:

- `keras-<backend>`: the model built as `ferzoo.train` builds it (`benchmarks/worker.py`'s
  `build_compiled`: ferzoo's default speed settings), timed with `predict_on_batch`;
- `onnxruntime`: the model exported by `ferzoo export` (TensorFlow, with ferzoo's graph
  rewrites), run by `ferzoo.serving.engines.OnnxEngine` with its defaults (idle threads do not
  spin); `onnxruntime-spin`: the same file with ONNX Runtime's own defaults (threads spin);
- `onnxruntime-int8`: that file statically quantised by `ferzoo.serving.quantize.quantize_int8`
  (calibrated on 32 random images: the weights are random too, only the speed is measured),
  on the same engine; `openvino`: the float file on OpenVINO's CPU plugin in float32
  (`OnnxEngine(runtime="openvino")`, as `ferzoo predict --engine openvino`);
- `reference`: `benchmarks/reference_torch.py` (resnet18, msc_wca_resnet18), eval mode,
  `torch.no_grad`, channels_last.

Batch-1 latency is the median of `--steps` calls, batch-16 throughput the median of
`--steps` calls of 16 (after 3 untimed calls). End to end, `--video` reads a 640x480 30 fps
clip of drawn faces (made here with cv2.VideoWriter) through `ferzoo.Predictor` and
`ferzoo.serving.pipeline` (decode, Haar detection, crop, classify in batches of 16) and gives
frames/s, with decode-only and decode+detect rates beside it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

MODELS = ("resnet18", "msc_wca_resnet18", "wamf_resnet18")
REFERENCE_MODELS = ("resnet18", "msc_wca_resnet18")
ENGINES = (
    "keras-tensorflow",
    "keras-jax",
    "keras-torch",
    "onnxruntime",
    "onnxruntime-spin",
    "onnxruntime-int8",
    "openvino",
    "reference",
)
BATCH = 16


# --- timing (inside a worker) ------------------------------------------------------------------


def _median_ms(fn, steps: int) -> float:
    """The median of `steps` calls, in ms, after three calls that are not counted."""
    from benchmarks.worker import median_time

    return 1000.0 * median_time(fn, steps, warmup=2)[1]


def _time(fn_one, fn_batch, steps: int) -> dict:
    latency = _median_ms(fn_one, steps)
    batch_ms = _median_ms(fn_batch, max(3, steps // 4))
    return {"latency_ms": latency, "images_per_s": 1000.0 * BATCH / batch_ms}


def _images(size: int, channels_first: bool = False):
    import numpy as np

    shape = (BATCH, 3, size, size) if channels_first else (BATCH, size, size, 3)
    return np.random.default_rng(0).random(shape, dtype=np.float32)


def worker_keras(model: str, size: int, steps: int) -> dict:
    import keras

    from benchmarks.worker import build_compiled
    from ferzoo.runtime import performance

    backend = keras.backend.backend()
    settings = performance.resolve(backend)
    performance.apply_runtime_settings(backend, deterministic=settings["deterministic"])
    net, _, images, _ = build_compiled(model, size, settings)
    return _time(
        lambda: net.predict_on_batch(images[:1]), lambda: net.predict_on_batch(images), steps
    )


def worker_onnx(
    path: str, size: int, steps: int, spinning: bool, threads: int = 0, runtime="onnxruntime"
) -> dict:
    from ferzoo.serving.engines import OnnxEngine

    engine = OnnxEngine(path, spinning=spinning, threads=threads or None, runtime=runtime)
    images = _images(size)
    return _time(lambda: engine.predict(images[:1]), lambda: engine.predict(images), steps)


def worker_reference(model: str, size: int, steps: int) -> dict:
    import torch

    from benchmarks.reference_torch import build_reference

    torch.manual_seed(0)
    net = build_reference(model, num_classes=7).to(memory_format=torch.channels_last).eval()
    images = torch.from_numpy(_images(size, channels_first=True))
    images = images.contiguous(memory_format=torch.channels_last)

    def run(x):
        with torch.no_grad():
            net(x)

    return _time(lambda: run(images[:1]), lambda: run(images), steps)


def worker_export(model: str, size: int, out: str) -> dict:
    import keras

    import ferzoo
    from ferzoo.serving.export import export_model

    keras.utils.set_random_seed(0)
    net = ferzoo.build(model, num_classes=7, input_shape=(size, size, 3))
    net.save(out[: -len(".onnx")] + ".keras")  # the same weights, for the Keras video run
    started = time.perf_counter()
    diff = export_model(net, out, "onnx", info={"model": model})
    exported = time.perf_counter() - started
    from ferzoo.serving.quantize import quantize_int8

    quantize_int8(out, _int8_path(out), _images(size))
    return {"export_s": exported, "max_abs_diff": diff}


def _int8_path(path: str) -> str:
    return path[: -len(".onnx")] + ".int8.onnx"


# --- video ---------------------------------------------------------------------------------------


def make_clip(path: str, frames: int = 150, fps: float = 30.0) -> str:
    """A 640x480 clip: one drawn subject (240 px face) drifting sideways, expression changing."""
    import cv2
    import numpy as np

    from ferzoo import synthetic

    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    rng = np.random.default_rng(0)
    subject = synthetic.subject_params(rng)
    for i in range(frames):
        face = synthetic.draw_face(rng, subject, label=(i // 15) % 7, size=240)
        left = 200 + int(40 * np.sin(i / 20))
        frame = np.pad(face, ((120, 120), (left, 400 - left), (0, 0)), mode="edge")
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def worker_video(model_path: str, clip: str, size: int, threads: int = 0) -> dict:
    import cv2
    import numpy as np

    from ferzoo import face
    from ferzoo.serving import inputs, pipeline
    from ferzoo.serving.predictor import Predictor

    if threads:
        cv2.setNumThreads(threads)
    predictor = Predictor(model_path, batch_size=BATCH, threads=threads or None)
    for n in (1, BATCH):  # warm-up: first calls allocate
        predictor.classify(np.zeros((n, size, size, 3), np.float32))
    source = inputs.Source("video", clip)
    start = time.perf_counter()
    decoded = [f.image for f in inputs.frames(source)]
    decode_s = time.perf_counter() - start
    start = time.perf_counter()
    found = sum(bool(face.face_boxes(image)) for image in decoded)
    detect_s = time.perf_counter() - start
    start = time.perf_counter()
    stats = pipeline.predict_sources(predictor, [source], quiet=True)
    total_s = time.perf_counter() - start
    return {
        "frames": stats.frames,
        "faces": stats.faces,
        "frames_with_face": found,
        "decode_fps": len(decoded) / decode_s,
        "detect_fps": len(decoded) / detect_s,
        "fps": stats.frames / total_s,
    }


# --- running ---------------------------------------------------------------------------------------


def _worker_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind")
    parser.add_argument("--model", default="")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--path", default="")
    parser.add_argument("--clip", default="")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        from benchmarks.worker import limit_threads

        limit_threads(args.threads)  # before any framework is imported
    if args.kind == "keras":
        record = worker_keras(args.model, args.size, args.steps)
    elif args.kind in ("onnxruntime", "onnxruntime-spin", "onnxruntime-int8", "openvino"):
        spin = args.kind.endswith("spin")
        runtime = "openvino" if args.kind == "openvino" else "onnxruntime"
        path = _int8_path(args.path) if args.kind.endswith("int8") else args.path
        record = worker_onnx(path, args.size, args.steps, spin, args.threads, runtime)
    elif args.kind == "reference":
        record = worker_reference(args.model, args.size, args.steps)
    elif args.kind == "export":
        record = worker_export(args.model, args.size, args.path)
    else:
        record = worker_video(args.path, args.clip, args.size, args.threads)
    print(json.dumps(record), flush=True)


def _subprocess(kind: str, backend: str, timeout: float, **options) -> dict:
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    command = [sys.executable, os.path.abspath(__file__), "--worker", kind]
    for key, value in options.items():
        command += [f"--{key}", str(value)]
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    lines = done.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit code {done.returncode}"}


def _engine_job(engine: str, model: str, size: int, files: dict, args) -> tuple[str, str, dict]:
    """(worker kind, KERAS_BACKEND, options) of one engine."""
    common = {"size": size, "steps": args.steps, "threads": args.threads}
    if engine.startswith("keras-"):
        return "keras", engine[len("keras-") :], {"model": model, **common}
    if engine.startswith("onnxruntime") or engine == "openvino":
        return engine, "tensorflow", {"path": files.get((model, size), "(export failed)"), **common}
    return "reference", "torch", {"model": model, **common}


def run_rounds(args, files: dict) -> list[dict]:
    """Every engine on every (model, size), `args.rounds` times, alternating the order."""
    records = []
    for size in args.sizes:
        for model in args.models:
            engines = [e for e in args.engines if e != "reference" or model in REFERENCE_MODELS]
            for round_index in range(args.rounds):
                order = engines if round_index % 2 == 0 else engines[::-1]
                for engine in order:
                    kind, backend, options = _engine_job(engine, model, size, files, args)
                    record = _subprocess(kind, backend, args.timeout, **options)
                    record.update(engine=engine, model=model, size=size, round=round_index)
                    record["load_1min"] = os.getloadavg()[0]
                    shown = record.get("error") or (
                        f"{record['latency_ms']:.1f} ms, {record['images_per_s']:.0f} img/s"
                    )
                    print(
                        f"[inference] {model} {size}px {engine} r{round_index}: {shown}", flush=True
                    )
                    records.append(record)
    return records


def run_video(args, files: dict, keras_files: dict) -> list[dict]:
    clip = make_clip(os.path.join(args.work_dir, "clip.mp4"))
    records = []
    jobs = [("onnxruntime", m, files[m, 96]) for m in args.models if (m, 96) in files]
    jobs += [("keras-tensorflow", m, keras_files[m, 96]) for m in args.models[:1]]
    for round_index in range(args.rounds):
        for engine, model, path in jobs if round_index % 2 == 0 else jobs[::-1]:
            record = _subprocess(
                "video",
                "tensorflow",
                args.timeout,
                path=path,
                clip=clip,
                size=96,
                threads=args.threads,
            )
            record.update(engine=engine, model=model, size=96, round=round_index)
            print(f"[inference] video {model} {engine}: {record.get('fps', record)}", flush=True)
            records.append(record)
    return records


# --- the report --------------------------------------------------------------------------------


def _rounds(records: list[dict], model: str, size: int, metric: str) -> list[dict[str, float]]:
    """Per round, engine -> metric, for one (model, size)."""
    by_round: dict[int, dict[str, float]] = {}
    for r in records:
        if "error" not in r and (r["model"], r["size"]) == (model, size) and metric in r:
            by_round.setdefault(r["round"], {})[r["engine"]] = r[metric]
    return [by_round[k] for k in sorted(by_round)]


def _ratio(rounds: list[dict], top: str, bottom: str | tuple) -> str:
    """Median over rounds of rounds' top / bottom (bottom: an engine, or the best of several)."""
    values = []
    for r in rounds:
        below = [r[b] for b in ((bottom,) if isinstance(bottom, str) else bottom) if b in r]
        if top in r and below:
            best = min(below) if isinstance(bottom, tuple) else below[0]
            values.append(r[top] / best)
    if not values:
        return "-"
    spread = f" [{min(values):.2f}-{max(values):.2f}]" if len(values) > 1 else ""
    return f"{statistics.median(values):.2f}{spread}"


def _table(records, models, sizes, engines, metric, digits) -> list[str]:
    keras_engines = tuple(e for e in engines if e.startswith("keras-"))
    head = " | ".join(engines)
    ratio_names = ["ORT / reference", "ORT / keras-tensorflow", "ORT / fastest Keras"]
    extra = [e for e in ("onnxruntime-int8", "openvino") if e in engines]
    ratio_names += [f"{e} / ORT" for e in extra]
    lines = [f"| model | size | {head} | {' | '.join(ratio_names)} |"]
    lines.append("|---|---|" + "---|" * (len(engines) + len(ratio_names)))
    for size in sizes:
        for model in models:
            rounds = _rounds(records, model, size, metric)
            if not rounds:
                continue
            cells = []
            for e in engines:
                vals = [r[e] for r in rounds if e in r]
                value = statistics.median(vals) if vals else None
                shown = digits if value is None or value >= 100 else max(digits, 1)
                cells.append("-" if value is None else f"{value:.{shown}f}")
            if metric == "latency_ms":  # time: < 1 means ONNX Runtime is faster
                ratios = [
                    _ratio(rounds, "onnxruntime", b) for b in ("reference", "keras-tensorflow")
                ]
                ratios.append(_ratio(rounds, "onnxruntime", keras_engines))
                ratios += [_ratio(rounds, e, "onnxruntime") for e in extra]
            else:  # throughput: invert, so that < 1 still means ONNX Runtime is faster
                inv = [{k: 1.0 / v for k, v in r.items()} for r in rounds]
                ratios = [_ratio(inv, "onnxruntime", b) for b in ("reference", "keras-tensorflow")]
                ratios.append(_ratio(inv, "onnxruntime", keras_engines))
                ratios += [_ratio(inv, e, "onnxruntime") for e in extra]
            lines.append(f"| {model} | {size} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    return lines


def _video_lines(video: list[dict]) -> list[str]:
    lines = [
        "| model | engine | frames/s end to end | decode only | decode + detect | frames with a "
        "face | faces classified |",
        "|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple, list[dict]] = {}
    for r in video:
        if "error" not in r:
            groups.setdefault((r["model"], r["engine"]), []).append(r)
    for (model, engine), rs in groups.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("fps", "decode_fps", "detect_fps")}
        lines.append(
            f"| {model} | {engine} | **{med['fps']:.1f}** | {med['decode_fps']:.0f} | "
            f"{med['detect_fps']:.1f} | {rs[0]['frames_with_face']}/{rs[0]['frames']} | "
            f"{rs[0]['faces']} |"
        )
    return lines


def write_report(records, video, meta, path) -> str:
    engines = [e for e in ENGINES if any(r.get("engine") == e for r in records)]
    models = [m for m in MODELS if any(r.get("model") == m for r in records)]
    sizes = sorted({r["size"] for r in records}, reverse=True)
    lines = ["# Inference speed: Keras, ONNX Runtime (float, int8), OpenVINO, hand-written PyTorch"]
    lines += [""]
    lines += ["Produced by `benchmarks/inference.py`:", "", f"    {meta['command']}", ""]
    lines += [
        f"- Date: {meta['date']}; machine: {meta['machine']['nproc']} cores, "
        f"{meta['machine']['cpu']} (lscpu), {meta['machine']['ram_gib']:.1f} GiB RAM; load "
        f"average (1 min) {meta['load']} during the runs.",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()) + ".",
        f"- {meta['rounds']} rounds; in each, every engine ran in its own process, back to back, "
        "in alternating order; a cell is the median over rounds, a ratio the median of the "
        "rounds' ratios [their range]. Random weights and inputs. Threads: "
        + (
            f"{meta['threads']} per engine (every framework limited alike)."
            if meta.get("threads")
            else "each framework's default for the machine's cores."
        ),
        "",
        "## Batch-1 latency (ms; lower is faster)",
        "",
        "Ratios < 1: ONNX Runtime (`onnxruntime`, ferzoo's settings) takes less time.",
        "",
    ]
    lines += _table(records, models, sizes, engines, "latency_ms", 1)
    lines += ["", "## Batch-16 throughput (images/s; higher is faster)", ""]
    lines += ["Ratios are of time per image, as above: < 1 means ONNX Runtime is faster.", ""]
    lines += _table(records, models, sizes, engines, "images_per_s", 0)
    if video:
        lines += ["", "## End to end on video (96 px)", ""]
        lines += [
            "A 640x480 30 fps clip of 150 drawn frames (`make_clip`) through `ferzoo.Predictor` "
            "(batches of 16 faces) and `ferzoo.serving.pipeline`: decode, Haar detection, crop "
            "as the datasets did, classify. Decode-only and decode + detect rates show where the "
            "time goes.",
            "",
        ]
        lines += _video_lines(video)
    failed = [r for r in records + video if "error" in r]
    if failed:
        lines += ["", "## Failed runs", ""]
        lines += [f"- {r['engine']} {r['model']} {r['size']} px: {r['error']}" for r in failed]
    notes = os.path.join(ROOT, "benchmarks", "inference_notes.md")
    if os.path.exists(notes):
        lines += ["", open(notes, encoding="utf-8").read().rstrip()]
    text = "\n".join(lines) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return text


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "?"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "?"


def _export_all(args) -> tuple[dict, dict]:
    files, keras_files = {}, {}
    sizes = sorted(set(args.sizes) | ({96} if args.video else set()))
    for model in args.models:
        for size in sizes:
            out = os.path.join(args.work_dir, f"{model}_{size}.onnx")
            record = _subprocess(
                "export", "tensorflow", args.timeout, model=model, size=size, path=out
            )
            print(f"[inference] export {model} {size}px: {record}", flush=True)
            if "error" not in record:
                files[model, size] = out
                keras_files[model, size] = out[: -len(".onnx")] + ".keras"
    return files, keras_files


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return _worker_main(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--sizes", default="96,224")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="timed batch-1 calls per run")
    parser.add_argument("--no-video", dest="video", action="store_false")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="compute threads for every engine (0: each framework's default); on a shared "
        "machine 1 keeps the frameworks' thread pools from waiting on each other",
    )
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--work-dir", default=None, help="where the exports go (default: temp)")
    parser.add_argument("--output-dir", default=os.path.join(ROOT, "results"))
    parser.add_argument("--name", default="inference", help="report file names: NAME.md, .json")
    parser.add_argument("--report-only", action="store_true", help="rewrite NAME.md from NAME.json")
    args = parser.parse_args(argv)
    if args.report_only:
        with open(os.path.join(args.output_dir, f"{args.name}.json")) as f:
            saved = json.load(f)
        path = os.path.join(args.output_dir, f"{args.name}.md")
        write_report(saved["records"], saved["video"], saved, path)
        return None
    args.models = [m for m in args.models.split(",") if m]
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.engines = [e for e in args.engines.split(",") if e]
    unknown = sorted(set(args.engines) - set(ENGINES))
    if unknown or args.rounds < 1:
        raise ValueError(f"engines must be among {ENGINES}, rounds >= 1. Received: {unknown}")
    from benchmarks.run import machine_info, versions

    args.work_dir = args.work_dir or tempfile.mkdtemp(prefix="ferzoo-inference-")
    os.makedirs(args.work_dir, exist_ok=True)
    loads = [os.getloadavg()[0]]
    files, keras_files = _export_all(args)
    records = run_rounds(args, files)
    video = run_video(args, files, keras_files) if args.video else []
    loads.append(os.getloadavg()[0])
    loads += [r["load_1min"] for r in records if "load_1min" in r]
    ort_versions = {}
    for name in ("onnxruntime", "onnx", "tf2onnx", "openvino"):
        try:
            import importlib.metadata

            ort_versions[name] = importlib.metadata.version(name)
        except Exception:  # noqa: BLE001 (a missing package is just not reported)
            pass
    meta = {
        "command": "python benchmarks/inference.py " + " ".join(argv),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {**machine_info(), "cpu": _cpu_model()},
        "versions": {**versions(), **ort_versions},
        "rounds": args.rounds,
        "threads": args.threads,
        "load": f"{min(loads):.1f} to {max(loads):.1f}",
    }
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, f"{args.name}.json"), "w") as f:
        json.dump({**meta, "records": records, "video": video}, f, indent=1)
    write_report(records, video, meta, os.path.join(args.output_dir, f"{args.name}.md"))
    print(f"[inference] wrote {args.output_dir}/{args.name}.md and {args.name}.json")


if __name__ == "__main__":
    main()
