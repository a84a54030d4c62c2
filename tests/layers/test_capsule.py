"""Tests for the Capsule layer (dynamic routing) and the squash function."""

import keras
import numpy as np
import pytest

from ferzoo.layers.capsule import Capsule, squash
from tests.testing import MIXED_POLICIES, gradients, run_layer_test


def _np(x):
    return keras.ops.convert_to_numpy(x)


def test_harness(tmp_path):
    out = run_layer_test(
        Capsule,
        {"num_capsules": 3, "capsule_dim": 4, "routings": 3},
        (2, 12, 6),
        (2, 3, 4),
        expected_num_trainable_weights=1,  # the (12, 3, 6, 4) transformation matrices
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )
    assert np.all(np.linalg.norm(out, axis=-1) < 1.0)


def test_harness_shared_weights(tmp_path):
    run_layer_test(
        Capsule,
        {"num_capsules": 3, "capsule_dim": 4, "routings": 2, "share_weights": True},
        (2, 12, 6),
        (2, 3, 4),
        expected_num_trainable_weights=1,  # one (3, 6, 4) matrix per output capsule
        expected_num_non_trainable_weights=0,
        tmp_path=tmp_path,
    )


def test_squash_keeps_direction_and_bounds_length():
    rng = np.random.default_rng(0)
    s = rng.standard_normal((4, 6, 8)).astype("float32")
    v = _np(squash(s))
    lengths = np.linalg.norm(v, axis=-1)
    assert np.all(lengths < 1.0) and np.all(lengths > 0.0)
    cosine = np.sum(v * s, -1) / (lengths * np.linalg.norm(s, axis=-1))
    np.testing.assert_allclose(cosine, 1.0, atol=1e-5)
    # |v| = |s|^2 / (1 + |s|^2) (up to the epsilon).
    norm = np.linalg.norm(s, axis=-1)
    np.testing.assert_allclose(lengths, norm**2 / (1 + norm**2), rtol=1e-4)
    long = _np(squash(np.full((1, 8), 100.0, "float32")))
    short = _np(squash(np.full((1, 8), 1e-3, "float32")))
    assert 0.999 < np.linalg.norm(long) < 1.0
    assert np.linalg.norm(short) < 1e-4
    assert np.all(_np(squash(np.zeros((1, 8), "float32"))) == 0.0)


def test_squash_axis():
    s = np.random.default_rng(1).standard_normal((3, 5)).astype("float32")
    np.testing.assert_allclose(_np(squash(s, axis=0)), _np(squash(s.T)).T, atol=1e-6)


def test_coupling_sums_to_one_and_is_non_negative():
    layer = Capsule(num_capsules=4, capsule_dim=3, routings=3)
    x = np.random.default_rng(2).standard_normal((2, 10, 5)).astype("float32")
    outputs, coupling = layer(x, return_coupling=True)
    coupling = _np(coupling)
    assert coupling.shape == (2, 10, 4)
    assert np.all(coupling >= 0.0)
    np.testing.assert_allclose(coupling.sum(axis=-1), 1.0, atol=1e-5)
    # Three iterations route by agreement: the coupling is no longer uniform.
    assert np.abs(coupling - 0.25).max() > 1e-3
    np.testing.assert_allclose(_np(outputs), _np(layer(x)), atol=1e-6)


def test_one_routing_gives_uniform_coupling():
    layer = Capsule(num_capsules=5, capsule_dim=3, routings=1)
    x = np.random.default_rng(3).standard_normal((2, 7, 4)).astype("float32")
    _, coupling = layer(x, return_coupling=True)
    np.testing.assert_allclose(_np(coupling), 0.2, atol=1e-6)


def _numpy_routing(u, kernel, routings):
    """Procedure 1 of Sabour et al., written out in NumPy with explicit loops over capsules."""
    batch, n_in, _ = u.shape
    _, n_out, _, dim = kernel.shape
    u_hat = np.zeros((batch, n_in, n_out, dim))
    for i in range(n_in):
        for j in range(n_out):
            u_hat[:, i, j] = u[:, i] @ kernel[i, j]
    b = np.zeros((batch, n_in, n_out))
    for r in range(routings):
        c = np.exp(b) / np.exp(b).sum(-1, keepdims=True)
        s = (c[..., None] * u_hat).sum(axis=1)
        norm2 = (s**2).sum(-1, keepdims=True)
        v = norm2 / (1 + norm2) * s / np.sqrt(norm2)
        if r < routings - 1:
            b = b + (u_hat * v[:, None]).sum(-1)
    return v, c


@pytest.mark.parametrize("routings", [1, 3])
def test_matches_numpy_reference(routings):
    layer = Capsule(num_capsules=3, capsule_dim=4, routings=routings)
    x = np.random.default_rng(4).standard_normal((2, 6, 5)).astype("float32")
    outputs, coupling = layer(x, return_coupling=True)
    v, c = _numpy_routing(x.astype("float64"), _np(layer.kernel).astype("float64"), routings)
    np.testing.assert_allclose(_np(outputs), v, atol=1e-4)
    np.testing.assert_allclose(_np(coupling), c, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"routings": 0}, "routings=0"),
        ({"num_capsules": 0}, "num_capsules=0"),
        ({"capsule_dim": -1}, "capsule_dim=-1"),
    ],
)
def test_bad_arguments_raise(kwargs, text):
    args = {"num_capsules": 3, "capsule_dim": 4, **kwargs}
    with pytest.raises(ValueError, match=text):
        Capsule(**args)


def test_unknown_number_of_inputs_needs_shared_weights():
    with pytest.raises(ValueError, match="share_weights"):
        Capsule(3, 4).build((None, None, 8))
    layer = Capsule(3, 4, share_weights=True)
    layer.build((None, None, 8))
    assert tuple(layer.kernel.shape) == (3, 8, 4)


# --- mixed precision: squash and the routing compute in float32 inside ---


@pytest.mark.parametrize("policy", MIXED_POLICIES)
def test_squash_of_long_16_bit_vectors_and_its_gradient_stay_finite(policy):
    # Components of 100 and 300: |s|^2 = 8e4 and 7.2e5 overflow float16 (max 65504).
    compute = keras.DTypePolicy(policy).compute_dtype
    s = np.full((2, 3, 8), 100.0, "float32")
    s[1] *= -3.0
    v = squash(keras.ops.cast(s, compute))
    assert keras.backend.standardize_dtype(v.dtype) == compute
    v = _np(keras.ops.cast(v, "float32"))
    np.testing.assert_allclose(v, np.sign(s) / np.sqrt(8.0), rtol=1e-2)  # unit length
    grad, _ = gradients(lambda t: squash(keras.ops.cast(t, compute)), s)
    assert np.all(np.isfinite(grad))


@pytest.mark.parametrize("policy", MIXED_POLICIES)
def test_routing_of_large_16_bit_predictions_stays_finite(policy):
    # u_hat = 8 x 250 = 2000 per component; summed over 128 input capsules with c = 1/2, the
    # capsule input s reaches 1.3e5, beyond float16's 65504.
    layer = Capsule(2, 4, routings=3, kernel_initializer="ones", dtype=policy)
    x = np.full((2, 128, 8), 250.0, "float32")
    outputs, coupling = layer(x, return_coupling=True)
    compute = keras.DTypePolicy(policy).compute_dtype
    assert keras.backend.standardize_dtype(outputs.dtype) == compute
    np.testing.assert_allclose(_np(keras.ops.cast(outputs, "float32")), 0.5, rtol=1e-2)
    np.testing.assert_allclose(_np(keras.ops.cast(coupling, "float32")), 0.5, rtol=1e-2)
    grad_x, (grad_kernel,) = gradients(layer, x, layer.trainable_weights)
    assert np.all(np.isfinite(grad_x)) and np.all(np.isfinite(grad_kernel))
