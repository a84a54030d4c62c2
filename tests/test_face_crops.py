"""One crop for training and serving: a photo prepared as a dataset, through `ferzoo predict` and
through the video path gives the same scores, with YuNet (boxed or aligned) and with the cascade."""

import csv
import json

import cv2
import numpy as np
import pytest

from ferzoo import cli, face
from ferzoo.data import preparation, readers
from ferzoo.data.base import face_facts
from ferzoo.serving import inputs, pipeline
from ferzoo.serving.predictor import Predictor

# Prepares TFDS datasets (TensorFlow encodes the images); the model is a small Keras one.
pytestmark = pytest.mark.tf_only

skimage_data = pytest.importorskip("skimage.data")
SIZE = 32
CLASSES = ["happy", "sad"]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    """An image_folder tree holding the astronaut photo (PNG, lossless) in both classes."""
    root = tmp_path_factory.mktemp("faces")
    photo = skimage_data.astronaut()
    for name in ("happy/P01_a.png", "sad/P02_b.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), photo[..., ::-1])
    video = str(root / "clip.avi")  # FFV1: lossless, so the frames are the photo's pixels
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"FFV1"), 5, (512, 512))
    for _ in range(3):
        writer.write(photo[..., ::-1])
    writer.release()
    return root, video


def _model(folder, detector: str, align: bool) -> str:
    """A small softmax model saved as model.keras, with the config.json a run would write."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((SIZE, SIZE, 3)),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(2, activation="softmax"),
    ])  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    config = {"class_names": CLASSES, "image_size": SIZE,
              "face": {**face.describe(detector), "align": align}}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    return str(folder / "model.keras")


@pytest.mark.parametrize("detector,align", [("yunet", False), ("yunet", True), ("haar", False)])
def test_dataset_predict_and_video_give_the_same_scores(photo_folder, tmp_path, detector, align):
    root, video = photo_folder
    found = preparation.prepared(
        "image_folder", tmp_path / "tfds", root, detector=detector, add_copy=True
    )
    assert face_facts(found)["detector"] == detector  # recorded where the crops are stored
    cols = readers.columns_of(found, "tf.data")
    stored = readers.read_images(found, cols, SIZE, True, "tf.data", align)
    for reader in ("numpy",):  # the TensorFlow-free reader crops alike
        np.testing.assert_array_equal(readers.read_images(found, cols, SIZE, True, reader, align),
                                      stored)  # fmt: skip

    path = _model(tmp_path / "run", detector, align)
    predictor = Predictor(path)
    assert predictor.align is align and predictor.crop_facts["detector"] == detector
    trained = predictor.classify(stored.astype(np.float32) / 255.0)
    (served,) = predictor.predict(str(root / "happy" / "P01_a.png"))
    assert served["detector"] == detector and served["aligned"] is align
    records: list[dict] = []
    pipeline.predict_sources(predictor, inputs.expand_inputs([video]), records=records, quiet=True)
    assert len(records) == 3
    for row in trained:
        for scores in [served["scores"], *(r["scores"] for r in records)]:
            np.testing.assert_allclose([scores[c] for c in CLASSES], row, atol=1e-3)


def test_predict_records_the_detector_and_refuses_a_mismatch(photo_folder, tmp_path, capsys):
    root, _ = photo_folder
    path = _model(tmp_path / "aligned", "yunet", True)
    out = tmp_path / "faces.csv"
    image = str(root / "happy" / "P01_a.png")
    assert cli.main(["predict", path, image, "--output", str(out), "--quiet"]) == 0
    (row,) = list(csv.DictReader(out.open()))
    assert (row["detector"], row["aligned"]) == ("yunet", "True")
    assert row["detector_version"].startswith("face_detection_yunet_2023mar.onnx")
    # a model trained on aligned faces cannot be served with a detector without landmarks
    assert cli.main(["predict", path, image, "--detector", "haar"]) == 2
    assert "aligned by their landmarks, which the haar detector does not give" in (
        capsys.readouterr().err
    )


def test_a_prepared_dataset_keeps_its_detector(photo_folder, tmp_path):
    root, _ = photo_folder
    preparation.prepared("image_folder", tmp_path, root, detector="haar")
    kept = preparation.prepared("image_folder", tmp_path, root)  # None: whatever it has
    assert face_facts(kept)["detector"] == "haar"
    with pytest.raises(ValueError, match="prepared in .* with the haar face detector"):
        preparation.prepared("image_folder", tmp_path, root, detector="yunet")
