"""Where the pictures come from: image files, folders, video files and cameras (OpenCV).

`expand_inputs(paths)` turns command-line arguments into sources: an image file, a video file
(anything OpenCV reads, chosen by suffix), or a folder, searched recursively for both. A missing
path or a file of unknown type is the user's mistake (`ValueError`, before any work); a file of a
known type that cannot be decoded is skipped later and reported. `frames(source)` reads a video
or camera as `Frame`s (RGB), every `every`-th frame.

The camera is opened through `CAPTURE_FACTORY` (default `cv2.VideoCapture`), so a test or an
application can stand a video file, a network stream or its own reader in for the device.

Example:

    from ferzoo.serving import inputs

    for src in inputs.expand_inputs(["photos/", "clip.mp4"]):
        print(src.kind, src.path)
    for frame in inputs.frames(inputs.Source("video", "clip.mp4"), every=5):
        frame.index, frame.time_s, frame.image.shape
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")

#: Opens a camera: called with the device index (or a URL / file standing in for it).
CAPTURE_FACTORY: Callable[..., cv2.VideoCapture] = cv2.VideoCapture


@dataclass(frozen=True)
class Source:
    """One input: `kind` is "image", "video" or "camera"; `path` the file, or the camera index."""

    kind: str
    path: str

    @property
    def name(self) -> str:
        """A short name for files derived from this source (`clip`, `camera0`)."""
        if self.kind == "camera":
            return f"camera{self.path}"
        return os.path.splitext(os.path.basename(self.path))[0]


@dataclass
class Frame:
    """A decoded video frame: its index in the video, its time in seconds, RGB uint8 pixels."""

    index: int
    time_s: float
    image: np.ndarray


def kind_of(path: str) -> str | None:
    """ "image", "video" or None, from the file's suffix."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def expand_inputs(paths: Sequence[str]) -> list[Source]:
    """The sources named by `paths`: files as given, folders walked recursively (sorted).

    Raises:
        ValueError: for a path that does not exist, a file whose suffix is neither an image
            nor a video suffix, or a folder with no image or video in it.
    """
    found: list[Source] = []
    for path in paths:
        if os.path.isdir(path):
            inside = []
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    kind = kind_of(name)
                    if kind and not name.startswith("."):
                        inside.append(Source(kind, os.path.join(root, name)))
            if not inside:
                raise ValueError(
                    f"No image or video files in folder {path!r} (looked for "
                    f"{', '.join(IMAGE_SUFFIXES + VIDEO_SUFFIXES)}). Received: input={path!r}"
                )
            found += inside
        elif os.path.exists(path):
            kind = kind_of(path)
            if kind is None:
                raise ValueError(
                    f"Unknown input format {os.path.splitext(path)[1] or '(no suffix)'!r}: images "
                    f"are {', '.join(IMAGE_SUFFIXES)}; videos {', '.join(VIDEO_SUFFIXES)}. "
                    f"Received: input={path!r}"
                )
            found.append(Source(kind, path))
        else:
            raise ValueError(f"No such file or folder: {path!r}. Received: input={path!r}")
    return found


def read_image(path: str) -> np.ndarray | None:
    """Read an image file as RGB uint8 `(H, W, 3)`; None when it cannot be read or decoded."""
    try:
        data = np.fromfile(path, np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        return None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def open_capture(source: Source) -> cv2.VideoCapture:
    """An opened `cv2.VideoCapture` for a video file or a camera.

    Raises:
        ValueError: when OpenCV cannot open it (a corrupt video, a camera that is not there).
    """
    if source.kind == "camera":
        capture = CAPTURE_FACTORY(int(source.path))
    else:
        capture = cv2.VideoCapture(source.path)
    if capture is None or not capture.isOpened():
        what = f"camera {source.path}" if source.kind == "camera" else f"video {source.path!r}"
        raise ValueError(f"OpenCV cannot open {what}. Received: input={source.path!r}")
    return capture


def video_facts(capture: cv2.VideoCapture) -> tuple[float, int, tuple[int, int]]:
    """`(fps, frame count, (width, height))` as the container states them (0 where unknown)."""
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    return (fps if np.isfinite(fps) and fps > 0 else 0.0), max(count, 0), size


def frames(
    source: Source,
    *,
    every: int = 1,
    max_frames: int | None = None,
    capture: cv2.VideoCapture | None = None,
) -> Iterator[Frame]:
    """Every `every`-th frame of a video or camera (from frame 0), as RGB `Frame`s.

    Args:
        source: a "video" or "camera" `Source`.
        every: keep one frame in `every` (the others are grabbed, not converted).
        max_frames: stop after this many kept frames (a camera runs until then, or Ctrl-C).
        capture: an opened capture to read instead of opening `source`.

    Yields:
        `Frame(index, time_s, image)`; `time_s` is `index / fps`, or the capture's own
        timestamp where the container states no frame rate.
    """
    if every < 1:
        raise ValueError(f"every must be a positive int. Received: every={every!r}")
    capture = capture or open_capture(source)
    fps, _, _ = video_facts(capture)
    index, kept = -1, 0
    try:
        while max_frames is None or kept < max_frames:
            if not capture.grab():
                break
            index += 1
            if index % every:
                continue
            ok, bgr = capture.retrieve()
            if not ok or bgr is None:
                break
            time_s = index / fps if fps else capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            yield Frame(index, round(float(time_s), 6), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            kept += 1
    finally:
        capture.release()
