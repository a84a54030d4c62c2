"""The model zoo: every registered model trains a step; names, overrides and input checks.

Parametrized over `ferzoo.list_models()`, so a new variant is tested the moment it is registered:
each model in float32 (and under both mixed-precision policies the fewest models that hold every
choice of the families' tables) takes one SGD step in which every trainable weight changes (timm's
registry test), and outputs float32 probabilities or capsule lengths. Inputs are batch 2 at
each model's minimum size (at least 33 px, see `MIN_TEST_SIZE`).
"""

from __future__ import annotations

import os
import re

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo import layers as L
from ferzoo import registry
from ferzoo.evaluation.losses import MarginLoss, loss_for
from ferzoo.runtime import precision

SIZE = 64
NUM_CLASSES = 5

# Narrower than the papers' models, so that a training step of each of the 17 models, in three
# precisions, stays within seconds on a CPU; wide enough for every variant's defaults (wCA's
# ratio 16 and WA's reduction 32 need >= 16 and >= 32 channels), so no per-variant override.
SMALL = {"resnet": dict(widths=(32, 32, 32, 32)), "cnn": dict(fc_units=16)}


# At least 33 px (the capsule ResNets' minimum). Below that a ResNet's last stage sees a 1x1 map
# (msc_resnet18 accepts 9 px), where batch norm over a batch of 2 gives gradients near 150 that
# overflow float16 under any loss scale above 2**8; the same size for every ResNet also lets
# eager JAX reuse the primitives it compiled for one model in the next.
MIN_TEST_SIZE = 33


def _images(batch=2, size=SIZE, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (batch, size, size, 3)).astype("float32")


def _predict(model, x):
    return keras.ops.convert_to_numpy(model(x, training=False))


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _dtype(x) -> str:
    return keras.backend.standardize_dtype(x.dtype)


def _minimum_size(name: str, overrides: dict) -> int:
    """The smallest image side `name` accepts, from the error its builder gives at 1 px."""
    try:
        ferzoo.build(name, input_shape=(1, 1, 3), **overrides)
    except ValueError as error:
        return int(re.search(r"minimum image size is (\d+)x", str(error)).group(1))
    return 1


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


def _check_outputs(model, y):
    """Float32 class scores: softmax probabilities, or capsule lengths in (0, 1)."""
    assert _dtype(y) == "float32", y.dtype
    y = keras.ops.convert_to_numpy(y)
    assert y.shape == (2, NUM_CLASSES)
    assert np.all(np.isfinite(y))
    if isinstance(model.layers[-1], L.CapsuleLength):
        assert np.all((y > 0) & (y < 1))
        assert isinstance(loss_for(model), MarginLoss)
    else:
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
        assert np.all(y >= 0)


def _train_step(model, policy, x, labels, graph=False):
    """One applied SGD step; return the paths of the trainable weights it left unchanged.

    Under mixed_float16 the loss-scale optimizer skips a step whose scaled gradients overflow
    float16 and halves its scale (2**15 at first, as PyTorch's GradScaler starts at 2**16): the
    first steps of a model can be skipped, so this retries, up to 2**9, until one is applied.
    `graph=True` traces the step on TensorFlow in every precision (float32 always does).
    """
    # float32: jit_compile=False, as compiling each model's step (XLA on JAX) costs more than
    # the step, and eager JAX reuses its compiled primitives from one model to the next (a
    # later ResNet's eager step 0.5 s, its compiled one 7-9 s). float32 trains in a
    # tf.function graph on TensorFlow, as `fit` does (the CNN's pooling failed only there).
    # The mixed policies run eagerly on TensorFlow and PyTorch, which saves the tracing of 34
    # more graphs (3 to 10 s each), and compiled on JAX, where eager mixed steps reuse little
    # and repeat under the loss scale: 8 mixed cases took 115 s eager, 46 s compiled
    # (2026-12-08, 2-core AMD EPYC).
    compiled = keras.backend.backend() == "jax" and policy != "float32"
    model.compile(
        # A large rate, so that a gradient as small as 1e-7 moves a weight near 1 (a batch
        # norm's gamma) by more than float32's rounding; the step's outputs are not used.
        optimizer=precision.optimizer_for(keras.optimizers.SGD(1.0), policy),
        loss=loss_for(model),
        jit_compile=compiled,
        run_eagerly=not graph and policy != "float32" and not compiled,
    )
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    for _ in range(7 if scaled else 1):
        before = [keras.ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
        loss = float(keras.ops.convert_to_numpy(model.train_on_batch(x, labels)))
        assert np.isfinite(loss), loss
        after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
        unchanged = [
            w.path
            for w, b, a in zip(model.trainable_weights, before, after, strict=True)
            if np.array_equal(b, a)
        ]
        if len(unchanged) < len(after):  # the step was applied
            break
    return unchanged


# The papers' models first, so that they are the ones trained under the mixed policies.
PAPER_MODELS = ("resnet18", "msc_wca_resnet18", "wamf_resnet18", "cnn", "wca_mcnn")


def _features(name: str) -> set:
    """What a variant adds to its family's builder: its table row's choices, depth aside."""
    entry = registry.get_entry(name)
    row = {k: v for k, v in entry.defaults.items() if k != "depths"}
    return {(entry.family, "")} | {(entry.family, k, repr(v)) for k, v in row.items()}


def _precision_cases():
    """Every model in float32; under the mixed policies, the fewest models that together hold
    every choice of every family's table (greedily, the papers' models first).

    A mixed policy changes dtypes layer by layer, so a model whose every choice (stem,
    attention, fusion, head, ...) another mixed-policy case already trains adds nothing but
    minutes: `wa_resnet18_caps` is covered by `wamf_resnet18`, each `*34` variant by its
    `*18` twin (the mixed step runs ResNets with one block per stage, below).
    """
    names = ferzoo.list_models()
    cases, covered = [(name, "float32") for name in names], set()
    for name in [n for n in PAPER_MODELS if n in names] + names:
        if not _features(name) <= covered:
            covered |= _features(name)
            cases += [(name, policy) for policy in precision.POLICIES if policy != "float32"]
    return cases


def test_mixed_precision_cases_hold_every_choice():
    mixed = {n for n, p in _precision_cases() if p == "mixed_bfloat16"}
    assert set(PAPER_MODELS) | {"wse_mcnn"} <= mixed
    assert not mixed & {"resnet34", "wamf_resnet34", "msc_wca_resnet34", "wa_resnet18_caps"}
    assert set().union(*map(_features, mixed)) == set().union(*map(_features, ferzoo.list_models()))


@pytest.mark.parametrize(("name", "policy"), _precision_cases())
def test_model_trains_a_step_in_every_precision(name, policy):
    keras.utils.set_random_seed(0)
    family = registry.get_entry(name).family
    overrides = SMALL.get(family, {})
    if policy != "float32" and family == "resnet":
        # The mixed-precision step checks dtypes, which do not depend on depth: one block per
        # stage (ResNet34's extra blocks repeat ResNet18's), as it halves the CPU time.
        overrides = dict(overrides, depths=(1, 1, 1, 1))
    size = max(_minimum_size(name, overrides), MIN_TEST_SIZE)
    with precision.scope(policy):
        model = ferzoo.build(
            name, num_classes=NUM_CLASSES, input_shape=(size, size, 3), **overrides
        )
    assert model.name == name
    assert _dtype(model.output) == "float32"  # the head is float32 under every policy
    x = _images(size=size)
    _check_outputs(model, model(x, training=False))
    unchanged = _train_step(model, policy, x, np.array([0, 3]))
    assert not unchanged, f"no gradient reached: {unchanged}"
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def _adaptive_average_pool(x, size=6):
    """PyTorch's AdaptiveAvgPool2d on NHWC NumPy: window i spans [floor(iH/s), ceil((i+1)H/s))."""
    h, w = x.shape[1:3]
    rows = [(i * h // size, -(-(i + 1) * h // size)) for i in range(size)]
    cols = [(j * w // size, -(-(j + 1) * w // size)) for j in range(size)]
    out = np.zeros((x.shape[0], size, size, x.shape[3]), x.dtype)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            out[:, i, j] = x[:, r0:r1, c0:c1].mean(axis=(1, 2))
    return out


# Every policy on TensorFlow, whose graph failed; float32 elsewhere (the same keras.ops pooling).
@pytest.mark.parametrize(
    "policy", precision.POLICIES if keras.backend.backend() == "tensorflow" else ("float32",)
)
@pytest.mark.parametrize(
    "name, hw",
    [
        ("cnn", (94, 94)),  # the largest size whose last map is 1x1 (the minimum, 63, above)
        ("mcnn", (57, 89)),  # a 1x2 map: only the height is repeated
    ],
)
def test_cnn_pools_a_one_pixel_map_to_6x6_as_pytorch(name, hw, policy):
    # Keras' TF AdaptiveAveragePooling2D cannot trace a 1-pixel side (see alexnet._pool_to_6x6):
    # the CNN failed to train on TensorFlow from 63 to 94 px (57 to 88 px with the MsC stem).
    keras.utils.set_random_seed(0)
    with precision.scope(policy):
        model = ferzoo.build(name, num_classes=NUM_CLASSES, input_shape=(*hw, 3), fc_units=16)
    x = np.random.default_rng(0).uniform(0, 1, (2, *hw, 3)).astype("float32")
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("pool3", "pool_6x6")])
    last_map, pooled = (keras.ops.convert_to_numpy(keras.ops.cast(t, "float32")) for t in probe(x))
    assert last_map.shape[1] == 1
    np.testing.assert_allclose(pooled, _adaptive_average_pool(last_map), rtol=1e-6, atol=1e-6)
    if keras.backend.backend() == "tensorflow":  # the graph that failed; the others trained
        assert not _train_step(model, policy, x, np.array([1, 4]), graph=True)  # at 63 above


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
