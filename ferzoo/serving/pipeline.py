"""Run a `Predictor` over images, folders, videos and cameras: records, annotations, summaries.

`predict_sources(predictor, sources, ...)` reads the sources in order (images decoded, videos
and cameras read frame by frame), lets the predictor batch the faces across images and frames,
and for each result writes its records (`RecordWriter`), draws it (`--annotate`: a PNG per
image, an annotated video per video) and, per video, keeps the timeline of its largest face's
label for the summary plot. Bad files are skipped, recorded and returned in `failures`.

Example:

    import ferzoo
    from ferzoo.serving import inputs, pipeline
    from ferzoo.serving.records import RecordWriter

    predictor = ferzoo.Predictor("resnet18.onnx")
    with RecordWriter("clip.csv", predictor.class_names) as writer:
        stats = pipeline.predict_sources(
            predictor, inputs.expand_inputs(["clip.mp4"]), writer=writer, every=2,
            summary_dir="out/",
        )
    stats.faces, stats.frames, stats.summaries
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ferzoo.serving import inputs as src
from ferzoo.serving import video
from ferzoo.serving.predictor import NO_FACE, Predictor
from ferzoo.serving.progress import Progress
from ferzoo.serving.records import RecordWriter


@dataclass
class RunStats:
    """What a run did: faces classified, images and frames read, files written, failures."""

    faces: int = 0
    images: int = 0
    frames: int = 0
    no_face: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    annotated: list[str] = field(default_factory=list)
    summaries: list[str] = field(default_factory=list)


def check_annotate(annotate: str | None, sources: Sequence[src.Source]) -> None:
    """A video file for `--annotate` needs exactly one video or camera source.

    Raises:
        ValueError: naming the sources otherwise.
    """
    if annotate is None or src.kind_of(annotate) != "video":
        return
    kinds = [s.kind for s in sources]
    if len(kinds) != 1 or kinds[0] == "image":
        raise ValueError(
            "--annotate with a video file name takes exactly one video or camera input (give a "
            f"folder to annotate several). Received: annotate={annotate!r}, inputs="
            f"{[s.path for s in sources]}"
        )


class _Outputs:
    """The per-source side of a run: annotated files and summaries (one source at a time)."""

    def __init__(self, predictor, annotate, summary_dir, every, stats) -> None:
        self.predictor, self.annotate, self.summary_dir = predictor, annotate, summary_dir
        self.every, self.stats = every, stats
        self.source: src.Source | None = None
        self.annotator: video.VideoAnnotator | None = None
        self.timeline: list[tuple[float, str | None]] = []
        self.fps = 0.0

    def start(self, source: src.Source, fps: float = 0.0) -> None:
        self.finish()
        self.source, self.fps, self.timeline = source, fps, []

    def add(self, frame: src.Frame | None, image, faces: list[dict], note: str) -> None:
        if frame is not None:
            self.timeline.append((frame.time_s, faces[0]["label"] if faces else None))
        if not self.annotate or image is None:
            return
        if frame is None:
            os.makedirs(self.annotate, exist_ok=True)
            out = video.unique_path(self.annotate, self.source.name, ".png")
            import cv2

            cv2.imwrite(out, video.draw_faces(image, faces, note))
            self.stats.annotated.append(out)
            return
        if self.annotator is None:
            path = self.annotate
            if src.kind_of(path) != "video":
                path = video.unique_path(path, self.source.name, ".mp4")
            fps = (self.fps or 25.0) / self.every
            self.annotator = video.VideoAnnotator(path, fps, (image.shape[1], image.shape[0]))
        self.annotator.write(image, faces, note)

    def finish(self) -> None:
        if self.annotator is not None:
            self.annotator.close()
            self.stats.annotated.append(self.annotator.path)
            self.annotator = None
        if self.summary_dir and self.source is not None and self.timeline:
            out = os.path.join(self.summary_dir, f"{self.source.name}_summary.png")
            title = f"{os.path.basename(self.source.path)}: expressions over time"
            if self.source.kind == "camera":
                title = f"camera {self.source.path}: expressions over time"
            video.plot_summary(self.timeline, self.predictor.class_names, out, title=title)
            self.stats.summaries.append(out)
        self.source, self.timeline = None, []


def _items(
    sources: Sequence[src.Source], every: int, max_frames: int | None, quiet: bool, stats
) -> Iterator[tuple[tuple, Any]]:
    """`((source, frame, fps, image), image)` for every image and kept frame, in order; `frame`
    is None for a still image, "unreadable" or "empty" for a video that gave no frame."""
    images = [s for s in sources if s.kind == "image"]
    bar = Progress(len(images), "images", "files", enabled=False if quiet else None)
    bar.enabled = bar.enabled and len(images) > 1
    for source in sources:
        if source.kind == "image":
            stats.images += 1
            bar.update()
            image = src.read_image(source.path)
            yield (source, None, 0.0, image), image
            continue
        try:
            capture = src.open_capture(source)
        except ValueError:
            yield (source, "unreadable", 0.0, None), None
            continue
        fps, count, _ = src.video_facts(capture)
        total = -(-count // every) if count else 0
        if max_frames:
            total = min(total, max_frames) if total else max_frames
        label = os.path.basename(source.path) if source.kind == "video" else source.name
        with Progress(total, label, "frames", enabled=False if quiet else None) as frames_bar:
            read = 0
            for frame in src.frames(source, every=every, max_frames=max_frames, capture=capture):
                read += 1
                stats.frames += 1
                frames_bar.update()
                yield (source, frame, fps, frame.image), frame.image
        if not read:
            yield (source, "empty", fps, None), None
    bar.close()


def predict_sources(
    predictor: Predictor,
    sources: Sequence[src.Source],
    *,
    writer: RecordWriter | None = None,
    every: int = 1,
    max_frames: int | None = None,
    annotate: str | None = None,
    summary_dir: str | None = None,
    quiet: bool = False,
    records: list[dict[str, Any]] | None = None,
    stats: RunStats | None = None,
    prefetch: int = 0,
) -> RunStats:
    """Classify every face of every source (see the module docstring).

    Args:
        predictor: the `Predictor`.
        sources: from `inputs.expand_inputs` (and `Source("camera", "0")` for a camera).
        writer: where the records go, if anywhere.
        every: keep every `every`-th video frame.
        max_frames: stop each video or camera after this many kept frames.
        annotate: a folder (PNG per image, `<name>.mp4` per video) or, for one video or
            camera, a video file.
        summary_dir: where each video's `<name>_summary.png` goes (None: none).
        quiet: no progress bars.
        records: if given, every record is appended to it as well.
        stats: a `RunStats` to fill (so a caller that stops the run with Ctrl-C keeps it).
        prefetch: decode, detect and crop this many items ahead in a second thread
            (`Predictor.stream`); 0: one thread.

    Returns:
        A `RunStats`.
    """
    if every < 1 or isinstance(every, bool):
        raise ValueError(f"every must be a positive int. Received: every={every!r}")
    check_annotate(annotate, sources)
    stats = RunStats() if stats is None else stats
    outputs = _Outputs(predictor, annotate, summary_dir, every, stats)
    live = any(s.kind == "camera" for s in sources)
    items = _items(sources, every, max_frames, quiet, stats)
    stream = predictor.stream(items, flush_each=live, prefetch=prefetch)
    try:
        for (source, frame, fps, image), result in stream:
            if source is not outputs.source:
                outputs.start(source, fps)
            new = _records(source, frame, result, stats)
            if frame is None or isinstance(frame, src.Frame):
                faces, note = ([], result) if isinstance(result, str) else (result, "")
                outputs.add(frame, image, faces, note)
            if writer is not None:
                writer.write_all(new)
            if records is not None:
                records.extend(new)
    finally:
        outputs.finish()
    return stats


def _records(source, frame, result, stats: RunStats) -> list[dict[str, Any]]:
    is_frame = isinstance(frame, src.Frame)
    base = {
        "file": source.path if source.kind != "camera" else f"camera:{source.path}",
        "frame": frame.index if is_frame else None,
        "time_s": frame.time_s if is_frame else None,
    }
    if isinstance(result, str):
        error = result
        if frame == "unreadable":
            error = "cannot read video" if source.kind == "video" else "cannot open camera"
        elif frame == "empty":
            error = "no frames read"
        if error == NO_FACE:
            stats.no_face += 1
        else:
            stats.failures.append((base["file"], error))
        return [{**base, "error": error}]
    stats.faces += len(result)
    return [{**base, **face} for face in result]
