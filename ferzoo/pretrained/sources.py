"""Reading each weights format and renaming its layers to ferzoo's.

torchvision state dicts (`.pth`), keras-hub ResNet preset folders, ferzoo `.keras` and
`.weights.h5` files; each becomes a `Source`: ferzoo layer name -> its variables, laid out as in
Keras' weights file (`vars/<i>`, sublayers below), ready for `loading.load_weights`.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from ferzoo.files import DamagedFileError
from ferzoo.pretrained.layout import EXPECTED, Entry, layer_groups, read_h5_groups

TORCH_INSTALL = "pip install torch==2.13.0"
_ZIP_MAGIC = b"PK\x03\x04"  # a zip archive's first bytes (a .keras file is one)

# torch Conv2d (out, in, kh, kw) -> Keras Conv2D (kh, kw, in, out).
_CONV_TO_KERAS = (2, 3, 1, 0)
# torch BatchNorm2d tensors in the order of Keras' variables (gamma, beta, moving_mean,
# moving_variance); num_batches_tracked has no Keras counterpart.
_BN_TORCH_KEYS = ("weight", "bias", "running_mean", "running_var")


@dataclass
class Source:
    """A weights file read and renamed: what `loading.load_weights` matches against a model."""

    path: str
    kind: str
    entries: dict[str, Entry]  # ferzoo layer name -> its variables
    origin: dict[str, str]  # ferzoo layer name -> the name in the source
    unused: list[str]  # source names with no ferzoo counterpart


def read_source(weights: Any) -> Source:
    """Read `weights` by its kind: a folder (keras-hub preset), .pth/.pt, .keras or .h5."""
    try:
        path = os.fspath(weights)
    except TypeError:
        raise ValueError(
            f"weights must be a path to {EXPECTED}. Received: weights={weights!r}"
        ) from None
    if not os.path.exists(path):
        raise ValueError(f"weights file not found; expected {EXPECTED}. Received: weights={path!r}")
    lower = path.lower()
    if os.path.isdir(path):
        return _read_keras_hub_preset(path)
    if lower.endswith((".pth", ".pt")):
        return _read_torchvision(path)
    if lower.endswith(".keras"):
        return _read_ferzoo_keras(path)
    if lower.endswith(".h5"):
        return _read_ferzoo_h5(path)
    raise ValueError(f"Unknown weights format; expected {EXPECTED}. Received: weights={path!r}")


def _torch_state_dict(path: str) -> dict[str, np.ndarray]:
    try:
        import torch  # noqa: PLC0415  (only .pth files need PyTorch)
    except ImportError as error:
        raise ImportError(f"Reading {path} needs PyTorch: {TORCH_INSTALL}") from error
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(
            f"Cannot read {path} as a PyTorch state dict ({type(error).__name__}: {error}); "
            f"expected a file from torch.save(model.state_dict(), path), e.g. torchvision's "
            f"resnet18. Received: weights={path!r}"
        ) from error
    if isinstance(state, dict):
        for key in ("state_dict", "model"):  # training checkpoints nest the state dict
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not any(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(
            f"{path} holds no state dict of tensors (found {type(state).__name__}); expected "
            f"torch.save(model.state_dict(), path). Received: weights={path!r}"
        )
    arrays = {}
    for key, value in state.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu()
            arrays[key.removeprefix("module.")] = (
                value.float() if value.is_floating_point() else value
            ).numpy()
    return arrays


def pretrained_name_map(kind: str):
    """The layer-name map (source name -> ferzoo's, None: no counterpart) for weights of `kind`,
    from the model family that publishes one (`Family.pretrained_names`)."""
    from ferzoo.models import FAMILIES  # noqa: PLC0415  (Keras, loaded by the model already)

    for family in FAMILIES.values():
        if kind in family.pretrained_names:
            return family.pretrained_names[kind]
    raise ValueError(f"No model family reads {kind} weights. Received: kind={kind!r}")


def _torch_entry(tensors: dict[str, np.ndarray]) -> Entry | None:
    """One torch module's tensors as the Keras layer's variables (None: not convertible)."""
    if "running_mean" in tensors:  # BatchNorm2d
        if not all(k in tensors for k in _BN_TORCH_KEYS):
            return None
        return {f"vars/{i}": tensors[k] for i, k in enumerate(_BN_TORCH_KEYS)}
    weight = tensors.get("weight")
    if weight is None:
        return None
    if weight.ndim == 4:  # Conv2d
        entry = {"vars/0": np.transpose(weight, _CONV_TO_KERAS)}
    elif weight.ndim == 2:  # Linear
        entry = {"vars/0": weight.T}
    else:
        return None
    if "bias" in tensors:
        entry["vars/1"] = tensors["bias"]
    return entry


def _read_torchvision(path: str) -> Source:
    modules: dict[str, dict[str, np.ndarray]] = {}
    for key, array in _torch_state_dict(path).items():
        module, _, tensor = key.rpartition(".")
        if tensor != "num_batches_tracked":
            modules.setdefault(module, {})[tensor] = array
    entries, origin, unused = {}, {}, []
    to_ferzoo = pretrained_name_map("torchvision")
    for module, tensors in modules.items():
        name = to_ferzoo(module)
        entry = None if name is None else _torch_entry(tensors)
        if entry is None:
            unused.append(module)
        else:
            entries[name], origin[name] = entry, module
    return Source(path, "torchvision", entries, origin, unused)


def _read_keras_hub_preset(path: str) -> Source:
    config_file = os.path.join(path, "config.json")
    weights_file = os.path.join(path, "model.weights.h5")
    if not (os.path.isfile(config_file) and os.path.isfile(weights_file)):
        raise ValueError(
            f"{path} is a folder but not a keras-hub preset: expected config.json and "
            f"model.weights.h5 in it (what keras_hub's save_to_preset writes; sharded weights "
            f"are not supported). For a ferzoo run, pass its model.keras. Received: weights={path!r}"
        )
    try:
        with open(config_file) as f:
            config = json.load(f)
        args = config["config"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"Cannot read {config_file} as a keras-hub backbone config ({error}). "
            f"Received: weights={path!r}"
        ) from error
    if config.get("class_name") != "ResNetBackbone":
        raise ValueError(
            f"{path} is not a keras-hub ResNet preset: expected class_name 'ResNetBackbone' "
            f"(e.g. resnet_18_imagenet). Received: class_name={config.get('class_name')!r}"
        )
    plain = (
        args.get("block_type") == "basic_block"
        and not args.get("use_pre_activation")
        and len(args.get("input_conv_filters", ())) == 1
    )
    if not plain:
        raise ValueError(
            f"{path}: ferzoo's ResNet is the v1 basic-block ResNet (keras-hub's "
            f"resnet_18_imagenet); this preset has other layers (ResNet-vd, ResNetV2 or "
            f"bottleneck blocks). Received: block_type={args.get('block_type')!r}, "
            f"use_pre_activation={args.get('use_pre_activation')!r}, "
            f"input_conv_filters={args.get('input_conv_filters')!r}"
        )
    groups = layer_groups(keras_hub_mirror(args))
    entries, origin, unused = read_h5_groups(weights_file, groups, check_names=True)
    renamed, renamed_origin = {}, {}
    to_ferzoo = pretrained_name_map("keras_hub")
    for hub_name, entry in entries.items():
        name = to_ferzoo(hub_name)
        if name is None:
            unused.append(hub_name)
        else:
            renamed[name], renamed_origin[name] = entry, hub_name
    return Source(path, "keras_hub", renamed, renamed_origin, unused)


def keras_hub_mirror(args: dict[str, Any]):
    """keras-hub's ResNetBackbone graph (v1, basic blocks) at width 1: for its layer order only.

    The layers, names, call order and `Add` input order are keras-hub 0.32's
    `ResNetBackbone.__init__`/`apply_basic_block`; the widths do not change the order, and
    width 1 keeps the copy tiny.
    """
    import keras  # noqa: PLC0415

    layers = keras.layers
    kernel = args["input_conv_kernel_sizes"][0]
    x = inputs = keras.Input((None, None, 1))
    x = layers.ZeroPadding2D((kernel - 1) // 2, name="conv1_pad")(x)
    x = layers.Conv2D(1, kernel, strides=2, use_bias=False, name="conv1_conv")(x)
    x = layers.BatchNormalization(name="conv1_bn")(x)
    x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    plan = zip(args["stackwise_num_blocks"], args["stackwise_num_strides"], strict=True)
    for s, (blocks, stride) in enumerate(plan):
        for b in range(blocks):
            name, step = f"stack{s}_block{b}", stride if b == 0 else 1
            shortcut = x
            if b == 0 and s > 0:  # keras-hub: no conv shortcut in the first basic-block stack
                shortcut = layers.Conv2D(1, 1, strides=step, use_bias=False, name=f"{name}_0_conv")(
                    x
                )
                shortcut = layers.BatchNormalization(name=f"{name}_0_bn")(shortcut)
            if step > 1:
                x = layers.ZeroPadding2D(1, name=f"{name}_1_pad")(x)
            padding = "valid" if step > 1 else "same"
            x = layers.Conv2D(1, 3, step, padding=padding, use_bias=False, name=f"{name}_1_conv")(x)
            x = layers.BatchNormalization(name=f"{name}_1_bn")(x)
            x = layers.Activation("relu", name=f"{name}_1_relu")(x)
            x = layers.Conv2D(1, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x)
            x = layers.BatchNormalization(name=f"{name}_2_bn")(x)
            x = layers.Add(name=f"{name}_add")([shortcut, x])
            x = layers.Activation("relu", name=f"{name}_out")(x)
    return keras.Model(inputs, x)


def keras_file_problem(path: str) -> str | None:
    """Why `path` is not a whole `.keras` model file (a phrase read after "is"), or None.

    Checks the name, the zip archive (every member's CRC) and its config.json, so that a
    damaged or mistaken file is named as such, not as Keras' "File not found".

    Example:
        >>> keras_file_problem("notes.txt")
        'not a Keras model file (expected a .keras file)'
    """
    name = os.path.basename(path).lower()
    if name.endswith(".weights.h5"):
        return "a weights file, not a Keras model file (a .weights.h5 holds no architecture)"
    if not name.endswith(".keras"):
        return "not a Keras model file (expected a .keras file)"
    with open(path, "rb") as f:
        head = f.read(len(_ZIP_MAGIC))
    if head != _ZIP_MAGIC:
        return "not a Keras model file (not a zip archive)" if head else "damaged (empty)"
    try:
        with zipfile.ZipFile(path) as archive:
            if "config.json" not in archive.namelist():
                return "not a Keras model file (no config.json in its zip archive)"
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as error:
        return f"damaged (a truncated or broken zip archive: {DamagedFileError.reason(error)})"
    return f"damaged ({broken} in its zip archive fails its CRC check)" if broken else None


def load_keras_file(path: str, expected: str):
    """`keras.saving.load_model(path, compile=False)`; a damaged or mistaken file is a
    one-line `DamagedFileError` naming it.

    Args:
        path: an existing file.
        expected: what the caller takes, for the fix ("the model.keras that `ferzoo train`
            wrote").
    """
    import keras  # noqa: PLC0415

    problem = keras_file_problem(path)
    if problem is None:
        try:
            return keras.saving.load_model(path, compile=False)
        except Exception as error:  # Keras and h5py raise many types for a file they cannot read
            why = f"{type(error).__name__}: {DamagedFileError.reason(error)}"
            problem = f"not loadable by Keras {keras.__version__} ({why})"
            raise DamagedFileError(path, problem, f"pass {expected}") from error
    if problem.startswith("damaged"):
        raise DamagedFileError(path, problem, f"copy it again, or train again ({expected})")
    raise DamagedFileError(path, problem, f"pass {expected}")


def _read_ferzoo_keras(path: str) -> Source:
    source_model = load_keras_file(
        path, "a .keras file saved by a ferzoo run, e.g. its model.keras"
    )
    with tempfile.TemporaryDirectory() as folder:
        file = os.path.join(folder, "source.weights.h5")
        source_model.save_weights(file)
        entries, origin, unused = read_h5_groups(file, layer_groups(source_model))
    return Source(path, "ferzoo", entries, origin, unused)


def _read_ferzoo_h5(path: str) -> Source:
    """A `.weights.h5` without its model: layer names from the groups' `name` attributes."""
    try:
        with h5py.File(path, "r") as f:
            if "layers" not in f:
                raise ValueError("no 'layers' group")
            groups = {}
            for group in f["layers"]:
                vars_group = f["layers"][group].get("vars")
                name = vars_group.attrs.get("name") if isinstance(vars_group, h5py.Group) else None
                if name is not None:
                    groups[name.decode() if isinstance(name, bytes) else str(name)] = group
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Cannot read {path} as a Keras .weights.h5 file ({error}); expected {EXPECTED}. "
            f"Received: weights={path!r}"
        ) from error
    if not groups:
        raise ValueError(
            f"{path} stores no layer names (files from older Keras do not): pass the "
            f"run's model.keras instead. Received: weights={path!r}"
        )
    if "conv1_conv" in groups and "stem_conv" not in groups:
        raise ValueError(
            f"{path} looks like a keras-hub backbone's weights: pass its preset folder (with "
            f"config.json). Received: weights={path!r}"
        )
    entries, origin, unused = read_h5_groups(path, {n: f"layers/{g}" for n, g in groups.items()})
    return Source(path, "ferzoo", entries, origin, unused)
