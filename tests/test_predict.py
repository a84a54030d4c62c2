"""ferzoo predict and ferzoo.Predictor on still images: faces are cropped as the datasets crop
them, bad files are reported and skipped, user mistakes are one line and exit code 2."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo import face
from ferzoo.cli import main
from ferzoo.data import preprocess
from ferzoo.serving.engines import KerasEngine, load_model
from ferzoo.serving.inputs import read_image
from tests.serving_testing import CLASSES, SIZE, drawn_face, save_run, small_model, write_image
from tests.testing import error_lines

needs_detector = pytest.mark.skipif(not face.has_detector(), reason="OpenCV without Haar cascade")


@pytest.fixture
def saved_model(tmp_path):
    """A small registered model saved as ferzoo train saves it (model.keras + config.json)."""
    model = small_model()
    return model, save_run(model, tmp_path / "run")


@pytest.fixture
def images(tmp_path):
    """A drawn face the detector finds, a blank image with no face, and a corrupt file."""
    good = write_image(tmp_path / "face.png", drawn_face())
    blank = write_image(tmp_path / "blank.png", np.full((80, 80, 3), 128, np.uint8))
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg" + bytes(range(256)))
    return good, blank, str(corrupt)


def _scores(model, x):
    return keras.ops.convert_to_numpy(model(np.asarray(x, np.float32)[None], training=False))[0]


def test_load_model_reads_class_names_beside_it(saved_model):
    _, path = saved_model
    model, info = load_model(path)
    assert info["class_names"] == CLASSES and info["image_size"] == SIZE
    assert info["dataset"] == "synthetic_faces" and info["metrics"]["accuracy"] == 0.875
    with pytest.raises(ValueError, match="outputs 7 classes but 5 class names"):
        load_model(path, class_names=list("abcde"))


def test_predict_reports_and_skips_corrupt_and_faceless_images(saved_model, images, tmp_path):
    _, path = saved_model
    good, blank, corrupt = images
    out = tmp_path / "out.csv"
    annotated = tmp_path / "annotated"
    # --no-detect: the whole image is the face, so the good image is always classified.
    args = ["predict", path, corrupt, good, "--no-detect", "--output", str(out)]
    assert main([*args, "--annotate", str(annotated)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["file"] for r in rows] == [corrupt, good]
    assert rows[0]["error"] == "cannot read image" and rows[0]["label"] == ""
    assert rows[1]["error"] == "" and rows[1]["label"] in CLASSES and rows[1]["frame"] == ""
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


@needs_detector
def test_detected_face_scores_equal_the_dataset_crop(saved_model, images, tmp_path):
    """The datasets store face.face_box(image); predict must crop the largest face the same way."""
    model, path = saved_model
    good, _, _ = images
    out = tmp_path / "faces.csv"
    assert main(["predict", path, good, "--output", str(out), "--quiet"]) == 0
    row = next(csv.DictReader(out.open()))
    image = read_image(good)
    box = face.face_box(image)
    np.testing.assert_allclose(
        [float(row[k]) for k in ("ymin", "xmin", "ymax", "xmax")], box, atol=1e-5
    )
    expected = _scores(model, preprocess(image, SIZE, box))
    got = [float(row[f"score_{c}"]) for c in CLASSES]
    np.testing.assert_allclose(got, expected, atol=1e-3)
    # The crop differs from the raw Haar box: the scores of the unwidened box are not these.
    raw = face.detect_faces(image)[0]
    assert not np.allclose(preprocess(image, SIZE, raw), preprocess(image, SIZE, box))


def test_no_detect_classifies_the_whole_picture(saved_model, images):
    model, path = saved_model
    image = read_image(images[0])
    predictor = ferzoo.Predictor(path, detect=False)
    (found,) = predictor.predict(image)
    assert found["box"] == [0.0, 0.0, 1.0, 1.0]
    expected = _scores(model, preprocess(image, SIZE))
    np.testing.assert_allclose(list(found["scores"].values()), expected, atol=1e-4)


def test_predictor_applies_the_runs_normalization(tmp_path, images):
    model = small_model(seed=1)
    norm = {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    path = save_run(model, tmp_path / "run", normalization=norm)
    predictor = ferzoo.Predictor(path, detect=False)
    assert predictor.normalization == norm
    image = read_image(images[0])
    x = (preprocess(image, SIZE) - np.float32(norm["mean"])) / np.float32(norm["std"])
    np.testing.assert_allclose(predictor.crop(image, None), x, atol=1e-6)
    (found,) = predictor.predict(image)
    np.testing.assert_allclose(list(found["scores"].values()), _scores(model, x), atol=1e-4)


def test_faces_are_batched_across_images(saved_model, images):
    _, path = saved_model
    predictor = ferzoo.Predictor(path, batch_size=4, detect=False)
    sizes = []
    predict = predictor.engine.predict
    predictor.engine.predict = lambda batch: sizes.append(len(batch)) or predict(batch)
    image = read_image(images[0])
    results = list(predictor.stream((i, image) for i in range(10)))
    assert [key for key, _ in results] == list(range(10))  # input order
    assert sizes == [4, 4, 2]  # 10 faces in 3 calls, not 10
    single = predictor.predict(image)[0]["scores"]
    assert results[7][1][0]["scores"] == pytest.approx(single, abs=1e-5)


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.png"], "No such file or folder: 'missing.png'"),
        (["{notes}"], "Unknown input format '.txt'"),
        (["{face}", "--every", "0"], "--every must be an integer >= 1"),
        (["{face}", "--every", "x"], "--every must be an integer >= 1"),
        (["{face}", "--output", "out.xlsx"], "--output must end in .csv or .json"),
        (["{face}", "--batch-size", "-2"], "--batch-size must be an integer >= 1"),
        ([], "Give at least one INPUT"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_code_2(
    saved_model, images, tmp_path, capsys, args, message
):
    _, path = saved_model
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    args = [a.format(face=images[0], notes=notes) for a in args]
    assert main(["predict", path, *args]) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and err[0].startswith("ferzoo: error: ") and message in err[0]
    assert main(["predict", str(tmp_path / "nope.keras"), images[0]]) == 2
    assert "No model file" in capsys.readouterr().err
    assert main(["predict", str(notes), images[0]]) == 2
    assert "MODEL must be a .keras or .onnx file" in capsys.readouterr().err


def test_folders_are_read_recursively(saved_model, images, tmp_path):
    _, path = saved_model
    folder = tmp_path / "photos" / "a" / "b"
    folder.mkdir(parents=True)
    write_image(folder / "deep.png", read_image(images[0]))
    write_image(tmp_path / "photos" / "top.jpg", read_image(images[0]))
    (tmp_path / "photos" / "readme.md").write_text("ignored")
    out = tmp_path / "out.csv"
    assert (
        main(["predict", path, str(tmp_path / "photos"), "--no-detect", "--output", str(out)]) == 0
    )
    files = [r["file"] for r in csv.DictReader(out.open())]
    assert [f.split("photos/")[1] for f in files] == ["top.jpg", "a/b/deep.png"]


def test_keras_engine_takes_a_model_object():
    model = small_model()
    engine = KerasEngine(model, CLASSES)
    assert engine.info["image_size"] == SIZE and engine.info["normalization"] is None
    x = np.random.default_rng(0).random((3, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_allclose(engine.predict(x), keras.ops.convert_to_numpy(model(x)), atol=1e-5)
