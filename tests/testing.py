"""One harness that any ferzoo layer goes through (after keras-hub's TestCase).

`run_layer_test` checks, for one layer configuration:
1. config round trip: `from_config(get_config())` gives the same config;
2. symbolic call: the output of a call on `keras.Input` has the shape `compute_output_shape` gives;
3. eager call on random data: same shape, finite values;
4. one `fit` step: trainable weights change (when the layer has any);
5. `.keras` save and load with no `custom_objects`: equal outputs.
"""

from __future__ import annotations

import os

import keras
import numpy as np


def _shape(x):
    return tuple(int(d) if d is not None else None for d in x.shape)


def run_layer_test(
    layer_cls,
    init_kwargs: dict,
    input_shape: tuple,
    expected_output_shape: tuple | None = None,
    *,
    tmp_path=None,
    run_fit: bool = True,
    run_save: bool = True,
    seed: int = 0,
    atol: float = 1e-5,
):
    """Run the standard checks on `layer_cls(**init_kwargs)`; return the eager output (NumPy)."""
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, (config, clone.get_config())

    # 2. Symbolic call vs compute_output_shape.
    inputs = keras.Input(shape=input_shape[1:], batch_size=input_shape[0])
    symbolic = layer(inputs)
    expected = tuple(layer.compute_output_shape(input_shape))
    assert _shape(symbolic) == expected, (_shape(symbolic), expected)
    if expected_output_shape is not None:
        assert expected == tuple(expected_output_shape), (expected, expected_output_shape)

    # 3. Eager call.
    x = rng.standard_normal(input_shape).astype("float32")
    eager = keras.ops.convert_to_numpy(layer(x))
    assert eager.shape == expected, (eager.shape, expected)
    assert np.all(np.isfinite(eager)), "eager output has NaN or Inf"

    model = keras.Model(inputs, symbolic)
    # 4. One fit step changes the trainable weights.
    if run_fit and model.trainable_weights:
        before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        target = rng.standard_normal(eager.shape).astype("float32")
        history = model.fit(x, target, batch_size=input_shape[0], epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
        assert any(not np.allclose(b, a) for b, a in zip(before, after, strict=True)), (
            "fit changed no weight"
        )

    # 5. Save and load with no custom_objects.
    if run_save:
        assert tmp_path is not None, "pass tmp_path to test saving"
        path = os.path.join(str(tmp_path), "layer_model.keras")
        reference = keras.ops.convert_to_numpy(model(x))
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), reference, atol=atol)
    return eager


def backend() -> str:
    return keras.backend.backend()
