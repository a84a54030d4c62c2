"""Drawing predictions: boxes and labels on images and video frames, and a per-video summary.

- `draw_faces(image, faces)` draws each face's box and `label score` (returns BGR for OpenCV).
- `VideoAnnotator(path, fps, size)` writes annotated frames to a video file (`.mp4`, `.avi`,
  ...; the codec follows the suffix).
- `plot_summary(timeline, class_names, path)` draws the share of each expression over time:
  the video cut into time bins (at most 40, of 5 frames or more), each bin's frames counted by
  the label of their largest face (frames without a face in grey), as stacked bars; the legend
  gives each share over the whole video.

Example:

    from ferzoo.serving import video

    timeline = [(0.0, "happiness"), (0.5, "happiness"), (1.0, None)]   # (time_s, label | None)
    video.plot_summary(timeline, class_names, "clip_summary.png", title="clip.mp4")
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ferzoo import files

_FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "XVID"}
_GREEN = (0, 200, 0)


def _pixel_box(box: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
    ymin, xmin, ymax, xmax = box
    return (
        round(xmin * width),
        round(ymin * height),
        round(xmax * width) - 1,
        round(ymax * height) - 1,
    )


def draw_faces(image: np.ndarray, faces: Sequence[dict[str, Any]], note: str = "") -> np.ndarray:
    """The image (RGB) as BGR with every face's box and `label score` drawn, and `note` (e.g.
    "no face found") in the top-left corner."""
    canvas = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    h, w = canvas.shape[:2]
    thickness = max(1, round(min(h, w) / 200))
    scale = max(0.35, min(h, w) / 500)
    for face in faces:
        x0, y0, x1, y1 = _pixel_box(face["box"], h, w)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), _GREEN, thickness)
        text = f"{face['label']} {face['score']:.2f}"
        origin = (x0, max(12, y0 - 4))
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, _GREEN, thickness)
    if note:
        cv2.putText(canvas, note, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 255), thickness)
    return canvas


def unique_path(folder: str, stem: str, suffix: str) -> str:
    """`folder/stem.suffix`, or `stem-1.suffix`, ... when that exists."""
    out = os.path.join(folder, f"{stem}{suffix}")
    n = 1
    while os.path.exists(out):
        out = os.path.join(folder, f"{stem}-{n}{suffix}")
        n += 1
    return out


class VideoAnnotator:
    """Write annotated frames (RGB in, drawn by `draw_faces`) to a video file.

    The file is written under a temporary name and renamed by `close()`.

    Raises:
        ValueError: when OpenCV cannot write a video with that suffix.
    """

    def __init__(self, path: str, fps: float, size: tuple[int, int]) -> None:
        suffix = os.path.splitext(path)[1].lower()
        self.path = path
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        self._tmp = os.path.join(folder, f".tmp-{os.getpid()}-{os.path.basename(path)}")
        fourcc = cv2.VideoWriter_fourcc(*_FOURCC.get(suffix, "mp4v"))
        self.size = (int(size[0]), int(size[1]))
        self._writer = cv2.VideoWriter(self._tmp, fourcc, float(fps or 25.0), self.size)
        if not self._writer.isOpened():
            raise ValueError(
                f"OpenCV cannot write a video to {path!r}. Received: annotate={path!r}"
            )
        self.frames = 0

    def write(self, image: np.ndarray, faces: Sequence[dict[str, Any]], note: str = "") -> None:
        canvas = draw_faces(image, faces, note)
        if (canvas.shape[1], canvas.shape[0]) != self.size:
            canvas = cv2.resize(canvas, self.size)
        self._writer.write(canvas)
        self.frames += 1

    def close(self) -> None:
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        os.replace(self._tmp, self.path)


def _bins(times: np.ndarray, count: int) -> tuple[np.ndarray, float, float]:
    """The bin of each time when [first, last] is cut into `count` equal bins; (bins, lo, width)."""
    lo, hi = float(times.min()), float(times.max())
    if hi <= lo:
        return np.zeros(len(times), np.int64), lo, 1.0
    width = (hi - lo) / count
    return np.minimum(((times - lo) / width).astype(np.int64), count - 1), lo, width


def expression_shares(
    timeline: Sequence[tuple[float, str | None]],
    class_names: Sequence[str],
    bins: int = 40,
    min_frames: int = 5,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Per time bin, the share of frames of each class and of frames without a face.

    Args:
        timeline: `(time_s, label or None)` per frame.
        class_names: the classes, in the columns' order.
        bins: at most this many bins ...
        min_frames: ... of at least this many frames each, on average.

    Returns:
        `(bin starts in s (K,), shares (K, num_classes + 1), bin width in s)`, empty bins left
        out: rows sum to 1, the last column is "no face".
    """
    times = np.asarray([t for t, _ in timeline], np.float64)
    index = {n: i for i, n in enumerate(class_names)}
    labels = np.asarray([index.get(label, len(class_names)) for _, label in timeline])
    count = max(1, min(bins, len(times) // max(1, min_frames)))
    which, lo, width = _bins(times, count)
    counts = np.zeros((count, len(class_names) + 1))
    np.add.at(counts, (which, labels), 1)
    keep = counts.sum(axis=1) > 0
    starts = lo + width * np.arange(count)
    return starts[keep], counts[keep] / counts[keep].sum(axis=1, keepdims=True), width


def plot_summary(
    timeline: Sequence[tuple[float, str | None]],
    class_names: Sequence[str],
    path: str,
    title: str = "",
) -> str:
    """Plot the share of each expression over time (stacked bars per time bin) to a PNG."""
    if not timeline:
        raise ValueError(f"plot_summary needs at least one frame. Received: timeline={timeline!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    starts, shares, width = expression_shares(timeline, class_names)
    index = {n: i for i, n in enumerate(class_names)}
    overall = np.bincount(
        [index.get(label, len(class_names)) for _, label in timeline], minlength=len(index) + 1
    ) / len(timeline)
    names = [*class_names, "no face"]
    colors = [*plt.get_cmap("tab10").colors[: len(class_names)], (0.75, 0.75, 0.75)]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    bottom = np.zeros(len(starts))
    for k, name in enumerate(names):
        label = f"{name} ({100 * overall[k]:.0f} %)"
        ax.bar(
            starts, shares[:, k], width, bottom=bottom, align="edge", color=colors[k], label=label
        )
        bottom += shares[:, k]
    ax.set(xlabel="time (s)", ylabel="share of frames", ylim=(0, 1))
    ax.set_xlim(starts[0], starts[-1] + width)
    ax.set_title(title or "expressions over time")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    files.save_figure(fig, path)
    plt.close(fig)
    return path
