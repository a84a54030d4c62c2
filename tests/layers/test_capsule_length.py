"""Tests for the CapsuleLength layer."""

import keras
import numpy as np
import pytest

from ferzoo.layers.capsule_length import CapsuleLength
from tests.testing import backend, run_layer_test


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_harness(tmp_path):
    run_layer_test(CapsuleLength, {}, (2, 5, 4), (2, 5), tmp_path=tmp_path)


def test_lengths_equal_norms():
    x = np.random.default_rng(0).standard_normal((3, 7, 16)).astype("float32")
    np.testing.assert_allclose(_np(CapsuleLength()(x)), np.linalg.norm(x, axis=-1), rtol=1e-5)
    np.testing.assert_allclose(
        _np(CapsuleLength(epsilon=0.0)(np.array([[[3.0, 4.0]]], "float32"))), [[5.0]]
    )


def _gradient_of_sum(fn, x):
    name = backend()
    if name == "jax":
        import jax

        return np.asarray(jax.grad(lambda t: fn(t).sum())(x))
    if name == "torch":
        import torch

        t = torch.tensor(x, requires_grad=True)
        fn(t).sum().backward()
        return t.grad.numpy()
    import tensorflow as tf

    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = tf.reduce_sum(fn(t))
    return tape.gradient(y, t).numpy()


def test_gradient_is_finite_at_zero_vector():
    x = np.zeros((1, 2, 4), "float32")
    x[0, 1] = [1.0, 2.0, 2.0, 0.0]
    grad = _gradient_of_sum(CapsuleLength(), x)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad[0, 0], 0.0)
    np.testing.assert_allclose(grad[0, 1], x[0, 1] / 3.0, rtol=1e-5)


@pytest.mark.parametrize("epsilon", [-1.0, "small"])
def test_bad_epsilon_raises(epsilon):
    with pytest.raises(ValueError, match=f"epsilon={epsilon!r}"):
        CapsuleLength(epsilon=epsilon)
