"""Tests for ferzoo.evaluation.losses: the capsule margin loss and loss_for."""

import keras
import numpy as np
import pytest

from ferzoo.evaluation.losses import MarginLoss, SmoothedLoss, loss_for, margin_loss
from ferzoo.layers.capsule_length import CapsuleLength
from tests.testing import gradients


def _np(x):
    return keras.ops.convert_to_numpy(x)


LENGTHS = np.array([[0.8, 0.3, 0.05], [0.2, 0.95, 0.6]], "float32")
LABELS = np.array([0, 2])


def _hand_computed():
    # Example 0, true class 0: (0.9 - 0.8)^2 + 0.5 (0.3 - 0.1)^2 + 0 = 0.01 + 0.02 = 0.03.
    # Example 1, true class 2: (0.9 - 0.6)^2 + 0.5 [(0.2 - 0.1)^2 + (0.95 - 0.1)^2]
    #   = 0.09 + 0.5 (0.01 + 0.7225) = 0.45625.
    return np.array([0.03, 0.45625])


def test_margin_loss_equals_hand_computed_value():
    np.testing.assert_allclose(_np(margin_loss(LABELS, LENGTHS)), _hand_computed(), atol=1e-6)
    np.testing.assert_allclose(
        float(_np(MarginLoss()(LABELS, LENGTHS))), _hand_computed().mean(), atol=1e-6
    )


def test_int_column_and_one_hot_labels_agree():
    loss = MarginLoss()
    as_ids = float(_np(loss(LABELS, LENGTHS)))
    as_column = float(_np(loss(LABELS[:, None], LENGTHS)))
    as_one_hot = float(_np(loss(np.eye(3, dtype="float32")[LABELS], LENGTHS)))
    np.testing.assert_allclose([as_column, as_one_hot], [as_ids, as_ids], atol=1e-7)


def test_zero_when_margins_are_met():
    lengths = np.array([[0.9, 0.1, 0.0], [0.05, 0.02, 0.99]], "float32")
    assert float(_np(MarginLoss()(np.array([0, 2]), lengths))) == 0.0
    # The same lengths with wrong labels cost something.
    assert float(_np(MarginLoss()(np.array([1, 0]), lengths))) > 0.1


def test_custom_margins():
    lengths = np.array([[0.5, 0.5]], "float32")
    value = _np(margin_loss(np.array([0]), lengths, m_plus=0.7, m_minus=0.2, lambda_=1.0))
    np.testing.assert_allclose(value, [0.2**2 + 0.3**2], atol=1e-6)


def test_serialization_round_trip():
    loss = MarginLoss(m_plus=0.8, m_minus=0.2, lambda_=0.25)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, MarginLoss)
    assert (clone.m_plus, clone.m_minus, clone.lambda_) == (0.8, 0.2, 0.25)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"m_plus": 1.5}, "m_plus=1.5"),
        ({"m_minus": -0.1}, "m_minus=-0.1"),
        ({"lambda_": -1}, "lambda_=-1"),
    ],
)
def test_bad_arguments_raise(kwargs, text):
    with pytest.raises(ValueError, match=text):
        MarginLoss(**kwargs)


def _capsule_head_model():
    inputs = keras.Input((4, 3))
    return keras.Model(inputs, CapsuleLength()(keras.layers.Dense(3)(inputs)))


def test_loss_for_picks_margin_loss_for_capsule_head():
    assert isinstance(loss_for(_capsule_head_model()), MarginLoss)
    inputs = keras.Input((5,))
    dense = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    assert isinstance(loss_for(dense), keras.losses.SparseCategoricalCrossentropy)


def test_compiled_model_with_integer_labels_reports_margin_loss():
    model = _capsule_head_model()
    model.compile(optimizer="sgd", loss=loss_for(model))
    x = np.random.default_rng(0).standard_normal((4, 4, 3)).astype("float32")
    y = np.array([0, 1, 2, 1], "int32")
    expected = _np(margin_loss(y, _np(model(x)))).mean()
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=4, verbose=0), expected, rtol=1e-5)


# --- label smoothing -------------------------------------------------------------------------

PROBS = np.array([[0.7, 0.2, 0.1]], "float32")


def test_smoothed_crossentropy_equals_hand_computed_value():
    # eps 0.1 over 3 classes: targets [0.9 + 0.1/3, 0.1/3, 0.1/3] = [0.9333, 0.0333, 0.0333];
    # loss = -(0.9333 ln 0.7 + 0.0333 ln 0.2 + 0.0333 ln 0.1) = 0.332897 + 0.053648 + 0.076753.
    loss = SmoothedLoss(0.1, "crossentropy")
    np.testing.assert_allclose(float(_np(loss(np.array([0]), PROBS))), 0.463298, atol=1e-5)


def test_smoothed_margin_loss_equals_hand_computed_value():
    # eps 0.3 over 3 classes, true class 0: targets T = [0.8, 0.1, 0.1]; lengths [0.8, 0.3, 0.05].
    # sum_k T_k (0.9 - v_k)+^2 = 0.8 * 0.01 + 0.1 * 0.36 + 0.1 * 0.7225 = 0.11625
    # 0.5 sum_k (1 - T_k) (v_k - 0.1)+^2 = 0.5 (0.2 * 0.49 + 0.9 * 0.04 + 0) = 0.067
    loss = SmoothedLoss(0.3, "margin")
    np.testing.assert_allclose(float(_np(loss(np.array([0]), LENGTHS[:1]))), 0.18325, atol=1e-6)


def test_no_smoothing_is_the_plain_loss():
    y = np.array([0])
    plain = keras.losses.SparseCategoricalCrossentropy()(y, PROBS)
    np.testing.assert_allclose(_np(SmoothedLoss(0.0)(y, PROBS)), _np(plain), rtol=1e-6)
    np.testing.assert_allclose(
        _np(SmoothedLoss(0.0, "margin")(LABELS, LENGTHS)), _hand_computed().mean(), rtol=1e-6
    )


def test_loss_for_smooths_dense_and_capsule_heads_and_round_trips():
    inputs = keras.Input((5,))
    dense = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    for model, kind in ((dense, "crossentropy"), (_capsule_head_model(), "margin")):
        loss = loss_for(model, label_smoothing=0.2)
        assert isinstance(loss, SmoothedLoss) and (loss.kind, loss.label_smoothing) == (kind, 0.2)
        again = keras.losses.deserialize(keras.losses.serialize(loss))
        assert isinstance(again, SmoothedLoss) and again.get_config() == loss.get_config()
    # A smoothed target is never fully confident, so a confident right answer costs more.
    y, sure = np.array([0]), np.array([[0.98, 0.01, 0.01]], "float32")
    assert float(_np(SmoothedLoss(0.2)(y, sure))) > float(_np(SmoothedLoss(0.0)(y, sure)))


@pytest.mark.parametrize(
    "kwargs, text",
    [({"label_smoothing": 1.5}, "label_smoothing"), ({"kind": "hinge"}, "kind")],
)
def test_smoothed_loss_names_bad_arguments(kwargs, text):
    with pytest.raises(ValueError, match=text):
        SmoothedLoss(**kwargs)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_margin_loss_of_16_bit_lengths_is_float32_with_a_finite_gradient(dtype):
    lengths = np.array([[0.95, 0.05, 0.5], [0.0, 0.999, 0.2]], "float32")
    labels = np.array([0, 2])
    expected = keras.ops.convert_to_numpy(margin_loss(labels, lengths))
    value = margin_loss(labels, keras.ops.cast(lengths, dtype))
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(keras.ops.convert_to_numpy(value), expected, atol=5e-3)
    grad, _ = gradients(lambda t: margin_loss(labels, keras.ops.cast(t, dtype)), lengths)
    assert np.all(np.isfinite(grad)) and np.any(grad != 0)
