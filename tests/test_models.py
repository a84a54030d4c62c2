"""The model zoo: every registered model builds and runs; names, overrides and input checks.

Parametrized over `ferzoo.list_models()`, so a new variant is tested the moment it is registered.
Inputs are 64x64 (every family's minimum is below that) and batch 2, to keep CI fast.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo import layers as L
from ferzoo import registry
from ferzoo.losses import MarginLoss, loss_for

SIZE = 64
NUM_CLASSES = 5


def _images(batch=2, size=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (batch, size, size, 3)).astype("float32")


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def test_list_models_has_every_paper_model_sorted():
    names = ferzoo.list_models()
    expected = {
        "cnn", "mcnn", "wca_cnn", "wca_mcnn", "wse_mcnn",
        "resnet18", "msc_resnet18", "wca_resnet18", "msc_wca_resnet18",
        "resnet18_caps", "mf_resnet18_caps", "wa_resnet18_caps", "wamf_resnet18",
        "resnet34_caps", "mf_resnet34_caps", "wa_resnet34_caps", "wamf_resnet34",
    }  # fmt: skip
    assert expected <= set(names)
    assert names == sorted(names)
    assert ferzoo.list_models("*resnet34*") == [
        "mf_resnet34_caps",
        "msc_resnet34",
        "msc_wca_resnet34",
        "resnet34",
        "resnet34_caps",
        "wa_resnet34_caps",
        "wamf_resnet34",
        "wca_resnet34",
    ]
    assert ferzoo.list_models("nothing*") == []


@pytest.mark.parametrize("name", ferzoo.list_models())
def test_model_builds_and_runs(name):
    keras.utils.set_random_seed(0)
    model = ferzoo.build(name, num_classes=NUM_CLASSES, input_shape=(SIZE, SIZE, 3))
    assert model.name == name
    y = _predict(model, _images())
    assert y.shape == (2, NUM_CLASSES)
    assert np.all(np.isfinite(y))
    if isinstance(model.layers[-1], L.CapsuleLength):
        # Capsule head: lengths in (0, 1), and the margin loss takes them.
        assert np.all((y > 0) & (y < 1))
        loss = loss_for(model)
        assert isinstance(loss, MarginLoss)
        value = float(keras.ops.convert_to_numpy(loss(np.array([0, 3]), y)))
        assert np.isfinite(value) and value >= 0
    else:
        # Dense head: softmax probabilities.
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
        assert np.all(y >= 0)
    keras.backend.clear_session()


def test_variants_have_their_modules():
    small = dict(widths=(16, 16, 32, 32), attention_kwargs={"reduction": 8})  # keeps the test fast
    model = ferzoo.build("wamf_resnet18", input_shape=(SIZE, SIZE, 3), **small)
    assert len(_layers_of(model, L.WideAttention)) == 4  # one per stage
    fusions = _layers_of(model, L.MultiScaleFusion)
    assert [f.kernel_size for f in fusions] == [1, 7, 5, 3]
    assert isinstance(model.layers[-1], L.CapsuleLength)
    model = ferzoo.build("wca_mcnn", input_shape=(SIZE, SIZE, 3), fc_units=16)
    (msc,) = _layers_of(model, L.MultiScaleConv)
    assert msc.kernel_sizes == (3, 5, 7) and msc.strides == (4, 4)
    (wca,) = _layers_of(model, L.WaveletChannelAttention)
    # wCA right after the first pooling layer, with the default reading (ratio 16, unshared).
    assert model.layers[model.layers.index(wca) - 1].name == "pool1"
    assert (wca.ratio, wca.shared, wca.use_bias) == (16, False, True)
    keras.backend.clear_session()


# --- .keras round trip: one model per family (shrunk by overrides to keep the files small) ---


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("wca_mcnn", dict(fc_units=32)),
        ("msc_wca_resnet18", dict(widths=(16, 16, 32, 32))),
        (
            "wamf_resnet18",
            dict(depths=(1, 1, 1, 1), widths=(16, 16, 32, 32), attention_kwargs={"reduction": 8}),
        ),
    ],
)
def test_keras_round_trip(name, overrides, tmp_path):
    keras.utils.set_random_seed(1)
    model = ferzoo.build(name, num_classes=NUM_CLASSES, input_shape=(SIZE, SIZE, 3), **overrides)
    x = _images(seed=1)
    expected = _predict(model, x)
    path = os.path.join(tmp_path, f"{name}.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: the layers are registered
    np.testing.assert_allclose(_predict(loaded, x), expected, atol=1e-5, rtol=1e-5)
    assert type(loaded.layers[-1]) is type(model.layers[-1])
    keras.backend.clear_session()


# --- overrides ---


def test_overrides_reach_every_choice():
    model = ferzoo.build(
        "resnet18",
        input_shape=(SIZE, SIZE, 3),
        stem="msc",
        msc_kernels=(3, 5),
        attention="wca",
        attention_kwargs={"ratio": 8},
        head="capsule",
        routings=2,
    )
    (msc,) = _layers_of(model, L.MultiScaleConv)
    assert msc.kernel_sizes == (3, 5)
    (wca,) = _layers_of(model, L.WaveletChannelAttention)
    assert wca.ratio == 8
    (caps,) = _layers_of(model, L.Capsule)
    assert caps.routings == 2 and caps.num_capsules == 7
    assert isinstance(model.layers[-1], L.CapsuleLength)
    assert model.output.shape == (None, 7)
    keras.backend.clear_session()


def test_overrides_win_over_the_table():
    small = dict(input_shape=(SIZE, SIZE, 3), widths=(16, 16, 16, 16))  # keeps the test fast
    model = ferzoo.build("wca_resnet18", attention=None, **small)
    assert not _layers_of(model, L.WaveletChannelAttention)
    model = ferzoo.build("resnet18_caps", depths=(3, 4, 6, 3), head="dense", **small)
    blocks = [layer for layer in model.layers if layer.name.endswith("_add")]
    assert len(blocks) == 16  # ResNet34's 3 + 4 + 6 + 3 blocks
    assert model.layers[-1].name == "predictions"
    model = ferzoo.build("mf_resnet18_caps", mf_kernels=(1, 3, 3, 1), **small)
    assert [f.kernel_size for f in _layers_of(model, L.MultiScaleFusion)] == [1, 3, 3, 1]
    keras.backend.clear_session()


def test_unknown_override_is_named():
    with pytest.raises(ValueError, match="wca_ratoi"):
        ferzoo.build("resnet18", wca_ratoi=8)
    with pytest.raises(ValueError, match="fusion"):  # the CNN family has no stage joins
        ferzoo.build("cnn", fusion="mf")
    with pytest.raises(ValueError, match="attention='cbam'"):
        ferzoo.build("resnet18", attention="cbam")


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match="resnet18") as info:
        ferzoo.build("resnet19")
    assert "resnet19" in str(info.value)
    with pytest.raises(ValueError, match="wamf_resnet18"):
        ferzoo.build("wamf_resnet")


@pytest.mark.parametrize("num_classes", [1, 0, 2.0])
def test_num_classes_below_two_fails(num_classes):
    with pytest.raises(ValueError, match="num_classes"):
        ferzoo.build("resnet18", num_classes=num_classes)


@pytest.mark.parametrize(
    "name, overrides, minimum",
    [
        ("resnet18", dict(widths=(8, 8, 8, 8)), 17),  # widths do not change the minimum
        ("resnet18_caps", dict(widths=(8, 8, 8, 8)), 33),  # + the stride-2 primary capsules
        ("cnn", dict(fc_units=16), 63),  # 11x11/4 conv + three valid 3x3/2 max pools
        ("mcnn", dict(fc_units=16), 57),
    ],
)
def test_too_small_input_fails_with_the_minimum(name, overrides, minimum):
    with pytest.raises(ValueError, match=f"minimum image size is {minimum}x{minimum}"):
        ferzoo.build(name, input_shape=(minimum - 1, minimum - 1, 3), **overrides)
    with pytest.raises(ValueError, match=f"{minimum}x{minimum}"):  # one short side is enough
        ferzoo.build(name, input_shape=(SIZE, minimum - 1, 3), **overrides)
    # The stated minimum builds: Keras' shape inference accepts every layer at that size (a
    # forward pass is left out: on JAX each new input size recompiles every op).
    model = ferzoo.build(name, input_shape=(minimum, minimum, 3), **overrides)
    assert model.output.shape == (None, 7)
    keras.backend.clear_session()


@pytest.mark.parametrize(
    "name, overrides",
    [
        ("wca_mcnn", dict(fc_units=16)),
        ("wamf_resnet18", dict(widths=(16, 16, 32, 32), attention_kwargs={"reduction": 8})),
    ],
)
def test_channels_first_builds_the_same_model(name, overrides):
    last = ferzoo.build(name, input_shape=(SIZE, SIZE, 3), **overrides)
    first = ferzoo.build(
        name, input_shape=(3, SIZE, SIZE), data_format="channels_first", **overrides
    )
    assert first.output.shape == last.output.shape == (None, 7)
    assert ferzoo.profile(first) == ferzoo.profile(last)
    keras.backend.clear_session()


def test_sixteen_pixels_into_a_resnet_fails():
    with pytest.raises(ValueError, match="too small for resnet18"):
        ferzoo.build("resnet18", input_shape=(16, 16, 3))


# --- register_model ---


@pytest.fixture
def restore_registry():
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def test_register_model_adds_a_variant(restore_registry):
    from ferzoo.models.resnet import resnet

    ferzoo.register_model(
        "wa_resnet10_caps", resnet, depths=(1, 1, 1, 1), stage_attention="wa", head="capsule"
    )
    assert "wa_resnet10_caps" in ferzoo.list_models("wa_*")
    assert registry.get_entry("wa_resnet10_caps").family == "resnet"
    model = ferzoo.build("wa_resnet10_caps", num_classes=3, input_shape=(SIZE, SIZE, 3))
    assert len(_layers_of(model, L.WideAttention)) == 4
    assert model.output.shape == (None, 3)
    with pytest.raises(ValueError, match="already registered"):
        ferzoo.register_model("wa_resnet10_caps", resnet)
    with pytest.raises(ValueError, match="dephts"):
        ferzoo.register_model("bad_variant", resnet, dephts=(1, 1))

    @ferzoo.register_model("tiny_dense", units=4)
    def tiny_dense(*, num_classes, input_shape, name, units):
        inputs = keras.Input(input_shape)
        x = keras.layers.Dense(units)(keras.layers.Flatten()(inputs))
        return keras.Model(inputs, keras.layers.Dense(num_classes)(x), name=name)

    model = ferzoo.build("tiny_dense", input_shape=(4, 4, 1), units=6)
    assert model.layers[-2].units == 6
    assert registry.get_entry("tiny_dense").family == "custom"
    keras.backend.clear_session()


def test_overrides_the_variant_does_not_use_are_errors():
    with pytest.raises(ValueError, match=r"msc_kernels is unused because its stem is not MsC"):
        ferzoo.build("resnet18", msc_kernels=(2, 4))
    with pytest.raises(ValueError, match=r"'resnet18'.*attention_kwargs is unused.*no attention"):
        ferzoo.build("resnet18", attention_kwargs={"ratio": 0})
    with pytest.raises(ValueError, match="routings is unused because its head is not a capsule"):
        ferzoo.build("wca_cnn", routings=2)
    with pytest.raises(ValueError, match="dropout is unused because its capsule head"):
        ferzoo.build("wamf_resnet18", dropout=0.5)
    # An attention keyword that the chosen kind does not take is named too.
    with pytest.raises(ValueError, match="attention 'wca'.*does not take: reduction"):
        ferzoo.build("wca_resnet18", attention_kwargs={"reduction": 8})
    # Used overrides pass: the MsC kernels with the MsC stem, wCA's ratio with wCA.
    model = ferzoo.build(
        "msc_wca_resnet18", msc_kernels=(3, 5), attention_kwargs={"ratio": 8},
        input_shape=(SIZE, SIZE, 3), widths=(16, 16, 16, 16),
    )  # fmt: skip
    (wca,) = _layers_of(model, L.WaveletChannelAttention)
    assert wca.ratio == 8 and not wca.shared
    keras.backend.clear_session()


def test_a_new_attention_kind_is_one_registry_line():
    from ferzoo.models import attention

    attention.register_attention("wse8", L.WaveletSqueezeExcitation, ratio=8)
    try:
        model = ferzoo.build("resnet18", stage_attention="wse8", input_shape=(SIZE, SIZE, 3),
                             widths=(16, 16, 32, 32))  # fmt: skip
        found = _layers_of(model, L.WaveletSqueezeExcitation)
        assert len(found) == 4 and {layer.ratio for layer in found} == {8}
    finally:
        del attention.ATTENTION["wse8"]
    keras.backend.clear_session()
