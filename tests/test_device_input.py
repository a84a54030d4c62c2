"""ferzoo.training.device_input: the uint8 training model around a network (every backend)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferzoo.training.device_input import network_of, training_model


def test_the_training_model_augments_only_in_training():
    """`training_model(net)`: uint8 in, FaceAugment, normalisation, the network's own layers
    and weights; in inference it is the network on `(x / 255 - mean) / std`."""
    inputs = keras.Input((16, 16, 3))
    net = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)), name="n")
    norm = {"mean": [0.4, 0.5, 0.6], "std": [0.2, 0.25, 0.3]}
    model = training_model(net, augment=0.5, seed=0, normalization=norm)
    assert network_of(model) is net and network_of(net) is net
    assert model.inputs[0].dtype == "uint8" and len(net.weights) == 2
    assert len(model.weights) == 3  # and the augmentation's magnitudes
    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    expected = net((x / np.float32(255) - np.float32(norm["mean"])) / np.float32(norm["std"]))
    expected = keras.ops.convert_to_numpy(expected)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, atol=1e-4)
    augmented = keras.ops.convert_to_numpy(model(x, training=True))
    assert not np.allclose(augmented, expected, atol=1e-2)


def test_placement_puts_the_data_on_the_device_when_it_fits_a_quarter():
    from ferzoo.training.device_input import DEVICE_SHARE, placement

    gpu = ("gpu", 1000)
    assert DEVICE_SHARE == 0.25
    assert placement("auto", 250, gpu)["on"] and not placement("auto", 251, gpu)["on"]
    assert placement("on", 10**9, gpu)["on"] and not placement("off", 1, gpu)["on"]
    assert placement("auto", 1, ("cpu", 8))["device"] == "cpu"
    with pytest.raises(ValueError, match="data_on_device='gpu'"):
        placement("gpu", 1, gpu)


def test_the_device_table_is_made_once_per_data(monkeypatch):
    """A sweep's trials share one device copy of the data (`table_layer`'s cache): the table
    is built and converted once for data and its `rebatched` copies; the rows index it."""
    from ferzoo.data.parts import LoadedData, Part
    from ferzoo.training import device_input

    rng = np.random.default_rng(0)
    parts = {p: Part(rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), np.arange(n) % 2,
                     tuple(str(i) for i in range(n)))
             for p, n in (("train", 5), ("validation", 3), ("test", 2))}  # fmt: skip
    data = LoadedData(parts, batch_size=2, augment=0.0, seed=0, pipeline="numpy",
                      class_names=("a", "b"), name="t")  # fmt: skip
    made = []
    monkeypatch.setattr(LoadedData, "table", lambda self: made.append(1) or np.concatenate(
        [self.parts["train"].images, self.parts["validation"].images]))  # fmt: skip
    first, second = device_input.table_layer(data), device_input.table_layer(data.rebatched())
    assert len(made) == 1
    expected = np.concatenate([parts["train"].images, parts["validation"].images])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(first(np.arange(8))), expected)
    rows = data.row_batches()
    assert set(rows) == {"train", "validation"}
    x, y = rows["validation"][0]
    assert x.dtype == np.int32 and x.tolist() == [5, 6]
    assert y.tolist() == parts["validation"].labels[:2].tolist()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(second(x)),
                                  parts["validation"].images[:2])  # fmt: skip


def test_trials_sharing_a_gpu_share_the_datas_budget(monkeypatch):
    """`--trials-per-device N`: each of the N workers on a GPU may put data of a quarter / N
    of its memory there (processes share no memory); a bad setting is refused in one line."""
    from ferzoo.commands import sweep as sweep_cli
    from ferzoo.sweep import launcher
    from ferzoo.training.device_input import SHARE_VARIABLE, placement

    args = sweep_cli.build_parser().parse_args(["--study", "demo", "--gpus", "0",
                                                "--trials-per-device", "2"])  # fmt: skip
    plan = sweep_cli.worker_plan(args)
    assert plan == ["0", "0"]
    env = launcher.worker_env(plan, 1, {})
    assert env[SHARE_VARIABLE] == "0.125"
    monkeypatch.setenv(SHARE_VARIABLE, env[SHARE_VARIABLE])
    assert placement("auto", 125, ("gpu", 1000))["on"]
    assert not placement("auto", 126, ("gpu", 1000))["on"]
    monkeypatch.setenv(SHARE_VARIABLE, "lots")
    with pytest.raises(ValueError, match="FERZOO_DEVICE_SHARE must be a number"):
        placement("auto", 1, ("gpu", 1000))
