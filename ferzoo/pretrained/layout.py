"""Keras' weights-file layout: which h5 group holds which layer, and reading the groups."""

from __future__ import annotations

import re

import h5py
import numpy as np

EXPECTED = (
    "a torchvision ResNet18/ResNet34 state dict (.pth/.pt), a keras-hub ResNet preset folder "
    "(config.json + model.weights.h5) or a ferzoo .keras / .weights.h5 file"
)
Entry = dict[str, np.ndarray]  # path within a layer's h5 group -> array


def snake_case(name: str) -> str:
    """Keras' `naming.to_snake_case`, which names a layer's group in a weights file."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_groups(model) -> dict[str, str]:
    """Layer name -> its group in `model.save_weights`'s file (`layers/conv2d_3`, ...).

    Keras numbers the groups per class in the order of `model.layers`
    (`saving_lib._save_container_state`).
    """
    used: dict[str, int] = {}
    groups = {}
    for layer in model.layers:
        base = snake_case(type(layer).__name__)
        if base in used:
            used[base] += 1
            groups[layer.name] = f"layers/{base}_{used[base]}"
        else:
            used[base] = 0
            groups[layer.name] = f"layers/{base}"
    return groups


def group_arrays(group: h5py.Group) -> Entry:
    arrays: Entry = {}

    def visit(name: str, item) -> None:
        if isinstance(item, h5py.Dataset):
            arrays[name] = item[()]

    group.visititems(visit)
    return arrays


def read_h5_groups(
    file: str, groups: dict[str, str], check_names: bool = False
) -> tuple[dict[str, Entry], dict[str, str], list[str]]:
    """The variables of each named layer group that holds any (and an identity origin map)."""
    entries: dict[str, Entry] = {}
    with h5py.File(file, "r") as f:
        for name, group in groups.items():
            if group not in f:
                continue
            arrays = group_arrays(f[group])
            if arrays:  # weightless layers may have auto-generated names: not checked
                if check_names:
                    check_group_name(f[group], name, file)
                entries[name] = arrays
    return entries, {name: name for name in entries}, []


def check_group_name(group: h5py.Group, expected: str, file: str) -> None:
    """Newer Keras stores the layer name on the group: it must be the one the order implies."""
    vars_group = group.get("vars")
    stored = vars_group.attrs.get("name") if isinstance(vars_group, h5py.Group) else None
    if isinstance(stored, bytes):
        stored = stored.decode()
    if stored is not None and stored != expected:
        raise ValueError(
            f"{file}: group {group.name} holds layer {stored!r} where the layer order puts "
            f"{expected!r}: the file does not follow the layout ferzoo reads (a keras-hub "
            f"ResNetBackbone, or Keras' own numbering). Received: weights={file!r}"
        )
