"""ferzoo.evaluation.evaluate: metrics on hand-worked examples, the files they are written to, and the
7-vs-5-class check."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from ferzoo.evaluation import evaluate as ev

NAMES = ["anger", "joy", "sad"]
# true:  a a a j j s
# pred:  a a j j s s
Y_TRUE = [0, 0, 0, 1, 1, 2]
Y_PRED = [0, 0, 1, 1, 2, 2]


def test_confusion_matrix_hand_example():
    assert ev.confusion_matrix(Y_TRUE, Y_PRED, 3).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_confusion_matrix_rejects_out_of_range_ids():
    with pytest.raises(ValueError, match="y_pred holds class ids outside"):
        ev.confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="same length"):
        ev.confusion_matrix([0, 1], [0], 3)


def test_classification_metrics_hand_example():
    m = ev.classification_metrics(Y_TRUE, Y_PRED, NAMES)
    assert m["accuracy"] == pytest.approx(4 / 6)
    # anger: P 2/2, R 2/3; joy: P 1/2, R 1/2; sad: P 1/2, R 1/1
    pc = m["per_class"]
    assert pc["anger"]["precision"] == pytest.approx(1.0)
    assert pc["anger"]["recall"] == pytest.approx(2 / 3)
    assert pc["anger"]["f1"] == pytest.approx(0.8)
    assert pc["joy"]["f1"] == pytest.approx(0.5)
    assert pc["sad"]["precision"] == pytest.approx(0.5)
    assert pc["sad"]["recall"] == pytest.approx(1.0)
    assert pc["sad"]["f1"] == pytest.approx(2 / 3)
    assert [pc[n]["support"] for n in NAMES] == [3, 2, 1]
    assert m["macro_precision"] == pytest.approx((1 + 0.5 + 0.5) / 3)
    assert m["macro_recall"] == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert m["class_names"] == NAMES


def test_never_predicted_class_scores_zero_not_nan():
    m = ev.classification_metrics([0, 1, 2], [0, 0, 0], NAMES)
    assert m["per_class"]["joy"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert np.isfinite(m["macro_f1"])


def test_write_metrics_files(tmp_path):
    m = ev.classification_metrics(Y_TRUE, Y_PRED, NAMES)
    paths = ev.write_metrics(m, str(tmp_path))
    assert {p.split("/")[-1] for p in paths} == {
        "metrics.json",
        "metrics.csv",
        "confusion_matrix.csv",
        "confusion_matrix.png",
    }
    assert json.loads((tmp_path / "metrics.json").read_text())["confusion_matrix"][0] == [2, 1, 0]
    rows = list(csv.reader((tmp_path / "metrics.csv").open()))
    assert rows[0] == ["class", "precision", "recall", "f1", "support"]
    assert rows[1][0] == "anger" and float(rows[1][2]) == pytest.approx(2 / 3, abs=1e-6)
    assert rows[-1][0] == "accuracy" and float(rows[-1][3]) == pytest.approx(4 / 6, abs=1e-6)
    cm = list(csv.reader((tmp_path / "confusion_matrix.csv").open()))
    assert cm[0][1:] == NAMES and cm[2] == ["joy", "0", "1", "1"]
    assert (tmp_path / "confusion_matrix.png").read_bytes()[:4] == b"\x89PNG"


def test_curves_and_history(tmp_path):
    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.3, 0.6]}
    ev.plot_curves(history, str(tmp_path / "curves.png"))
    ev.write_history(history, str(tmp_path / "history.csv"))
    rows = list(csv.reader((tmp_path / "history.csv").open()))
    assert rows == [
        ["epoch", "loss", "val_loss", "accuracy"],
        ["1", "1.0", "1.1", "0.3"],
        ["2", "0.5", "0.7", "0.6"],
    ]
    assert (tmp_path / "curves.png").stat().st_size > 1000


def _const_model(num_classes, winner):
    inputs = keras.Input((4, 4, 3))
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(
        num_classes,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(
            [5.0 if i == winner else 0.0 for i in range(num_classes)]
        ),
    )(x)
    return keras.Model(inputs, keras.layers.Softmax()(logits))


def test_evaluate_model_on_batches():
    batches = [
        (np.zeros((2, 4, 4, 3), np.float32), np.array([1, 0])),
        (np.zeros((1, 4, 4, 3), np.float32), np.array([1])),
    ]
    m = ev.evaluate_model(_const_model(3, winner=1), batches, NAMES)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["confusion_matrix"] == [[0, 1, 0], [0, 2, 0], [0, 0, 0]]


def test_seven_class_model_on_five_class_dataset_fails_clearly():
    batches = [(np.zeros((1, 4, 4, 3), np.float32), np.array([0]))]
    with pytest.raises(ValueError, match=r"outputs 7 classes but the dataset has 5"):
        ev.evaluate_model(_const_model(7, winner=0), batches, ["a", "b", "c", "d", "e"])
