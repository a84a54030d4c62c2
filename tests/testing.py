"""One harness that any ferzoo layer goes through (after keras-hub's `run_layer_test`).

`run_layer_test` checks, for one layer configuration, on one or several inputs:
1. config round trip: `from_config(get_config())` gives the same config;
2. symbolic call: the output of a call on `keras.Input` has the shape `compute_output_shape`
   gives, and the layer has the expected numbers of trainable and non-trainable weights;
3. eager call on random data: same shape, finite values;
4. one real `fit` step (SGD, MSE to a random target) through the layer: the loss is finite,
   every trainable weight of the layer changes, and so does an identity Dense put in front of
   each input (the gradient reaches the layer's inputs); a test that cannot train says why;
5. `.keras` save and load with no `custom_objects`: equal outputs;
6. under `mixed_float16` and `mixed_bfloat16`: the layer keeps float32 weights, computes and
   returns its compute dtype (float16 / bfloat16) on the symbolic and the eager call, and its
   output is finite.

`gradients` differentiates a function on any backend, for the layers' numeric tests.
"""

from __future__ import annotations

import os

import keras
import numpy as np

MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def _shape(x):
    return tuple(int(d) if d is not None else None for d in x.shape)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _as_list(input_shape) -> tuple[list[tuple], bool]:
    """`(shapes, several)`: a single shape is a tuple of ints, several a list of tuples."""
    several = isinstance(input_shape, list)
    return (list(input_shape) if several else [tuple(input_shape)]), several


def _inputs(shapes, several: bool):
    tensors = [keras.Input(shape=s[1:], batch_size=s[0]) for s in shapes]
    return tensors if several else tensors[0]


def _random(shapes, several: bool, rng):
    arrays = [rng.standard_normal(s).astype("float32") for s in shapes]
    return arrays if several else arrays[0]


def _fit_step(layer, shapes, several, x, target):
    """Train one SGD step through `layer`, with an identity Dense in front of each input."""
    inputs = _inputs(shapes, several)
    fronts = [
        keras.layers.Dense(s[-1], kernel_initializer="identity", name=f"front_{i}")
        for i, s in enumerate(shapes)
    ]
    fronted = [f(t) for f, t in zip(fronts, inputs if several else [inputs], strict=True)]
    model = keras.Model(inputs, layer(fronted if several else fronted[0]))
    watched = layer.trainable_weights + [w for f in fronts for w in f.trainable_weights]
    before = [_np(w).copy() for w in watched]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x, target, batch_size=shapes[0][0], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]), history.history
    unchanged = [w.path for w, b in zip(watched, before, strict=True) if np.array_equal(b, _np(w))]
    assert not unchanged, f"one fit step left these weights unchanged: {unchanged}"


def _check_mixed(layer_cls, init_kwargs, shapes, several, x):
    """The layer under each mixed policy: float32 weights, compute-dtype (finite) outputs."""
    for policy in MIXED_POLICIES:
        layer = layer_cls(**init_kwargs, dtype=policy)
        compute = keras.DTypePolicy(policy).compute_dtype
        symbolic = layer(_inputs(shapes, several))
        assert keras.backend.standardize_dtype(symbolic.dtype) == compute, (policy, symbolic)
        assert all(keras.backend.standardize_dtype(w.dtype) == "float32" for w in layer.weights), (
            policy,
            [(w.path, w.dtype) for w in layer.weights],
        )
        eager = layer(x)
        assert keras.backend.standardize_dtype(eager.dtype) == compute, (policy, eager.dtype)
        values = _np(keras.ops.cast(eager, "float32"))
        assert np.all(np.isfinite(values)), f"{policy}: output has NaN or Inf"


def run_layer_test(
    layer_cls,
    init_kwargs: dict,
    input_shape: tuple | list[tuple],
    expected_output_shape: tuple | None = None,
    *,
    expected_num_trainable_weights: int,
    expected_num_non_trainable_weights: int,
    tmp_path=None,
    no_fit_reason: str | None = None,
    run_save: bool = True,
    no_mixed_reason: str | None = None,
    seed: int = 0,
    atol: float = 1e-5,
):
    """Run the standard checks on `layer_cls(**init_kwargs)`; return the eager output (NumPy).

    Args:
        layer_cls: the layer class.
        init_kwargs: its constructor arguments.
        input_shape: the input shape with the batch axis, or a list of shapes for a layer that
            takes several inputs (called on a list).
        expected_output_shape: the output shape, checked when given.
        expected_num_trainable_weights: how many trainable weights the built layer has.
        expected_num_non_trainable_weights: how many non-trainable weights it has.
        tmp_path: a folder for the `.keras` file (pytest's `tmp_path`).
        no_fit_reason: why the fit step is skipped; required to skip it. A layer with no
            weights still trains a step (the gradient must reach the Dense in front).
        run_save: whether to check `.keras` save and load.
        no_mixed_reason: why the mixed-precision check is skipped; required to skip it.
        seed: the seed of the weights and the random inputs.
        atol: tolerance of the save/load comparison.
    """
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    shapes, several = _as_list(input_shape)

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, (config, clone.get_config())

    # 2. Symbolic call vs compute_output_shape; weight counts.
    inputs = _inputs(shapes, several)
    symbolic = layer(inputs)
    expected = tuple(layer.compute_output_shape(shapes if several else shapes[0]))
    assert _shape(symbolic) == expected, (_shape(symbolic), expected)
    if expected_output_shape is not None:
        assert expected == tuple(expected_output_shape), (expected, expected_output_shape)
    counts = (len(layer.trainable_weights), len(layer.non_trainable_weights))
    expected_counts = (expected_num_trainable_weights, expected_num_non_trainable_weights)
    assert counts == expected_counts, f"(trainable, non-trainable) weights: {counts}"

    # 3. Eager call.
    x = _random(shapes, several, rng)
    eager = _np(layer(x))
    assert eager.shape == expected, (eager.shape, expected)
    assert np.all(np.isfinite(eager)), "eager output has NaN or Inf"

    # 4. One fit step through the layer.
    if no_fit_reason is None:
        target = rng.standard_normal(eager.shape).astype("float32")
        _fit_step(layer, shapes, several, x, target)

    # 5. Save and load with no custom_objects.
    if run_save:
        assert tmp_path is not None, "pass tmp_path to test saving"
        model = keras.Model(inputs, symbolic)
        path = os.path.join(str(tmp_path), "layer_model.keras")
        reference = _np(model(x))
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(_np(loaded(x)), reference, atol=atol)

    # 6. Mixed precision.
    if no_mixed_reason is None:
        _check_mixed(layer_cls, init_kwargs, shapes, several, x)
    return eager


def backend() -> str:
    return keras.backend.backend()


#: For `no_mixed_reason` of a channels_first convolution: TensorFlow's CPU kernels cannot run it.
TF_CPU_NCHW_16BIT = (
    "TensorFlow's CPU Conv2D has no NCHW kernel in float16/bfloat16 (GPUs have one)"
    if keras.backend.backend() == "tensorflow"
    else None
)


def gradients(fn, x, variables=()):
    """`d sum(fn(x)) / dx` and `d sum(fn(x)) / dv` for each of `variables`, as NumPy, any backend.

    `fn` maps a tensor to a tensor (a layer, or a function of one); the sum is taken in float32.
    `variables` are Keras variables that `fn` reads (e.g. `layer.trainable_weights`).

    Returns:
        `(grad_x, [grad_v, ...])`, NumPy arrays in the dtypes the backend gives them.
    """
    variables = list(variables)
    name = backend()
    if name == "jax":
        return _jax_gradients(fn, x, variables)
    if name == "torch":
        import torch

        t = torch.tensor(np.asarray(x), requires_grad=True)
        for v in variables:
            v.value.grad = None
        keras.ops.sum(keras.ops.cast(fn(t), "float32")).backward()
        return t.grad.numpy(), [v.value.grad.numpy() for v in variables]
    import tensorflow as tf

    t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = tf.reduce_sum(tf.cast(fn(t), "float32"))
    grads = tape.gradient(y, [t, *[v.value for v in variables]])
    return grads[0].numpy(), [g.numpy() for g in grads[1:]]


def _jax_gradients(fn, x, variables):
    import jax

    def loss(x, values):
        # Keras' StatelessScope runs `fn` with these values in place of the variables'.
        with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
            return keras.ops.sum(keras.ops.cast(fn(x), "float32"))

    grad_x, grad_v = jax.grad(loss, argnums=(0, 1))(
        jax.numpy.asarray(x), [v.value for v in variables]
    )
    return np.asarray(grad_x), [np.asarray(g) for g in grad_v]


def error_lines(stderr: str) -> list[str]:
    """stderr's lines without the `ferzoo: backend ...` line that commands print first."""
    return [line for line in stderr.strip().splitlines() if not line.startswith("ferzoo: backend ")]


def cli_error_line(capsys, args: list[str], *, alone: bool = False) -> str:
    """The `ferzoo: error:` line of a command that fails: exit code 2, no traceback, the only
    `ferzoo:` line after the backend line (a dataset that is not prepared follows it with the
    builder's download instructions), and with `alone` the only line at all."""
    from ferzoo.cli import main

    code = main(args)
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    lines = error_lines(err)
    assert lines[0].startswith("ferzoo: error: "), err
    assert sum(line.startswith("ferzoo: ") for line in lines) == 1, err
    assert not alone or len(lines) == 1, err
    return lines[0]
