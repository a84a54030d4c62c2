"""ferzoo.pretrained: torchvision, keras-hub and ferzoo weights into the ResNet variants.

The torchvision files are random state dicts in torchvision's key layout, written from the
hand-written PyTorch reference (benchmarks/reference_torch.py); the keras-hub preset is a small
genuine one in tests/data (see make_keras_hub_preset.py), and a random ResNet18 preset when
keras_hub can be imported.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys

import h5py
import keras
import numpy as np
import pytest

import ferzoo
from ferzoo import pretrained
from ferzoo.models.resnet import resnet
from ferzoo.pretrained import sources

HERE = os.path.dirname(os.path.abspath(__file__))
TINY_PRESET = os.path.join(HERE, "data", "keras_hub_resnet_tiny")
R18, R34 = (2, 2, 2, 2), (3, 4, 6, 3)
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def torchvision_keys(depths) -> list[str]:
    """torchvision's ResNet (BasicBlock) state-dict keys, in order, written out from its layout."""
    keys = ["conv1.weight", *(f"bn1.{k}" for k in BN_KEYS)]
    for i, depth in enumerate(depths, start=1):
        for j in range(depth):
            p = f"layer{i}.{j}"
            keys += [f"{p}.conv1.weight", *(f"{p}.bn1.{k}" for k in BN_KEYS)]
            keys += [f"{p}.conv2.weight", *(f"{p}.bn2.{k}" for k in BN_KEYS)]
            if i > 1 and j == 0:
                keys += [f"{p}.downsample.0.weight", *(f"{p}.downsample.1.{k}" for k in BN_KEYS)]
    return keys + ["fc.weight", "fc.bias"]


def random_reference(depths=R18, num_classes=1000, seed=0):
    """The torch reference with random weights and non-trivial BN statistics, in eval mode."""
    torch = pytest.importorskip("torch")
    from benchmarks.reference_torch import build_reference

    torch.manual_seed(seed)
    net = build_reference("resnet18", num_classes=num_classes, depths=depths).eval()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.2)
                module.running_mean.normal_(0.0, 0.2)
                module.running_var.uniform_(0.5, 2.0)
            elif isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, 0.2)  # spread logits, so the softmax is not flat
                module.bias.normal_(0.0, 0.2)
    return net


def write_pth(net, path) -> dict:
    import torch

    from benchmarks.reference_torch import torchvision_state_dict

    state = torchvision_state_dict(net)
    torch.save(state, path)
    return state


def torch_probs(net, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return net(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).numpy()


def probs(model, x) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(x, training=False))


def features(model, layer: str, x) -> np.ndarray:
    sub = keras.Model(model.input, model.get_layer(layer).output)
    return keras.ops.convert_to_numpy(sub(x, training=False))


def assert_same_function(ours, reference, atol=1e-4):
    """Probabilities within atol, and log-probabilities too (1000-way softmaxes are small)."""
    np.testing.assert_allclose(ours, reference, atol=atol)
    np.testing.assert_allclose(np.log(ours), np.log(reference), atol=atol)


@pytest.fixture(scope="module")
def r18(tmp_path_factory):
    """(path, state dict, net): a random torchvision-layout ResNet18 file, 1000 classes."""
    net = random_reference(R18)
    path = str(tmp_path_factory.mktemp("torchvision") / "resnet18.pth")
    return path, write_pth(net, path), net


def kernel(model, name) -> np.ndarray:
    return keras.ops.convert_to_numpy(model.get_layer(name).kernel)


# --- (a) torchvision state dicts --------------------------------------------------------------


@pytest.mark.parametrize("depths, count", [(R18, 122), (R34, 218)])
def test_reference_state_dict_has_torchvisions_keys(depths, count):
    from benchmarks.reference_torch import torchvision_state_dict

    keys = list(torchvision_state_dict(random_reference(depths)))
    assert keys == torchvision_keys(depths)
    assert len(keys) == count  # torchvision's resnet18 / resnet34 state dicts have 122 / 218


def test_resnet18_pth_computes_the_torch_models_function(r18):
    path, _, net = r18
    model = ferzoo.build("resnet18", num_classes=1000, input_shape=(64, 64, 3), weights=path)
    x = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    assert_same_function(probs(model, x), torch_probs(net, x))
    report = model.pretrained_report
    assert len(report.loaded) == 41 and not report.skipped and not report.fresh
    assert report.unused == [] and report.kind == "torchvision"
    assert report.loaded_params == report.model_params == model.count_params()


def test_legacy_and_nested_checkpoints_are_read(r18, tmp_path):
    """torchvision's download files use torch's legacy format; checkpoints nest and prefix."""
    import torch

    _, state, _ = r18
    legacy = str(tmp_path / "legacy.pth")
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    nested = str(tmp_path / "checkpoint.pt")
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, nested)
    for path in (legacy, nested):
        model = ferzoo.build("resnet18", num_classes=1000, input_shape=(32, 32, 3), weights=path)
        assert len(model.pretrained_report.loaded) == 41, path


@pytest.mark.parametrize(
    "constant, wrong",
    [
        ("_CONV_TO_KERAS", (3, 2, 1, 0)),  # kh and kw swapped: same shapes, other function
        ("_BN_TORCH_KEYS", ("weight", "bias", "running_var", "running_mean")),
    ],
)
def test_a_wrong_conversion_is_caught(r18, monkeypatch, constant, wrong):
    path, _, net = r18
    monkeypatch.setattr(sources, constant, wrong)
    model = ferzoo.build("resnet18", num_classes=1000, input_shape=(64, 64, 3), weights=path)
    x = np.random.default_rng(1).random((2, 64, 64, 3), dtype=np.float32)
    with pytest.raises(AssertionError):
        assert_same_function(probs(model, x), torch_probs(net, x))


@pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="TensorFlow's CPU convs lack channels_first"
)
def test_a_channels_first_model_takes_the_same_file(r18):
    path, _, net = r18
    model = ferzoo.build(
        "resnet18",
        num_classes=1000,
        input_shape=(3, 32, 32),
        data_format="channels_first",
        weights=path,
    )
    x = np.random.default_rng(2).random((2, 32, 32, 3), dtype=np.float32)
    assert_same_function(probs(model, np.transpose(x, (0, 3, 1, 2))), torch_probs(net, x))


def test_pth_into_msc_wca_resnet18_takes_the_shared_layers(r18):
    path, state, _ = r18
    keras.utils.set_random_seed(3)
    fresh_model = ferzoo.build("msc_wca_resnet18", input_shape=(32, 32, 3))
    keras.utils.set_random_seed(3)
    model = ferzoo.build("msc_wca_resnet18", input_shape=(32, 32, 3), weights=path)
    report = model.pretrained_report
    assert [name for name, _ in report.skipped] == ["stem_bn", "stage1_block1_conv1", "predictions"]
    reasons = dict(report.skipped)
    assert "kernel is (3, 3, 64, 64) in the file, (3, 3, 192, 64)" in reasons["stage1_block1_conv1"]
    assert "another class count" in reasons["predictions"]
    assert report.fresh == [
        "stem_msc",
        "stem_wca",
        "stage1_block1_downsample_conv",
        "stage1_block1_downsample_bn",
    ]
    assert report.unused == ["conv1"]
    assert len(report.loaded) == 37 and "stage1_block1_conv2" in report.loaded
    np.testing.assert_array_equal(
        kernel(model, "stage2_block1_conv1"),
        np.transpose(state["layer2.0.conv1.weight"].numpy(), (2, 3, 1, 0)),
    )
    # Skipped and fresh layers keep the initialisation of the same seed.
    for name in ("stage1_block1_conv1", "stage1_block1_downsample_conv", "predictions"):
        np.testing.assert_array_equal(kernel(model, name), kernel(fresh_model, name))
    assert "Skipped, kept fresh: stem_bn" in report.summary


def test_pth_into_wamf_resnet18_leaves_wa_mf_and_capsules_fresh(r18):
    path, state, _ = r18
    model = ferzoo.build("wamf_resnet18", input_shape=(64, 64, 3), weights=path)
    report = model.pretrained_report
    stages = [f"stage{i}_{part}" for i in range(1, 5) for part in ("wa", "mf")]
    assert report.fresh == [*stages, "primary_capsules", "class_capsules"]
    assert report.skipped == [] and report.unused == ["fc"]
    assert len(report.loaded) == 40 and "stage4_block2_bn2" in report.loaded
    gamma = keras.ops.convert_to_numpy(
        model.get_layer("stage3_block1_downsample_bn").moving_variance
    )
    np.testing.assert_array_equal(gamma, state["layer3.0.downsample.1.running_var"].numpy())


def test_resnet34_pth_into_resnet34_depth_models(tmp_path):
    net = random_reference(R34, seed=4)
    path = str(tmp_path / "resnet34.pth")
    write_pth(net, path)
    model = ferzoo.build(
        "resnet18", num_classes=1000, input_shape=(32, 32, 3), depths=R34, weights=path
    )
    x = np.random.default_rng(4).random((2, 32, 32, 3), dtype=np.float32)
    assert_same_function(probs(model, x), torch_probs(net, x))
    assert len(model.pretrained_report.loaded) == 73  # 2 + 16 blocks x 4 + 3 x 2 + fc

    wamf = ferzoo.build("wamf_resnet34", input_shape=(48, 48, 3), weights=path)
    report = wamf.pretrained_report
    assert "stage3_block6_conv2" in report.loaded and "stage3_wa" in report.fresh
    assert report.unused == ["fc"] and len(report.loaded) == 72

    shallow = ferzoo.build("resnet18", input_shape=(32, 32, 3), weights=path)
    report = shallow.pretrained_report
    assert "layer1.2.conv1" in report.unused and "layer3.5.bn2" in report.unused
    assert [name for name, _ in report.skipped] == ["predictions"]


# --- (b) keras-hub presets --------------------------------------------------------------------


def tiny_model():
    return resnet(depths=(1, 2), widths=(64, 16), mf_kernels=(1, 7), input_shape=(32, 32, 3))


def test_keras_hub_preset_gives_the_backbones_features():
    expected = np.load(os.path.join(TINY_PRESET, "expected.npz"))
    model = tiny_model()
    report = pretrained.load_weights(model, TINY_PRESET)
    assert report.kind == "keras_hub" and report.fresh == ["predictions"]
    assert report.skipped == [] and report.unused == []
    assert "stage2_block1_downsample_conv" in report.loaded
    got = features(model, "stage2_block2_out", expected["x"])
    np.testing.assert_allclose(got, expected["features"], atol=1e-4)
    assert report.normalization == pretrained.normalization_for(TINY_PRESET)
    assert report.normalization["mean"] == pretrained.IMAGENET_MEAN


def copy_preset(tmp_path) -> str:
    folder = str(tmp_path / "preset")
    shutil.copytree(TINY_PRESET, folder)
    return folder


def set_name_attrs(file: str, value=None) -> int:
    """Delete (value None) or overwrite the layer names stored on the groups; return the count."""
    changed = 0
    with h5py.File(file, "r+") as f:
        for group in f["layers"].values():
            if "name" in group["vars"].attrs:
                if value is None:
                    del group["vars"].attrs["name"]
                else:
                    group["vars"].attrs["name"] = value
                changed += 1
    return changed


def test_keras_hub_preset_without_stored_names_reads_by_layer_order(tmp_path):
    """Presets written by older Keras (e.g. Kaggle's) store no names: the order must do."""
    folder = copy_preset(tmp_path)
    assert set_name_attrs(os.path.join(folder, "model.weights.h5")) > 10
    expected = np.load(os.path.join(folder, "expected.npz"))
    model = tiny_model()
    pretrained.load_weights(model, folder)
    got = features(model, "stage2_block2_out", expected["x"])
    np.testing.assert_allclose(got, expected["features"], atol=1e-4)


def test_keras_hub_preset_whose_names_contradict_the_order_is_refused(tmp_path):
    folder = copy_preset(tmp_path)
    set_name_attrs(os.path.join(folder, "model.weights.h5"), "conv1_bn")
    with pytest.raises(ValueError, match="holds layer 'conv1_bn'"):
        pretrained.load_weights(tiny_model(), folder)


def test_keras_hub_random_resnet18_preset(tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 128, 256, 512],
        stackwise_num_blocks=[2, 2, 2, 2],
        stackwise_num_strides=[1, 2, 2, 2],
        block_type="basic_block",
        use_pre_activation=False,
    )
    rng = np.random.default_rng(5)
    for variable in backbone.weights:
        if "moving_variance" in variable.path or "gamma" in variable.path:
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    backbone.save_to_preset(str(tmp_path / "resnet18"))
    model = ferzoo.build("resnet18", input_shape=(64, 64, 3), weights=str(tmp_path / "resnet18"))
    assert model.pretrained_report.fresh == ["predictions"]
    x = rng.random((2, 64, 64, 3), dtype=np.float32)
    np.testing.assert_allclose(
        features(model, "stage4_block2_out", x),
        keras.ops.convert_to_numpy(backbone(x, training=False)),
        atol=1e-4,
    )


@pytest.mark.parametrize(
    "edit, match",
    [
        ({"block_type": "basic_block_vd"}, "block_type='basic_block_vd'"),
        ({"use_pre_activation": True}, "use_pre_activation=True"),
        ({"class_name": "DenseNetBackbone"}, "class_name='DenseNetBackbone'"),
    ],
)
def test_keras_hub_presets_without_ferzoos_layers_are_refused(tmp_path, edit, match):
    folder = copy_preset(tmp_path)
    config_file = os.path.join(folder, "config.json")
    with open(config_file) as f:
        config = json.load(f)
    for key, value in edit.items():
        (config if key == "class_name" else config["config"])[key] = value
    with open(config_file, "w") as f:
        json.dump(config, f)
    with pytest.raises(ValueError, match=match):
        pretrained.load_weights(tiny_model(), folder)


# --- (c) ferzoo files from an earlier run -----------------------------------------------------


def randomize_statistics(model, seed=0):
    """Non-trivial BN statistics, gammas and Morlet shifts, so that a lost weight shows."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        if any(key in variable.path for key in ("moving", "gamma", "beta", "shift")):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))


def test_ferzoo_keras_round_trip_and_a_new_head(tmp_path):
    source = ferzoo.build("msc_wca_resnet18", input_shape=(32, 32, 3))
    randomize_statistics(source)
    path = str(tmp_path / "model.keras")
    source.save(path)
    x = np.random.default_rng(6).random((2, 32, 32, 3), dtype=np.float32)

    same = ferzoo.build("msc_wca_resnet18", input_shape=(32, 32, 3), weights=path)
    np.testing.assert_allclose(probs(same, x), probs(source, x), atol=1e-6)
    report = same.pretrained_report
    assert report.kind == "ferzoo" and not report.skipped and not report.fresh
    assert {"stem_msc", "stem_wca", "predictions"} <= set(report.loaded)

    other = ferzoo.build("msc_wca_resnet18", num_classes=5, input_shape=(32, 32, 3), weights=path)
    report = other.pretrained_report
    assert [name for name, _ in report.skipped] == ["predictions"]
    assert "(512, 7) in the file, (512, 5) in the model" in report.skipped[0][1]
    np.testing.assert_allclose(
        features(other, "avg_pool", x), features(source, "avg_pool", x), atol=1e-6
    )


def test_ferzoo_weights_h5_round_trip_with_capsules(tmp_path):
    source = ferzoo.build("wamf_resnet18", input_shape=(48, 48, 3))
    randomize_statistics(source, seed=1)
    path = str(tmp_path / "best-0003.weights.h5")
    source.save_weights(path)
    x = np.random.default_rng(7).random((2, 48, 48, 3), dtype=np.float32)

    same = ferzoo.build("wamf_resnet18", input_shape=(48, 48, 3), weights=path)
    np.testing.assert_allclose(probs(same, x), probs(source, x), atol=1e-6)
    assert {"stage2_wa", "stage2_mf", "class_capsules"} <= set(same.pretrained_report.loaded)

    no_mf = ferzoo.build("wa_resnet18_caps", input_shape=(48, 48, 3), weights=path)
    report = no_mf.pretrained_report
    assert report.fresh == [] and report.skipped == []
    assert report.unused == [f"stage{i}_mf" for i in range(1, 5)]


def test_weights_h5_without_layer_names_is_refused(tmp_path):
    source = ferzoo.build("resnet18", input_shape=(32, 32, 3))
    path = str(tmp_path / "old.weights.h5")
    source.save_weights(path)
    set_name_attrs(path)
    with pytest.raises(ValueError, match="stores no layer names.*model.keras"):
        ferzoo.build("resnet18", input_shape=(32, 32, 3), weights=path)


# --- errors, the report, normalisation, freezing ----------------------------------------------


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("missing.pth", None, "not found"),
        ("garbage.pth", b"not a torch file", "Cannot read .* as a PyTorch state dict"),
        ("garbage.weights.h5", b"not hdf5", "Cannot read .* as a Keras .weights.h5"),
        ("garbage.keras", b"not a zip", ".*garbage.keras is not a Keras model file"),
        ("weights.npz", b"", "Unknown weights format"),
        ("folder", "dir", "not a keras-hub preset"),
    ],
)
def test_unreadable_sources_name_the_file(tmp_path, name, content, match):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        ferzoo.build("resnet18", input_shape=(32, 32, 3), weights=str(path))
    assert str(path) in str(info.value)


def test_a_file_that_fits_nothing_is_an_error(r18):
    path, _, _ = r18
    with pytest.raises(ValueError, match="Nothing in .*resnet18.pth fits model 'resnet18'"):
        ferzoo.build("resnet18", input_shape=(32, 32, 3), widths=(8, 16, 32, 64), weights=path)


def test_a_pth_without_torch_says_how_to_install_it(r18, monkeypatch):
    path, _, _ = r18
    model = ferzoo.build("resnet18", input_shape=(32, 32, 3))  # the torch backend needs torch
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"pip install torch==2\.13\.0"):
        pretrained.load_weights(model, path)


def test_the_report_is_logged_kept_and_serialisable(r18, caplog, tmp_path):
    path, _, _ = r18
    with caplog.at_level(logging.INFO, logger="ferzoo"):
        model = ferzoo.build("wca_resnet18", input_shape=(32, 32, 3), weights=path)
    report = model.pretrained_report
    assert any(
        r.name == "ferzoo.pretrained" and r.message == report.summary for r in caplog.records
    )
    record = json.loads(json.dumps(report.to_dict()))
    assert record["fresh"] == ["stem_wca"] and record["skipped"][0]["layer"] == "predictions"
    assert record["normalization"]["std"] == list(pretrained.IMAGENET_STD)
    assert report.summary.startswith("Initialised 40 of 42 weighted layers of wca_resnet18")
    model.save(str(tmp_path / "after.keras"))  # the attribute does not get in the way of saving
    assert keras.saving.load_model(str(tmp_path / "after.keras")).count_params() > 0
    assert not hasattr(ferzoo.build("resnet18", input_shape=(32, 32, 3)), "pretrained_report")


def test_normalization_for_each_source(tmp_path):
    assert pretrained.normalization_for(None) is None
    imagenet = pretrained.normalization_for("resnet18.pth")
    assert imagenet == pretrained.IMAGENET_NORMALIZATION
    imagenet["mean"] = None  # a copy: the constant stays
    assert pretrained.IMAGENET_NORMALIZATION["mean"] == (0.485, 0.456, 0.406)
    assert pretrained.normalization_for(TINY_PRESET)["name"] == "imagenet"

    old_style = tmp_path / "old_preset"  # keras-hub's older converter config: mean and variance
    old_style.mkdir()
    converter = {
        "class_name": "ResNetImageConverter",
        "config": {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "variance": [0.0625] * 3},
    }
    (old_style / "image_converter.json").write_text(json.dumps(converter))
    found = pretrained.normalization_for(str(old_style))
    np.testing.assert_allclose(found["mean"], 0.5)
    np.testing.assert_allclose(found["std"], 0.25)
    assert found["name"] == "keras_hub"

    run = tmp_path / "fold-0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"normalization": {"name": "x", "mean": [0.1]}}))
    assert pretrained.normalization_for(str(run / "model.keras"))["name"] == "x"
    assert pretrained.normalization_for(str(run / "checkpoints" / "best.weights.h5"))["name"] == "x"
    assert pretrained.normalization_for(str(tmp_path / "other" / "model.keras")) is None


def test_normalize_matches_the_formula():
    rng = np.random.default_rng(8)
    x = rng.random((2, 4, 4, 3), dtype=np.float32)
    got = pretrained.normalize(x, pretrained.IMAGENET_NORMALIZATION)
    expected = (x - np.array(pretrained.IMAGENET_MEAN)) / np.array(pretrained.IMAGENET_STD)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    first = pretrained.normalize(
        np.transpose(x, (0, 3, 1, 2)), pretrained.IMAGENET_NORMALIZATION, channel_axis=1
    )
    np.testing.assert_allclose(np.transpose(first, (0, 2, 3, 1)), got, atol=1e-6)
    assert pretrained.normalize(x, None) is x
    with pytest.raises(ValueError, match="images.shape=\\(2, 4, 4, 1\\)"):
        pretrained.normalize(x[..., :1], pretrained.IMAGENET_NORMALIZATION)


def test_set_backbone_trainable_freezes_the_loaded_layers_only(r18):
    path, _, _ = r18
    model = ferzoo.build("wamf_resnet18", input_shape=(48, 48, 3), weights=path)
    before = len(model.trainable_weights)
    frozen = pretrained.set_backbone_trainable(model, False)
    assert frozen == model.pretrained_report.loaded and len(frozen) == 40
    assert not model.get_layer("stage1_block1_conv1").trainable
    assert model.get_layer("stage1_wa").trainable and model.get_layer("class_capsules").trainable
    assert len(model.trainable_weights) == before - 20 - 20 * 2  # 20 convs, 20 BNs (gamma, beta)
    pretrained.set_backbone_trainable(model, True)
    assert len(model.trainable_weights) == before
    with pytest.raises(ValueError, match="no pretrained_report"):
        pretrained.set_backbone_trainable(ferzoo.build("resnet18", input_shape=(32, 32, 3)), False)
