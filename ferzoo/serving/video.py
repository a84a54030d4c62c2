"""Drawing predictions: boxes and labels on images and video frames, and a per-video summary.

- `draw_faces(image, faces)` draws each face's box and `label score` (returns BGR for OpenCV).
- `VideoAnnotator(path, fps, size)` writes annotated frames to a video file (`.mp4`, `.avi`,
  ...; the codec follows the suffix).
- `plot_summary(timeline, class_names, path)` draws the share of each expression over time:
  the video cut into time bins, each bin's frames counted by the label of their largest face
  (frames without a face in grey), as stacked areas; the legend gives the share over the video.

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


def _bins(times: np.ndarray, count: int) -> np.ndarray:
    """The bin of each time when [first, last] is cut into `count` equal bins."""
    lo, hi = float(times.min()), float(times.max())
    if hi <= lo:
        return np.zeros(len(times), np.int64)
    return np.minimum(((times - lo) / (hi - lo) * count).astype(np.int64), count - 1)


def expression_shares(
    timeline: Sequence[tuple[float, str | None]], class_names: Sequence[str], bins: int = 40
) -> tuple[np.ndarray, np.ndarray]:
    """Per time bin, the share of frames of each class and of frames without a face.

    Returns:
        `(bin centres in s (K,), shares (K, num_classes + 1))`: rows sum to 1, the last column
        is "no face".
    """
    times = np.asarray([t for t, _ in timeline], np.float64)
    index = {n: i for i, n in enumerate(class_names)}
    labels = np.asarray([index.get(label, len(class_names)) for _, label in timeline])
    count = max(1, min(bins, len(times)))
    which = _bins(times, count)
    counts = np.zeros((count, len(class_names) + 1))
    np.add.at(counts, (which, labels), 1)
    keep = counts.sum(axis=1) > 0
    centres = np.array([times[which == b].mean() for b in range(count) if keep[b]])
    counts = counts[keep]
    return centres, counts / counts.sum(axis=1, keepdims=True)


def plot_summary(
    timeline: Sequence[tuple[float, str | None]],
    class_names: Sequence[str],
    path: str,
    title: str = "",
) -> str:
    """Plot the share of each expression over time (stacked areas) to a PNG; returns `path`."""
    if not timeline:
        raise ValueError(f"plot_summary needs at least one frame. Received: timeline={timeline!r}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    centres, shares = expression_shares(timeline, class_names)
    overall = np.zeros(len(class_names) + 1)
    index = {n: i for i, n in enumerate(class_names)}
    for _, label in timeline:
        overall[index.get(label, len(class_names))] += 1
    overall /= overall.sum()
    names = [*class_names, "no face"]
    colors = [*plt.get_cmap("tab10").colors[: len(class_names)], (0.75, 0.75, 0.75)]
    fig, ax = plt.subplots(figsize=(9, 3.6))
    if len(centres) == 1:  # one bin: draw it as a bar over the whole (single) instant
        centres = np.array([centres[0] - 0.5, centres[0] + 0.5])
        shares = np.repeat(shares, 2, axis=0)
    labels = [f"{n} ({100 * s:.0f} %)" for n, s in zip(names, overall, strict=True)]
    ax.stackplot(centres, shares.T, labels=labels, colors=colors[: len(names)])
    ax.set(xlabel="time (s)", ylabel="share of frames", ylim=(0, 1), xlim=(centres[0], centres[-1]))
    ax.set_title(title or "expressions over time")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    files.save_figure(fig, path)
    plt.close(fig)
    return path
