"""ferzoo predict / explain / export: bad images are reported and skipped, Grad-CAM points at
what drives the score, and exports give the model's outputs."""

from __future__ import annotations

import csv
import json

import cv2
import keras
import numpy as np
import pytest

import ferzoo
from ferzoo import predict as fp
from ferzoo import synthetic
from ferzoo.cli import main

CLASSES = list(synthetic.CLASS_NAMES)


@pytest.fixture
def saved_model(tmp_path):
    """A small registered model saved as ferzoo train saves it (model.keras + config.json)."""
    keras.utils.set_random_seed(0)
    model = ferzoo.build(
        "resnet18",
        num_classes=7,
        input_shape=(40, 40, 3),
        depths=(1, 1, 1, 1),
        widths=(8, 8, 16, 16),
    )
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "model.keras"
    model.save(str(path))
    (folder / "config.json").write_text(json.dumps({"class_names": CLASSES, "image_size": 40}))
    return model, str(path)


@pytest.fixture
def images(tmp_path):
    """A drawn (synthetic) face, a blank image with no face, and a corrupt file."""
    rng = np.random.default_rng(0)
    face = synthetic.draw_face(rng, synthetic.subject_params(rng), label=3, size=96)
    good = tmp_path / "face.png"
    cv2.imwrite(str(good), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((80, 80, 3), 128, np.uint8))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" + bytes(range(256)))
    return str(good), str(blank), str(corrupt)


def test_load_model_reads_class_names_beside_it(saved_model):
    _, path = saved_model
    model, info = fp.load_model(path)
    assert info["class_names"] == CLASSES and info["image_size"] == 40
    with pytest.raises(ValueError, match="outputs 7 classes but 5 class names"):
        fp.load_model(path, class_names=list("abcde"))


def test_predict_reports_and_skips_corrupt_and_faceless_images(saved_model, images, tmp_path):
    _, path = saved_model
    good, blank, corrupt = images
    out = tmp_path / "out.csv"
    annotated = tmp_path / "annotated"
    # --no-detect: the whole image is the face, so the good image is always classified.
    code = main(
        [
            "predict",
            path,
            corrupt,
            good,
            "--no-detect",
            "--output",
            str(out),
            "--annotate",
            str(annotated),
        ]
    )
    assert code == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["file"] for r in rows] == [corrupt, good]
    assert rows[0]["error"] == "cannot read image" and rows[0]["label"] == ""
    assert rows[1]["error"] == "" and rows[1]["label"] in CLASSES
    scores = [float(rows[1][f"score_{c}"]) for c in CLASSES]
    assert sum(scores) == pytest.approx(1.0, abs=1e-4)  # softmax head
    assert float(rows[1]["score"]) == pytest.approx(max(scores), abs=1e-6)
    assert (annotated / "face.png").exists() and not (annotated / "corrupt.png").exists()

    # With detection: the blank image has no face; every image failing gives exit code 1.
    out_json = tmp_path / "out.json"
    code = main(["predict", path, blank, corrupt, "--output", str(out_json)])
    records = json.loads(out_json.read_text())
    assert [r["error"] for r in records] == ["no face found", "cannot read image"]
    assert code == 1


def _linear_cam_model():
    """Features = the input's single channel (1x1 identity conv); score = GAP of it."""
    inputs = keras.Input((8, 8, 1))
    features = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones", name="feat")(
        inputs
    )
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(
        2, kernel_initializer=keras.initializers.Constant([[1.0, -1.0]]), activation="softmax"
    )(pooled)
    return keras.Model(inputs, outputs)


def test_grad_cam_peaks_where_the_evidence_is():
    model = _linear_cam_model()
    x = np.zeros((1, 8, 8, 1), np.float32)
    x[0, 1, 6, 0] = 1.0  # evidence for class 0 in one pixel
    if keras.backend.backend() == "jax":
        with pytest.raises(NotImplementedError, match="tensorflow or torch"):
            fp.grad_cam(model, x)
        return
    assert fp.last_conv_layer(model) == "feat"
    cams, scores = fp.grad_cam(model, x, class_index=0)
    assert cams.shape == (1, 8, 8) and scores[0, 0] > scores[0, 1]
    assert np.unravel_index(cams[0].argmax(), (8, 8)) == (1, 6)
    assert cams.max() == pytest.approx(1.0) and cams.min() == 0.0
    # For class 1 the pixel is evidence against: the ReLU leaves no positive map.
    cams1, _ = fp.grad_cam(model, x, class_index=1)
    assert cams1.max() == 0.0


def test_export_keras_round_trip(saved_model, tmp_path):
    model, path = saved_model
    diff = fp.export_model(model, str(tmp_path / "copy" / "m.keras"), "keras")
    assert diff == 0.0 or diff < 1e-6


@pytest.mark.tf_only
def test_export_savedmodel_gives_the_same_outputs(saved_model, tmp_path):
    import tensorflow as tf

    _, path = saved_model
    out = tmp_path / "serving"
    assert main(["export", path, "--format", "savedmodel", "--output", str(out)]) == 0
    served = tf.saved_model.load(str(out))
    model, _ = fp.load_model(path)
    x = np.random.default_rng(1).random((3, 40, 40, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(served.serve(x)), model.predict(x, verbose=0), atol=1e-5)
    assert json.loads((out / "ferzoo.json").read_text())["class_names"] == CLASSES
