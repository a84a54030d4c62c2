"""`ferzoo.Predictor`: find the faces, crop them as the datasets did, classify them in batches.

Each face goes through the datasets' own steps: the detector (`ferzoo.face.find_faces`; the one
the model's data was prepared with unless another is named), each box widened by the datasets'
margin (as `face.largest_face` widens the one a dataset stores), then `ferzoo.data.preprocess`
(crop, or align by the five landmarks where the model was trained on aligned faces; resize,
RGB, [0, 1]) and, where the run recorded one, the mean/std normalisation. Faces are batched across images and video frames
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
        detect: find faces (True), or classify each image whole (False: for pictures that
            are already face crops).
        detector: which detector finds them (`ferzoo.face.DETECTORS`); None: the one the
            model's training data was prepared with (config.json's or the export's `face`),
            else "yunet". One object serves every image and frame of the predictor.
        margin: how far each detected box is widened on each side (the datasets' margin).
        threads: ONNX Runtime intra-op threads (None: its default); ignored for Keras.
        runtime: what runs an `.onnx` model: "onnxruntime" (default) or "openvino".

    Faces are aligned by their landmarks exactly when the model was trained on aligned faces
    (its `face["align"]`); such a model with a detector that gives no landmarks (haar) is a
    ValueError, as it would see other crops than it learnt on.

    Attributes:
        class_names, image_size, normalization, info: the model's facts; `engine` the engine.
        align: whether faces are aligned; `crop_facts` what every record says about the crop.

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
        detector: str | None = None,
    ) -> None:
        self.batch_size = _check_positive("batch_size", batch_size)
        if threads is not None:
            _check_positive("threads", threads)
        if margin < 0:
            raise ValueError(f"margin must be >= 0. Received: margin={margin}")
        if detector is not None:
            face_lib.check_detector(detector)
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
        self._set_detector(detector)

    def _set_detector(self, detector: str | None) -> None:
        trained = self.info.get("face") or {}
        self.align = bool(trained.get("align")) and self.detect
        name = detector or trained.get("detector") or face_lib.DEFAULT_DETECTOR
        self.detector = face_lib.get_detector(name) if self.detect else None
        if self.align and not self.detector.has_landmarks:
            raise ValueError(
                f"This model was trained on faces aligned by their landmarks, which the {name} "
                "detector does not give: use --detector yunet. Received: detector={name!r}"
            )
        self.crop_facts = {"detector": "none", "detector_version": "", "aligned": False}
        if self.detect:
            self.crop_facts = {**self.detector.describe(), "aligned": self.align}

    # --- the steps ------------------------------------------------------------------------------

    def faces(self, image: np.ndarray) -> list[face_lib.Face | None]:
        """The faces of an image (`ferzoo.face.find_faces` with this predictor's detector),
        largest first (`[None]`, the whole image, with `detect=False`)."""
        if not self.detect:
            return [None]
        return face_lib.find_faces(image, self.detector, self.margin)

    def crop(self, image: np.ndarray, found: face_lib.Face | None) -> np.ndarray:
        """One face as the model takes it: `preprocess` (the box crop, or the aligned crop for
        a model trained on aligned faces) and the run's normalisation."""
        box = None if found is None else found.box
        marks = found.landmarks if found is not None and self.align else None
        x = imaging.preprocess(image, self.image_size, box, marks)
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

    def face_record(self, index: int, found, row: np.ndarray) -> dict[str, Any]:
        """A face's record: `face`, `box` (whole image: [0, 0, 1, 1]), `label`, `score`,
        `scores` (class -> score), then `crop_facts`."""
        k = int(np.argmax(row))
        box = (0.0, 0.0, 1.0, 1.0) if found is None else found.box
        return {
            "face": index,
            "box": [round(float(b), 6) for b in box],
            "label": self.class_names[k],
            "score": float(row[k]),
            "scores": {n: float(s) for n, s in zip(self.class_names, row, strict=True)},
            **self.crop_facts,
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
            found = self.faces(image)
            yield key, (found if found else NO_FACE), [self.crop(image, f) for f in found]

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
            (`NO_FACE`, `UNREADABLE`). Every item is detected by the predictor's one detector
            object, in order (`prefetch` runs it in the second thread).
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
            f"image_size={self.image_size}, batch_size={self.batch_size}, "
            f"detector={self.crop_facts['detector']}, aligned={self.align})"
        )
