"""Tests for the CapsuleLength layer."""

import keras
import numpy as np
import pytest

from ferzoo.layers.capsule_length import CapsuleLength
from tests.testing import MIXED_POLICIES, gradients, run_layer_test


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_harness(tmp_path):
    run_layer_test(
        CapsuleLength,
        {},
        (2, 5, 4),
        (2, 5),
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )


def test_lengths_equal_norms():
    x = np.random.default_rng(0).standard_normal((3, 7, 16)).astype("float32")
    np.testing.assert_allclose(_np(CapsuleLength()(x)), np.linalg.norm(x, axis=-1), rtol=1e-5)
    np.testing.assert_allclose(
        _np(CapsuleLength(epsilon=0.0)(np.array([[[3.0, 4.0]]], "float32"))), [[5.0]]
    )


def test_gradient_is_finite_at_zero_vector():
    x = np.zeros((1, 2, 4), "float32")
    x[0, 1] = [1.0, 2.0, 2.0, 0.0]
    grad, _ = gradients(CapsuleLength(), x)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[0, 0], 0.0)
    np.testing.assert_allclose(grad[0, 1], x[0, 1] / 3.0, rtol=1e-5)


@pytest.mark.parametrize("policy", MIXED_POLICIES)
def test_16_bit_lengths_of_long_capsules_and_their_gradient_stay_finite(policy):
    # 16 components of 300: the sum of squares, 1.44e6, overflows float16 (max 65504).
    layer = CapsuleLength(dtype=policy)
    x = np.full((2, 3, 16), 300.0, "float32")
    lengths = layer(x)
    assert keras.backend.standardize_dtype(lengths.dtype) == layer.compute_dtype
    np.testing.assert_allclose(_np(keras.ops.cast(lengths, "float32")), 1200.0, rtol=1e-2)
    grad, _ = gradients(layer, x)
    np.testing.assert_allclose(grad, 0.25, rtol=1e-2)  # d|x|/dx = x / |x|


@pytest.mark.parametrize("epsilon", [-1.0, "small"])
def test_bad_epsilon_raises(epsilon):
    with pytest.raises(ValueError, match=f"epsilon={epsilon!r}"):
        CapsuleLength(epsilon=epsilon)
