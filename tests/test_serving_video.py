"""ferzoo predict on videos and cameras: a row per frame and face, annotated video, summary plot,
progress bar; the camera path runs on a video file standing in for the device."""

from __future__ import annotations

import csv
import io

import cv2
import numpy as np
import pytest

import ferzoo
from ferzoo.cli import main
from ferzoo.serving import inputs, video
from ferzoo.serving.progress import Progress
from tests.serving_testing import CLASSES, export_onnx, save_run, small_model, write_video

FRAMES, FPS = 30, 10.0


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    return export_onnx(save_run(small_model(), folder), str(folder / "m.onnx"))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """30 frames at 10 fps; frames 10-14 are blank (no face)."""
    return write_video(
        tmp_path_factory.mktemp("video") / "clip.mp4", FRAMES, FPS, blank=range(10, 15)
    )


def _rows(path):
    return list(csv.DictReader(open(path)))


def test_video_gives_a_row_per_frame_with_time_box_label_scores(onnx_model, clip, tmp_path):
    out = tmp_path / "clip.csv"
    assert main(["predict", onnx_model, clip, "--output", str(out), "--quiet"]) == 0
    rows = _rows(out)
    frames = {int(r["frame"]) for r in rows}
    assert len(frames) >= 25 and frames <= set(range(FRAMES))
    for r in rows:
        assert float(r["time_s"]) == pytest.approx(int(r["frame"]) / FPS, abs=1e-6)
        if r["error"]:
            assert r["error"] == "no face found" and r["label"] == ""
        else:
            assert r["label"] in CLASSES and 0 <= float(r["ymin"]) < float(r["ymax"]) <= 1
            assert float(r["score"]) == max(float(r[f"score_{c}"]) for c in CLASSES)
    blank = [r for r in rows if 10 <= int(r["frame"]) < 15]
    assert len(blank) == 5 and all(r["error"] == "no face found" for r in blank)
    assert (tmp_path / "clip_summary.png").stat().st_size > 1000  # beside --output


def test_every_n_frames_annotated_video_and_summary(onnx_model, clip, tmp_path):
    out = tmp_path / "clip.json"
    annotated = tmp_path / "annotated.mp4"
    args = ["predict", onnx_model, clip, "--every", "3", "--output", str(out)]
    assert main([*args, "--annotate", str(annotated), "--summary", str(tmp_path / "s")]) == 0
    import json

    records = json.loads(out.read_text())
    assert sorted({r["frame"] for r in records}) == list(range(0, FRAMES, 3))
    capture = cv2.VideoCapture(str(annotated))
    count = 0
    while capture.grab():
        count += 1
    assert count == FRAMES // 3
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS / 3, rel=0.01)
    assert (tmp_path / "s" / "clip_summary.png").exists()


def test_camera_path_reads_the_injected_capture(onnx_model, clip, tmp_path, monkeypatch):
    opened = []
    monkeypatch.setattr(
        inputs, "CAPTURE_FACTORY", lambda index: opened.append(index) or cv2.VideoCapture(clip)
    )
    out = tmp_path / "live.csv"
    args = ["predict", onnx_model, "--camera", "0", "--max-frames", "12", "--output", str(out)]
    assert main([*args, "--annotate", str(tmp_path / "live.avi"), "--quiet"]) == 0
    rows = _rows(out)
    assert opened == [0]
    assert {r["file"] for r in rows} == {"camera:0"}
    assert sorted({int(r["frame"]) for r in rows}) == list(range(12))
    assert (tmp_path / "live.avi").exists() and (tmp_path / "camera0_summary.png").exists()


def test_video_user_mistakes(onnx_model, clip, tmp_path, capsys):
    two = ["predict", onnx_model, clip, clip, "--annotate", str(tmp_path / "x.mp4")]
    assert main(two) == 2
    assert "exactly one video or camera input" in capsys.readouterr().err
    assert main(["predict", onnx_model, clip, "--every", "-1"]) == 2
    assert main(["predict", onnx_model, "--camera", "front"]) == 2
    assert "--camera must be an integer >= 0" in capsys.readouterr().err


def test_corrupt_video_is_skipped_and_listed(onnx_model, clip, tmp_path, capsys):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    out = tmp_path / "out.csv"
    assert main(["predict", onnx_model, str(bad), clip, "--output", str(out), "--quiet"]) == 0
    rows = _rows(out)
    assert rows[0]["file"] == str(bad) and rows[0]["error"] == "cannot read video"
    assert len(rows) > FRAMES // 2
    assert f"{bad}: cannot read video (skipped)" in capsys.readouterr().err


def test_faces_are_batched_across_frames(onnx_model, clip):
    predictor = ferzoo.Predictor(onnx_model, batch_size=8, detect=False)
    sizes = []
    predict = predictor.engine.predict
    predictor.engine.predict = lambda batch: sizes.append(len(batch)) or predict(batch)
    frames = inputs.frames(inputs.Source("video", clip))
    results = list(predictor.stream((f.index, f.image) for f in frames))
    assert [k for k, _ in results] == list(range(FRAMES)) and sizes == [8, 8, 8, 6]


def test_progress_bar_draws_on_a_terminal_only():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    quiet, tty = io.StringIO(), Tty()
    for stream in (quiet, tty):
        with Progress(4, "clip.mp4", "frames", stream=stream) as bar:
            for _ in range(4):
                bar.update()
    assert quiet.getvalue() == ""
    assert "\rclip.mp4 [" in tty.getvalue() and "4/4 frames" in tty.getvalue()
    off = Tty()
    with Progress(4, enabled=False, stream=off) as bar:
        bar.update(4)
    assert off.getvalue() == ""


def test_expression_shares_count_the_frames():
    timeline = [(0.0, "happiness"), (0.1, "happiness"), (0.2, None), (1.0, "anger")]
    starts, shares, width = video.expression_shares(timeline, CLASSES, bins=2, min_frames=1)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    happy, anger = CLASSES.index("happiness"), CLASSES.index("anger")
    np.testing.assert_allclose(shares[0, [happy, -1]], [2 / 3, 1 / 3])
    assert shares[1, anger] == 1.0 and starts.tolist() == [0.0, 0.5] and width == 0.5
    # Bins hold 5 frames or more: 4 frames make one bin.
    assert len(video.expression_shares(timeline, CLASSES)[0]) == 1


def test_prefetch_thread_keeps_order_and_errors(onnx_model, clip):
    predictor = ferzoo.Predictor(onnx_model, batch_size=4, detect=False)
    frames = [(f.index, f.image) for f in inputs.frames(inputs.Source("video", clip), every=3)]
    plain = list(predictor.stream(frames))
    ahead = list(predictor.stream(frames, prefetch=2))
    assert [k for k, _ in ahead] == [k for k, _ in plain] == list(range(0, FRAMES, 3))
    assert ahead[4][1][0]["scores"] == pytest.approx(plain[4][1][0]["scores"], abs=1e-6)

    def broken():
        yield frames[0]
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        list(predictor.stream(broken(), prefetch=2))
