"""Procedurally drawn faces with seven expressions: the demo and test data (no download).

Each subject gets an identity (face shape, skin and hair tone, hair style, eye spacing and size,
brow thickness, mouth width, glasses, a resting expression bias, a habitual head pose) and each
image adds its own pose (position, scale, rotation), lighting, background, sensor noise and
sometimes an occluding blob. The expression changes only the brows, the eyes and the mouth (and
nose wrinkles for disgust), at a random intensity in [`_INTENSITY_FLOOR`, 1], so the classes
differ in facial features only and low-intensity images of neighbouring classes look alike.

The cues are sized for the uses of the set: a ResNet18 at 64 px learns the default set to about
90 % in a few epochs, and a tiny ResNet at 32 px still gets well above chance (the measured
figures and their commands are in datasets/synthetic_faces/README.md).

The class order is `CLASS_NAMES`: anger, disgust, fear, happiness, neutral, sadness, surprise.

Example:

    import numpy as np
    from ferzoo import synthetic

    rng = np.random.default_rng(0)
    subject = synthetic.subject_params(rng)
    image = synthetic.draw_face(rng, subject, label=3, size=96)   # happiness, uint8 (96, 96, 3)
    images, labels, subject_ids = synthetic.generate_arrays(num_subjects=4, images_per_class=1)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

CLASS_NAMES = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")

# Expression parameters at full intensity; 0 (and eye_open 1, mouth_width 1) is neutral.
#   brow_raise: both brows up (+) / down (-);  brow_tilt: inner ends down (+, anger) / up (-, sad)
#   eye_open: eye-opening factor;  mouth_curve: corners up (+) / down (-)
#   mouth_open: gap between the lips;  mouth_width: width factor;  wrinkle: nose wrinkles
#   lip_raise: upper lip raised (disgust), asym: one mouth corner higher than the other
_EXPRESSIONS: dict[str, dict[str, float]] = {
    "anger": dict(brow_raise=-0.7, brow_tilt=1.2, eye_open=0.7, mouth_curve=-0.3, mouth_width=0.75),
    "disgust": dict(brow_raise=-0.3, brow_tilt=0.2, eye_open=0.5, mouth_curve=-0.5, mouth_open=0.3,
                    wrinkle=1.0, lip_raise=1.0, asym=1.0),
    "fear": dict(brow_raise=0.7, brow_tilt=-0.9, eye_open=1.6, mouth_curve=-0.4, mouth_open=0.45,
                 mouth_width=1.3),
    "happiness": dict(eye_open=0.7, mouth_curve=1.2, mouth_open=0.45, mouth_width=1.25),
    "neutral": dict(),
    "sadness": dict(brow_raise=0.15, brow_tilt=-1.2, eye_open=0.75, mouth_curve=-1.1, mouth_width=0.95),
    "surprise": dict(brow_raise=1.2, eye_open=1.7, mouth_open=1.2, mouth_width=0.65),
}  # fmt: skip
_NEUTRAL = dict(
    brow_raise=0.0,
    brow_tilt=0.0,
    eye_open=1.0,
    mouth_curve=0.0,
    mouth_open=0.0,
    mouth_width=1.0,
    wrinkle=0.0,
    lip_raise=0.0,
    asym=0.0,
)

_INTENSITY_FLOOR = 0.65  # the weakest expression drawn, as a fraction of the full one
_OCCLUSION = 0.2  # the fraction of images with an occluding blob
_SUPERSAMPLE = 2  # draw at twice the size and downsample with area averaging (anti-aliasing)


def subject_params(rng: np.random.Generator) -> dict[str, Any]:
    """Sample one subject's identity.

    Args:
        rng: NumPy random generator.

    Returns:
        A dict of identity parameters for `draw_face`.
    """
    skin = np.array([rng.uniform(140, 235), 0.0, 0.0])
    skin[1] = skin[0] * rng.uniform(0.72, 0.9)
    skin[2] = skin[1] * rng.uniform(0.7, 0.92)
    hair_level = rng.uniform(15, 120)
    return dict(
        aspect=rng.uniform(0.68, 0.86),  # face width / height
        jaw=rng.uniform(0.0, 0.25),  # how much the lower face narrows
        skin=skin,
        hair=np.array([hair_level, hair_level * rng.uniform(0.7, 0.95), hair_level * 0.6]),
        hair_line=rng.uniform(-0.75, -0.5),  # fringe height in face coordinates
        hair_side=rng.uniform(0.0, 0.25),
        eye_sep=rng.uniform(0.33, 0.45),
        eye_y=rng.uniform(-0.2, -0.08),
        eye_size=rng.uniform(0.8, 1.2),
        iris=np.array([rng.uniform(20, 90)] * 3) * np.array([1.0, rng.uniform(0.8, 1.2), 0.8]),
        brow_thick=rng.uniform(0.05, 0.085),
        brow_len=rng.uniform(0.35, 0.5),
        brow_gap=rng.uniform(0.13, 0.2),
        mouth_y=rng.uniform(0.42, 0.52),
        mouth_w=rng.uniform(0.26, 0.36),
        lip=rng.uniform(0.55, 0.85),  # lip colour darkness relative to skin
        nose_len=rng.uniform(0.18, 0.3),
        glasses=bool(rng.uniform() < 0.2),
        # a resting expression: some people look a little sad or happy when neutral
        bias=dict(mouth_curve=rng.normal(0, 0.15), brow_tilt=rng.normal(0, 0.15)),
        pose=dict(
            dx=rng.uniform(-0.05, 0.05),
            dy=rng.uniform(-0.05, 0.05),
            scale=rng.uniform(0.85, 1.05),
            angle=rng.uniform(-8, 8),
        ),
    )


def _expression(label: int, intensity: float, bias: dict[str, float]) -> dict[str, float]:
    target = dict(_NEUTRAL, **_EXPRESSIONS[CLASS_NAMES[label]])
    expr = {k: _NEUTRAL[k] + intensity * (target[k] - _NEUTRAL[k]) for k in _NEUTRAL}
    for key, value in bias.items():
        expr[key] += value
    return expr


class _Face:
    """The face layer being drawn: upright and centred, with its alpha mask (supersampled)."""

    def __init__(self, s: int, subject: dict[str, Any], expr: dict[str, float]):
        self.s, self.subject, self.expr = s, subject, expr
        self.layer = np.zeros((s, s, 3), np.float32)
        self.alpha = np.zeros((s, s), np.float32)
        self.a = 0.34 * s  # half-height of the face
        self.b = self.a * subject["aspect"]  # half-width
        self.cx = self.cy = s / 2.0

    def pt(self, u: float, v: float) -> tuple[int, int]:
        return (round(self.cx + u * self.b), round(self.cy + v * self.a))


def _col(c: np.ndarray) -> tuple[float, float, float]:
    return tuple(float(x) for x in np.clip(c, 0, 255))


def _draw_head(f: _Face, skin: np.ndarray) -> None:
    """Hair behind the head, the face (narrowing to the jaw), ears, fringe."""
    layer, alpha, subject, a, b, cx, cy = f.layer, f.alpha, f.subject, f.a, f.b, f.cx, f.cy
    pt, col, aa = f.pt, _col, cv2.LINE_AA
    hair = subject["hair"]
    # hair behind the head
    cv2.ellipse(layer, pt(0, -0.1), (round(b * (1.1 + subject["hair_side"])), round(a * 1.02)),
                0, 180, 360, col(hair), -1, aa)  # fmt: skip
    cv2.ellipse(alpha, pt(0, -0.1), (round(b * (1.1 + subject["hair_side"])), round(a * 1.02)),
                0, 180, 360, 1.0, -1, aa)  # fmt: skip
    # the face: an ellipse whose lower half narrows by `jaw`
    head = cv2.ellipse2Poly(pt(0, 0), (round(b), round(a)), 0, 0, 360, 4)
    head = head.astype(np.float32)
    lower = head[:, 1] > cy
    head[lower, 0] = cx + (head[lower, 0] - cx) * (1 - subject["jaw"] * (head[lower, 1] - cy) / a)
    head = head.round().astype(np.int32)
    cv2.fillPoly(layer, [head], col(skin), aa)
    cv2.fillPoly(alpha, [head], 1.0, aa)
    # ears
    for side in (-1, 1):
        cv2.ellipse(layer, pt(side * 0.98, -0.02), (round(0.12 * b), round(0.2 * a)), 0, 0, 360,
                    col(skin * 0.92), -1, aa)  # fmt: skip
        cv2.ellipse(alpha, pt(side * 0.98, -0.02), (round(0.12 * b), round(0.2 * a)), 0, 0, 360,
                    1.0, -1, aa)  # fmt: skip
    # fringe
    fringe = np.array(
        [pt(u, subject["hair_line"] + 0.08 * math.sin(3 * u + subject["hair_side"] * 9))
         for u in np.linspace(-1.05, 1.05, 15)]
        + [pt(1.05, -1.05), pt(-1.05, -1.05)], np.int32)  # fmt: skip
    cv2.fillPoly(layer, [fringe], col(hair), aa)


def _draw_eyes(f: _Face, skin: np.ndarray) -> None:
    """Brows (raise and tilt), eyes (openness), lids, and glasses for some subjects."""
    layer, subject, expr, a, b, s = f.layer, f.subject, f.expr, f.a, f.b, f.s
    pt, col, aa = f.pt, _col, cv2.LINE_AA
    hair = subject["hair"]
    dark = col(hair * 0.8)
    thick = max(1, round(subject["brow_thick"] * a))
    eye_y = subject["eye_y"]
    sep = subject["eye_sep"]
    for side in (-1, 1):
        # brows: the inner end moves with brow_tilt, both ends with brow_raise
        base = eye_y - 0.2
        inner_v = base - 0.14 * expr["brow_raise"] + 0.12 * expr["brow_tilt"]
        outer_v = base - 0.14 * expr["brow_raise"] - 0.04 * expr["brow_tilt"]
        inner_u = side * subject["brow_gap"]
        outer_u = side * (subject["brow_gap"] + subject["brow_len"])
        mid_u = (inner_u + outer_u) / 2
        mid_v = (inner_v + outer_v) / 2 - 0.035
        brow = np.array([pt(inner_u, inner_v), pt(mid_u, mid_v), pt(outer_u, outer_v)], np.int32)
        cv2.polylines(layer, [brow], False, dark, thick, aa)

        # eyes: white, iris, upper lid; openness from eye_open
        ex, ey = side * sep, eye_y
        ew = 0.18 * subject["eye_size"]
        eh = max(0.015, 0.08 * subject["eye_size"] * expr["eye_open"])
        center = pt(ex, ey)
        axes = (max(1, round(ew * b)), max(1, round(eh * a)))
        cv2.ellipse(layer, center, axes, 0, 0, 360, (245, 245, 240), -1, aa)
        iris_r = max(1, min(round(0.075 * subject["eye_size"] * a), axes[1]))
        cv2.circle(layer, center, iris_r, col(subject["iris"]), -1, aa)
        cv2.circle(layer, center, max(1, iris_r // 2), (10, 10, 10), -1, aa)
        # lids: cover the eye above and below the opening with skin again
        cv2.ellipse(layer, center, axes, 0, 180, 360, col(skin * 0.45), max(1, s // 90), aa)
        cv2.ellipse(layer, center, axes, 0, 0, 180, col(skin * 0.7), max(1, s // 160), aa)
        if subject["glasses"]:
            cv2.circle(layer, center, round(0.27 * b), (30, 30, 30), max(1, s // 70), aa)

    if subject["glasses"]:
        cv2.line(layer, pt(-sep + 0.27, eye_y), pt(sep - 0.27, eye_y), (30, 30, 30),
                 max(1, s // 70), aa)  # fmt: skip


def _draw_nose(f: _Face, skin: np.ndarray) -> None:
    layer, subject, expr, s = f.layer, f.subject, f.expr, f.s
    pt, col, aa, eye_y = f.pt, _col, cv2.LINE_AA, f.subject["eye_y"]
    # nose, and wrinkles on its bridge for disgust
    nl = subject["nose_len"]
    nose = np.array([pt(0.02, eye_y + 0.05), pt(0.07, eye_y + 0.05 + nl), pt(-0.06, eye_y + 0.08 + nl)],
                    np.int32)  # fmt: skip
    cv2.polylines(layer, [nose], False, col(skin * 0.65), max(1, s // 110), aa)
    if expr["wrinkle"] > 0.3:
        for k in range(3):
            v = eye_y + 0.02 + 0.04 * k
            cv2.line(layer, pt(-0.09, v), pt(0.09, v + 0.01), col(skin * (1 - 0.35 * expr["wrinkle"])),
                     max(1, s // 130), aa)  # fmt: skip


def _draw_mouth(f: _Face, skin: np.ndarray) -> None:
    layer, subject, expr, s = f.layer, f.subject, f.expr, f.s
    pt, col, aa = f.pt, _col, cv2.LINE_AA
    # mouth: two lip curves; corners move with mouth_curve, gap with mouth_open
    my = subject["mouth_y"]
    mw = subject["mouth_w"] * expr["mouth_width"]
    us = np.linspace(-1, 1, 21)
    corner = -0.17 * expr["mouth_curve"]  # corners up when curve > 0
    asym = 0.08 * expr["asym"] * us  # one corner higher
    bend = corner * us**2 + asym
    gap = 0.2 * expr["mouth_open"]
    lift = 0.07 * expr["lip_raise"]
    upper = [pt(u * mw, my + bend_u - lift * (1 - u**2) - gap * 0.3 * (1 - u**2))
             for u, bend_u in zip(us, bend, strict=True)]  # fmt: skip
    lower = [pt(u * mw, my + bend_u + gap * (1 - u**2) + 0.01)
             for u, bend_u in zip(us[::-1], bend[::-1], strict=True)]  # fmt: skip
    lip = col(skin * subject["lip"] * np.array([1.0, 0.75, 0.75]))
    if gap > 0.02:
        cv2.fillPoly(layer, [np.array(upper + lower, np.int32)], (40, 15, 20), aa)
        if expr["mouth_curve"] > 0.4:  # a smile shows the upper teeth
            teeth = upper + [pt(u * mw * 0.8, my + b_u + gap * 0.35 * (1 - u**2))
                             for u, b_u in zip(us[::-1], bend[::-1], strict=True)]  # fmt: skip
            cv2.fillPoly(layer, [np.array(teeth, np.int32)], (235, 235, 225), aa)
        cv2.polylines(layer, [np.array(upper + lower, np.int32)], True, lip, max(1, s // 45), aa)
    else:
        cv2.polylines(layer, [np.array(upper, np.int32)], False, lip, max(1, s // 38), aa)


def _posed(rng: np.random.Generator, f: _Face) -> tuple[np.ndarray, np.ndarray]:
    """The face layer and mask moved by the subject's habitual pose plus this image's jitter."""
    subject, s, cx, cy = f.subject, f.s, f.cx, f.cy
    layer, alpha = f.layer, f.alpha
    pose = subject["pose"]
    angle = pose["angle"] + rng.uniform(-4, 4)
    scale = pose["scale"] * rng.uniform(0.95, 1.05)
    shift = (
        (pose["dx"] + rng.uniform(-0.03, 0.03)) * s,
        (pose["dy"] + rng.uniform(-0.03, 0.03)) * s,
    )
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    matrix[:, 2] += shift
    layer = cv2.warpAffine(layer, matrix, (s, s), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(alpha, matrix, (s, s), flags=cv2.INTER_LINEAR)[..., None]

    return layer, alpha


def _background(rng: np.random.Generator, s: int) -> np.ndarray:
    """A tone and a gradient, with some low-frequency texture."""
    tone = rng.uniform(40, 220)
    tint = rng.uniform(0.85, 1.15, 3)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    direction = rng.uniform(-1, 1, 2)
    grad = (direction[0] * (yy - 0.5) + direction[1] * (xx - 0.5)) * rng.uniform(20, 70)
    blobs = cv2.resize(rng.normal(0, 12, (6, 6)).astype(np.float32), (s, s))
    background = (tone + grad + blobs)[..., None] * tint

    return background


def _occlude(rng: np.random.Generator, image: np.ndarray, s: int) -> None:
    """A blob (a hand, a sleeve) in `_OCCLUSION` of the images."""
    center = (round(rng.uniform(0.2, 0.8) * s), round(rng.uniform(0.55, 0.95) * s))
    axes = (round(rng.uniform(0.08, 0.18) * s), round(rng.uniform(0.05, 0.12) * s))
    color = _col(rng.uniform(60, 220) * np.array([1.0, rng.uniform(0.8, 1.0), 0.8]))
    cv2.ellipse(image, center, axes, rng.uniform(0, 180), 0, 360, color, -1, cv2.LINE_AA)


def draw_face(
    rng: np.random.Generator, subject: dict[str, Any], label: int, size: int = 96
) -> np.ndarray:
    """Draw one face of a subject with an expression.

    Args:
        rng: NumPy random generator for the per-image variation (pose, intensity, lighting...).
        subject: identity from `subject_params`.
        label: class index into `CLASS_NAMES`.
        size: output side in pixels.

    Returns:
        uint8 RGB image of shape `(size, size, 3)`.
    """
    if not 0 <= label < len(CLASS_NAMES):
        raise ValueError(f"label must be in [0, {len(CLASS_NAMES)}). Received: label={label}")
    if size < 16:
        raise ValueError(f"size must be >= 16. Received: size={size}")
    s = size * _SUPERSAMPLE
    expr = _expression(label, rng.uniform(_INTENSITY_FLOOR, 1.0), subject["bias"])
    face = _Face(s, subject, expr)
    skin = subject["skin"] * rng.uniform(0.95, 1.05)
    for draw in (_draw_head, _draw_eyes, _draw_nose, _draw_mouth):
        draw(face, skin)
    layer, alpha = _posed(rng, face)
    image = layer * alpha + _background(rng, s) * (1 - alpha)
    if rng.uniform() < _OCCLUSION:
        _occlude(rng, image, s)
    # --- lighting and sensor noise, then downsample ---
    image = image * rng.uniform(0.75, 1.15) + rng.uniform(-20, 20)
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    image = image + rng.normal(0, rng.uniform(2, 9), image.shape)
    return np.clip(image, 0, 255).round().astype(np.uint8)


def subject_id(index: int) -> str:
    """The id of the `index`-th subject: "S01", "S02", ..."""
    return f"S{index + 1:02d}"


def generate(
    *,
    num_subjects: int = 24,
    images_per_class: int = 6,
    size: int = 96,
    seed: int = 0,
) -> Iterator[dict[str, Any]]:
    """Yield every image of the set, subject by subject, class by class.

    Each subject's identity and each image depend on `(seed, subject, label, k)` only, so any
    image can be regenerated alone and a bigger set extends a smaller one with the same seed.

    Args:
        num_subjects: number of identities.
        images_per_class: images per subject and class.
        size: image side in pixels.
        seed: the generator seed.

    Yields:
        dicts with `image` (uint8 `(size, size, 3)`), `label` (int), `subject_id` (str),
        `filename` (str, e.g. "S01_happiness_2.png").
    """
    for name, value in dict(
        num_subjects=num_subjects, images_per_class=images_per_class, size=size
    ).items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1. Received: {name}={value}")
    for subject in range(num_subjects):
        identity = subject_params(np.random.default_rng([seed, subject]))
        for label, class_name in enumerate(CLASS_NAMES):
            for k in range(images_per_class):
                rng = np.random.default_rng([seed, subject, label, k, 1])
                yield dict(
                    image=draw_face(rng, identity, label, size),
                    label=label,
                    subject_id=subject_id(subject),
                    filename=f"{subject_id(subject)}_{class_name}_{k}.png",
                )


def generate_arrays(
    *, num_subjects: int = 24, images_per_class: int = 6, size: int = 96, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The whole set as arrays: images uint8 (N, size, size, 3), labels int (N,), subject ids (N,)."""
    items = list(
        generate(num_subjects=num_subjects, images_per_class=images_per_class, size=size, seed=seed)
    )
    return (
        np.stack([it["image"] for it in items]),
        np.array([it["label"] for it in items], np.int64),
        np.array([it["subject_id"] for it in items]),
    )
