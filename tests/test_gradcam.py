"""Grad-CAM on TensorFlow, PyTorch and JAX: the map points at the evidence, the explained layer
is the last map of at least 7x7 that every path passes through, tiny maps are warned about."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.cli import main
from ferzoo.serving import gradcam
from tests.serving_testing import drawn_face, save_run, small_model, write_image


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
    assert gradcam.choose_layer(model) == "feat"
    cams, scores = gradcam.grad_cam(model, x, class_index=0)
    assert cams.shape == (1, 8, 8) and scores[0, 0] > scores[0, 1]
    assert np.unravel_index(cams[0].argmax(), (8, 8)) == (1, 6)
    assert cams.max() == pytest.approx(1.0) and cams.min() == 0.0
    # For class 1 the pixel is evidence against: the ReLU leaves no positive map.
    cams1, _ = gradcam.grad_cam(model, x, class_index=1)
    assert cams1.max() == 0.0


def test_the_last_map_of_at_least_7x7_is_chosen():
    keras.utils.set_random_seed(0)
    model = ferzoo.build("resnet18", num_classes=7, input_shape=(96, 96, 3), widths=(8, 8, 16, 16))
    # At 96 px stage 3 is 6x6 and stage 4 3x3: the last map >= 7x7 is stage 2's output.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcam.choose_layer(model) == "stage2_block2_out"
    x = np.random.default_rng(0).random((2, 96, 96, 3)).astype(np.float32)
    cams, scores = gradcam.grad_cam(model, x)
    assert cams.shape == (2, 12, 12) and np.all((cams >= 0) & (cams <= 1))
    np.testing.assert_allclose(scores, keras.ops.convert_to_numpy(model(x)), atol=1e-5)


def test_a_tiny_map_is_used_with_a_warning():
    inputs = keras.Input((2, 2, 3))
    x = keras.layers.Conv2D(4, 1, name="tiny")(inputs)
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    with pytest.warns(RuntimeWarning, match="'tiny', whose map is only 2x2"):
        assert gradcam.choose_layer(model) == "tiny"


def test_a_layer_inside_a_residual_block(tmp_path):
    model = small_model(size=64)
    x = np.random.default_rng(0).random((1, 64, 64, 3)).astype(np.float32)
    inside = "stage2_block1_conv1"  # the shortcut bypasses it
    if keras.backend.backend() == "jax":
        with pytest.raises(ValueError, match="bypassed"):
            gradcam.grad_cam(model, x, layer=inside)
    else:
        cams, _ = gradcam.grad_cam(model, x, layer=inside)
        assert cams.shape[0] == 1
    with pytest.raises(ValueError, match="No 4D feature layer named 'nope'"):
        gradcam.choose_layer(model, "nope")


def test_explain_writes_overlays_of_the_served_crop(tmp_path, capsys):
    path = save_run(small_model(size=64), tmp_path / "run")
    picture = write_image(tmp_path / "face.png", drawn_face())
    out = tmp_path / "cams"
    assert main(["explain", path, picture, "--output", str(out), "--no-detect"]) == 0
    assert (out / "face_face0.png").stat().st_size > 1000
    assert "(layer stage2_block1_out)" in capsys.readouterr().out  # 8x8 at 64 px
    assert main(["explain", path, str(tmp_path / "nope.png"), "--output", str(out)]) == 2


def test_explain_without_a_face_writes_nothing_and_names_no_detect(tmp_path, capsys):
    path = save_run(small_model(size=64), tmp_path / "run")
    blank = write_image(tmp_path / "blank.png", np.full((80, 80, 3), 128, np.uint8))
    out = tmp_path / "cams"
    assert main(["explain", path, blank, "--output", str(out)]) == 1
    assert not out.exists()  # no empty folder left behind
    err = capsys.readouterr().err
    assert "blank.png: no face found (skipped)" in err and "--no-detect" in err
    assert main(["predict", path, blank]) == 1
    assert "--no-detect" in capsys.readouterr().err
