"""benchmarks/inference.py's report: paired ratios are medians of per-round ratios (no timing is
asserted; speed belongs to the benchmark), and the clip it times has detectable faces."""

from __future__ import annotations

import cv2
import pytest

from benchmarks import inference
from ferzoo import face

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free


def _record(engine, latency, rate, round_index, model="resnet18", size=96):
    return dict(
        engine=engine,
        model=model,
        size=size,
        round=round_index,
        latency_ms=latency,
        images_per_s=rate,
    )


def test_report_ratios_are_medians_of_round_ratios(tmp_path):
    records = []
    for r, (ort, tf, ref) in enumerate([(4.0, 8.0, 10.0), (6.0, 6.0, 12.0), (5.0, 10.0, 10.0)]):
        records += [
            _record("onnxruntime", ort, 1600 / ort, r),
            _record("keras-tensorflow", tf, 1600 / tf, r),
            _record("keras-jax", tf * 2, 800 / tf, r),
            _record("reference", ref, 1600 / ref, r),
        ]
    records.append({**_record("keras-torch", 0, 0, 0), "error": "boom"})
    meta = {
        "command": "python benchmarks/inference.py --rounds 3",
        "date": "2026-12-01 00:00 UTC",
        "machine": {"nproc": 2, "cpu": "AMD EPYC", "ram_gib": 8.0},
        "versions": {"onnxruntime": "1.32.0"},
        "rounds": 3,
        "load": "0.1 to 0.3",
    }
    text = inference.write_report(records, [], meta, str(tmp_path / "inference.md"))
    latency = next(line for line in text.splitlines() if line.startswith("| resnet18 | 96 |"))
    assert latency.startswith("| resnet18 | 96 | 8.0 | 16.0 | - | 5.0 | 10.0 |")
    # ORT / reference: 0.4, 0.5, 0.5 -> 0.50; ORT / keras-tensorflow: 0.5, 1.0, 0.5 -> 0.50
    assert "| 0.50 [0.40-0.50] | 0.50 [0.50-1.00] | 0.50 [0.50-1.00] |" in latency
    assert "keras-torch resnet18 96 px: boom" in text and "AMD EPYC" in text


def test_the_benchmark_clip_has_detectable_faces(tmp_path):
    path = inference.make_clip(str(tmp_path / "clip.mp4"), frames=30)
    capture = cv2.VideoCapture(path)
    found, shapes = 0, set()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        shapes.add(frame.shape)
        found += bool(face.detect_faces(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
    assert shapes == {(480, 640, 3)} and capture.get(cv2.CAP_PROP_FRAME_COUNT) == 30
    assert not face.has_detector() or found >= 10
