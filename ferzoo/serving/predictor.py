"""`ferzoo.Predictor`: find the faces, crop them as the datasets did, classify them in batches.

Each face goes through the datasets' own steps: the Haar detector (`ferzoo.face.detect_faces`),
each box widened by the datasets' margin (`ferzoo.face.widen`, as `face.face_box` widens the
largest one), then `ferzoo.data.preprocess` (crop, resize, RGB, [0, 1]) and, where the run
recorded one, the mean/std normalisation. Faces are batched across images and video frames
(`batch_size` faces per call of the engine). A `.keras` file runs on Keras, an `.onnx` file on
ONNX Runtime with no Keras or backend import.

Example:

    import ferzoo

    predictor = ferzoo.Predictor("resnet18.onnx")            # or "model.keras"
    faces = predictor.predict("photo.jpg")                   # a path or an RGB uint8 array
    faces[0]["label"], faces[0]["score"], faces[0]["box"]    # box: [ymin, xmin, ymax, xmax]
    for item, faces in predictor.stream(frames):             # (key, RGB image) pairs, batched
        ...

Reference:
    The papers (WAMF, MsC-wCA) centre-crop or align faces offline and say nothing about serving.
    ferzoo stores the crop it trained on with each example (`face_box`) and applies the same
    crop here, so that the accuracy measured on a test set carries over to photos and video.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from queue import Full, Queue
from typing import Any

import numpy as np

from ferzoo import face as face_lib
from ferzoo.data import imaging
from ferzoo.serving.engines import load_engine
from ferzoo.serving.inputs import read_image

#: The error texts of records without a face.
NO_FACE = "no face found"
UNREADABLE = "cannot read image"


def _ahead(iterator: Iterator, size: int) -> Iterator:
    """`iterator`'s items, computed up to `size` ahead in a daemon thread (errors re-raised)."""
    done = object()
    queue: Queue = Queue(maxsize=size)
    stop = threading.Event()

    def work() -> None:
        try:
            for item in iterator:
                while not stop.is_set():
                    try:
                        queue.put(item, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(done)
        except BaseException as err:  # handed to the consumer, which re-raises it
            queue.put(err)

    thread = threading.Thread(target=work, name="ferzoo-prefetch", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()


def _check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")
    return int(value)


class Predictor:
    """Classify the expressions of the faces in images and video frames.

    Args:
        model: a `.keras` or `.onnx` path, or a `keras.Model`.
        class_names: overrides the class names stored with the model.
        batch_size: faces per engine call (faces of several images or frames share a call).
        detect: find faces with the Haar detector (True), or classify each image whole (False:
            for pictures that are already face crops).
        margin: how far each detected box is widened on each side (the datasets' margin).
        threads: ONNX Runtime intra-op threads (None: its default); ignored for Keras.
        runtime: what runs an `.onnx` model: "onnxruntime" (default) or "openvino".

    Attributes:
        class_names, image_size, normalization, info: the model's facts; `engine` the engine.

    Example:
        >>> predictor = Predictor("resnet18.onnx", batch_size=32)  # doctest: +SKIP
        >>> predictor.predict(image)[0]["label"]  # doctest: +SKIP
        'happiness'
    """

    def __init__(
        self,
        model: Any,
        *,
        class_names: Sequence[str] | None = None,
        batch_size: int = 16,
        detect: bool = True,
        margin: float = face_lib.CROP_MARGIN,
        threads: int | None = None,
        runtime: str = "onnxruntime",
    ) -> None:
        self.batch_size = _check_positive("batch_size", batch_size)
        if threads is not None:
            _check_positive("threads", threads)
        if margin < 0:
            raise ValueError(f"margin must be >= 0. Received: margin={margin}")
        self.detect = bool(detect)
        self.margin = float(margin)
        self.engine = load_engine(model, class_names, threads=threads, runtime=runtime)
        self.info = self.engine.info
        self.class_names = list(self.info["class_names"])
        self.image_size = int(self.info["image_size"])
        norm = self.info.get("normalization")
        self.normalization = norm
        self._mean = None if norm is None else np.asarray(norm["mean"], np.float32)
        self._std = None if norm is None else np.asarray(norm["std"], np.float32)

    # --- the steps ------------------------------------------------------------------------------

    def boxes(self, image: np.ndarray) -> list[np.ndarray | None]:
        """The crop boxes of an image: each detected face widened, largest first (`[None]`, the
        whole image, with `detect=False`)."""
        if not self.detect:
            return [None]
        return face_lib.face_boxes(image, self.margin)

    def crop(self, image: np.ndarray, box: np.ndarray | None) -> np.ndarray:
        """One face as the model takes it: `preprocess` and the run's normalisation."""
        x = imaging.preprocess(image, self.image_size, box)
        if self._mean is not None:
            x = (x - self._mean) / self._std
        return x

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """Scores of preprocessed faces `(N, S, S, 3)`, in engine calls of `batch_size`."""
        faces = np.asarray(faces, np.float32)
        out = [
            self.engine.predict(faces[i : i + self.batch_size])
            for i in range(0, len(faces), self.batch_size)
        ]
        if not out:
            return np.zeros((0, len(self.class_names)), np.float32)
        return np.concatenate(out)

    def face_record(self, index: int, box, row: np.ndarray) -> dict[str, Any]:
        """A face's record: `face`, `box` (whole image: [0, 0, 1, 1]), `label`, `score`,
        `scores` (class -> score)."""
        k = int(np.argmax(row))
        box = (0.0, 0.0, 1.0, 1.0) if box is None else box
        return {
            "face": index,
            "box": [round(float(b), 6) for b in box],
            "label": self.class_names[k],
            "score": float(row[k]),
            "scores": {n: float(s) for n, s in zip(self.class_names, row, strict=True)},
        }

    # --- the entry points -----------------------------------------------------------------------

    def predict(self, image: np.ndarray | str) -> list[dict[str, Any]]:
        """The faces of one image (an RGB array or a path), largest first; [] when none.

        Raises:
            ValueError: when a path cannot be read as an image.
        """
        if isinstance(image, str):
            path, image = image, read_image(image)
            if image is None:
                raise ValueError(f"Cannot read an image from {path!r}. Received: image={path!r}")
        ((_, result),) = list(self.stream([(0, image)]))
        return [] if isinstance(result, str) else result

    def _prepare(self, items):
        """`(key, boxes or error, crops)` per item: the detect-and-crop half of `stream`."""
        for key, image in items:
            if image is None:
                yield key, UNREADABLE, []
                continue
            boxes = self.boxes(image)
            yield key, (boxes if boxes else NO_FACE), [self.crop(image, box) for box in boxes]

    def stream(
        self,
        items: Iterable[tuple[Any, np.ndarray | None]],
        *,
        flush_each: bool = False,
        prefetch: int = 0,
    ) -> Iterator[tuple[Any, list[dict[str, Any]] | str]]:
        """Classify a stream of images, batching faces across them; results in input order.

        Args:
            items: `(key, image)` pairs; `image` an RGB (or grayscale) uint8 array, or None for
                an item that could not be read.
            flush_each: classify after every item (a live camera) instead of filling batches.
            prefetch: read, detect and crop up to this many items ahead in a second thread,
                while the model runs (OpenCV and ONNX Runtime release the GIL); 0: no thread.

        Yields:
            `(key, faces)`: the list of `face_record`s of the item, or an error string
            (`NO_FACE`, `UNREADABLE`).
        """
        pending: list[tuple[Any, list | str]] = []
        crops: list[np.ndarray] = []
        prepared = self._prepare(items)
        if prefetch:
            prepared = _ahead(prepared, prefetch)
        for key, boxes, faces in prepared:
            pending.append((key, boxes))
            crops += faces
            if flush_each or len(crops) >= self.batch_size:
                yield from self._flush(pending, crops)
                pending, crops = [], []
        yield from self._flush(pending, crops)

    def _flush(self, pending, crops) -> Iterator[tuple[Any, list[dict[str, Any]] | str]]:
        scores = self.classify(np.stack(crops)) if crops else None
        start = 0
        for key, boxes in pending:
            if isinstance(boxes, str):
                yield key, boxes
                continue
            rows = scores[start : start + len(boxes)]
            start += len(boxes)
            yield (
                key,
                [
                    self.face_record(i, b, r)
                    for i, (b, r) in enumerate(zip(boxes, rows, strict=True))
                ],
            )

    def __repr__(self) -> str:
        return (
            f"Predictor({self.engine.kind}, classes={len(self.class_names)}, "
            f"image_size={self.image_size}, batch_size={self.batch_size}, detect={self.detect})"
        )
