"""ferzoo.training.device_input: the uint8 training model around a network (every backend)."""

from __future__ import annotations

import keras
import numpy as np

from ferzoo.training.device_input import network_of, training_model


def test_the_training_model_augments_only_in_training():
    """`training_model(net)`: uint8 in, FaceAugment, normalisation, the network's own layers
    and weights; in inference it is the network on `(x / 255 - mean) / std`."""
    inputs = keras.Input((16, 16, 3))
    net = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="n")
    norm = {"mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}
    model = training_model(net, augment=0.5, seed=0, normalization=norm)
    assert network_of(model) is net and network_of(net) is net
    assert model.inputs[0].dtype == "uint8" and len(model.weights) == len(net.weights) == 2
    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    expected = net((x / np.float32(255) - np.float32(norm["mean"])) / np.float32(norm["std"]))
    expected = keras.ops.convert_to_numpy(expected)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, atol=1e-4)
    augmented = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(augmented, expected, atol=1e-2)
