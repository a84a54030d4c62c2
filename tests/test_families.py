"""A family describes itself (`ferzoo.models.Family`); the registries feed the sweep space."""

from __future__ import annotations

import dataclasses

import keras
import optuna
import pytest

import ferzoo
from ferzoo import registry, sweep
from ferzoo.evaluation import experiments
from ferzoo.models import FAMILIES, Family, InfeasibleSizeError, attention
from ferzoo.models.heads import CapsuleHead
from ferzoo.pretrained.sources import pretrained_name_map
from ferzoo.sweep import space
from ferzoo.sweep.config import InfeasibleTrial
from tests.sweep_testing import settings as sweep_settings

SIZE = 64  # the CNN needs 63 px with its conv stem, 57 with MsC


@keras.saving.register_keras_serializable(package="ferzoo_tests")
class _Gain(keras.layers.Layer):
    """A tiny attention kind for the tests: the feature map times a constant."""

    def __init__(self, gain: float = 2.0, data_format: str = "channels_last", **kwargs):
        super().__init__(**kwargs)
        self.gain, self.data_format = gain, data_format

    def call(self, x):
        return x * self.gain

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "gain": self.gain, "data_format": self.data_format}


@pytest.fixture
def gain_attention():
    attention.register_attention("gain", _Gain, gain=3.0)
    yield "gain"
    attention.unregister_attention("gain")


def _choices(space_name: str, param: str) -> tuple:
    (found,) = [p.choices for p in space.get_space(space_name).params if p.name == param]
    return found


def test_every_variant_is_registered_with_its_family_object():
    assert list(FAMILIES) == ["resnet", "cnn"]
    for family in FAMILIES.values():
        assert isinstance(family, Family)
        for name in family.variants:
            entry = registry.get_entry(name)
            assert entry.family == family.name and entry.builder is family.builder
    with pytest.raises(dataclasses.FrozenInstanceError):
        FAMILIES["cnn"].stages = True


def test_the_registry_asks_the_family_object(monkeypatch):
    """min_image_size and the unused-override check use the Family's hooks."""
    cnn = FAMILIES["cnn"]
    monkeypatch.setitem(FAMILIES, "cnn", dataclasses.replace(cnn, spatial_ops=None))
    assert ferzoo.registry.min_image_size("cnn") == 1
    monkeypatch.setitem(FAMILIES, "cnn", dataclasses.replace(cnn, unused_arguments=None))
    ferzoo.registry.check("cnn", routings=2)  # no hook: nothing is reported unused
    monkeypatch.setitem(FAMILIES, "cnn", cnn)
    with pytest.raises(ValueError, match="routings is unused"):
        ferzoo.registry.check("cnn", routings=2)


def test_an_infeasible_size_raises_its_own_error_type():
    with pytest.raises(InfeasibleSizeError, match="too small for resnet18") as built:
        ferzoo.build("resnet18", input_shape=(16, 16, 3))
    assert isinstance(built.value, ValueError)
    with pytest.raises(InfeasibleSizeError, match="image_size 40 is too small for cnn"):
        ferzoo.registry.check("cnn", image_size=40)


def test_the_objective_closes_the_error_type_not_the_text(tmp_path):
    def objective(error):
        def train(model, data, **kwargs):
            raise error

        return sweep.Objective(
            sweep_settings(tmp_path),
            lambda trial, cfg, fixed: ("resnet18", {}, {"learning_rate": 1e-3, "batch_size": 4}),
            train_fn=train,
            load_fn=lambda *a, **k: None,
        )

    def trial():
        return optuna.create_study(direction="maximize").ask()

    with pytest.raises(InfeasibleTrial, match="minimum 17"):
        objective(InfeasibleSizeError("minimum 17\nmore"))(trial())
    with pytest.raises(ValueError, match="too small for"):  # a plain ValueError is a failure
        objective(ValueError("too small for a reason of its own"))(trial())


def test_the_sweep_space_takes_its_choices_from_the_registries(gain_attention):
    assert _choices("full", "backbone") == ("resnet18", "resnet34", "cnn")
    assert _choices("full", "head") == ("dense", "capsule")
    for name in ("full", "demo"):  # wse is registered with sweep=False
        assert _choices(name, "attention") == ("none", "wca", "wa", "gain")
    for backbone in ("resnet18", "cnn"):
        model_name, overrides, _ = space.to_build(
            {"backbone": backbone, "attention": "gain"}, "full"
        )
        assert overrides == {"attention": "gain"}  # after the first pooling layer
        small = {"widths": (16, 16, 32, 32)} if backbone == "resnet18" else {"fc_units": 16}
        model = ferzoo.build(model_name, input_shape=(SIZE, SIZE, 3), **overrides, **small)
        (layer,) = [layer for layer in model.layers if isinstance(layer, _Gain)]
        assert layer.gain == 3.0 and model.output_shape == (None, 7)


def test_an_unregistered_kind_leaves_the_space():
    attention.register_attention("gain", _Gain)
    attention.unregister_attention("gain")
    assert "gain" not in _choices("full", "attention")
    with pytest.raises(ValueError, match="attention must be one of"):
        space.to_build({"backbone": "cnn", "attention": "gain"}, "full")


def test_ablation_grids_and_pretrained_names_come_from_the_families():
    assert experiments.GRIDS["msc_wca"]["cnn"] == list(
        FAMILIES["cnn"].ablation_grids["msc_wca"]["cnn"]
    )
    assert sorted(experiments.GRIDS["wamf"]) == ["resnet18", "resnet34"]
    assert experiments.GRIDS["wamf"]["resnet34"][-1] == "wamf_resnet34"
    torch_name = pretrained_name_map("torchvision")
    assert torch_name("layer2.0.downsample.0") == "stage2_block1_downsample_conv"
    assert pretrained_name_map("keras_hub")("stack0_block1_1_conv") == "stage1_block2_conv1"
    with pytest.raises(ValueError, match="No model family reads"):
        pretrained_name_map("onnx")


def test_capsule_options_are_one_group():
    grouped = ferzoo.build("resnet18_caps", input_shape=(SIZE, SIZE, 3), widths=(8, 8, 8, 8),
                           head_kwargs={"routings": 2, "capsule_dim": 4})  # fmt: skip
    flat = ferzoo.build("resnet18_caps", input_shape=(SIZE, SIZE, 3), widths=(8, 8, 8, 8),
                        routings=2, capsule_dim=4)  # fmt: skip
    for model in (grouped, flat):
        caps = model.get_layer("class_capsules")
        assert (caps.routings, caps.capsule_dim) == (2, 4)
    assert grouped.count_params() == flat.count_params()
    assert (
        ferzoo.registry.min_image_size("cnn", head="capsule", head_kwargs={"primary_strides": 1})
        == 63
    )
    assert ferzoo.registry.min_image_size("cnn", head="capsule") == 95
    with pytest.raises(ValueError, match="also given as"):
        ferzoo.build("resnet18_caps", head_kwargs={"routings": 2}, routings=2)
    with pytest.raises(ValueError, match="takes no dropout"):
        CapsuleHead.of({"dropout": 0.5})
    with pytest.raises(ValueError, match="head_kwargs is unused because its head is not a capsule"):
        ferzoo.build("resnet18", head_kwargs={"routings": 2})
