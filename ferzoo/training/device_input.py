"""The training step's input: uint8 batches in, the float conversion, augmentation and
normalisation done in the compiled step, on the device.

`training_model(net, ...)` wraps a network in a thin `keras.Model`:

    uint8 (B, S, S, 3) -> FaceAugment(augment, seed) -> [Normalization(mean, std)] -> net

It shares the network's layers and weights (nothing is copied), so fitting it trains the
network. `ferzoo.train` fits it on `LoadedData.uint8_batches()` (training and validation: in
validation the layer only divides by 255, so validation metrics are never augmented), while
everything else (the kept epoch's weights, checkpoints, `model.keras`, evaluation, export,
profiles) is the network itself, unchanged: same layers, names and weights, no augmentation
layer. The wrapper's `network` attribute names it; `network_of(model)` gives the network of a
wrapper and a network itself, for callbacks that `fit` hands the wrapper.

Example:

    import ferzoo
    from ferzoo.training.device_input import training_model

    data = ferzoo.data.load("synthetic_faces", image_size=64)
    net = ferzoo.build("cnn", num_classes=data.num_classes, input_shape=(64, 64, 3))
    model = training_model(net, augment=data.augment, seed=0)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    batches = data.uint8_batches()
    model.fit(batches["train"], validation_data=batches["validation"], epochs=2)
    net.predict(...)  # the trained network, on float32 [0, 1] images

Data on the device (`data_on_device`: "auto", "on" or "off"; `ferzoo train
--data-on-device`): with "on", the training and validation images are placed on the device once,
as the weight of an `ferzoo.layers.ImageTable` in front of FaceAugment, and `fit` is given int32
row indices (`LoadedData.row_batches()`): the gather, too, runs in the step, and no image
crosses from host to device again. With "off", the host gathers uint8 batches (tf.data prefetches
them; the NumPy pipeline gathers them in the caller's thread, at about 300,000 images/s at
112 px, results/data_pipeline.md). "auto" places the data when its bytes fit in
`DEVICE_SHARE` of the device's memory (the smallest GPU the backend sees; on a machine
without one, the host is the device and its RAM is the memory). Both give the same examples in
the same order, so the same history. The device copy is made once per process and data
(`table_layer` caches it beside the host arrays), so a sweep's trials share it; each run's
`ImageTable` weight is made from it on the device (on TensorFlow and JAX a second copy while
the run lives, which the quarter's budget leaves room for).

Reference:
    Why a share of a quarter: the rest is left to the model, its activations and the
    optimizer; CK+, JAFFE and KDEF at 112 px are tens of MB, FER2013 at 48 px 250 MB, so
    every dataset the papers use fits on any current GPU, while AffectNet at 112 px (11 GB)
    stays on the host of a 24 GB card. Why a wrapper and not a layer inside the network: the saved and exported network must
    stay what `ferzoo.build` made (a serving user feeds it preprocessed float32 images), and a
    pretrained network's normalisation belongs to its weights' recipe, not its graph. The
    host now only gathers uint8 pixels by index (a quarter of float32's bytes to move to the
    device); every per-pixel operation runs in the compiled step on every backend.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

import keras
import numpy as np

from ferzoo.layers.face_augment import FaceAugment
from ferzoo.layers.image_table import ImageTable
from ferzoo.training.options import DATA_ON_DEVICE

#: The share of the device's memory that "auto" lets the data take.
DEVICE_SHARE = 0.25
#: The environment variable that sets a process's share instead (a sweep's workers that share
#: a GPU, `--trials-per-device N`, each get `DEVICE_SHARE / N`: processes share no memory).
SHARE_VARIABLE = "FERZOO_DEVICE_SHARE"


def share() -> float:
    """The share of the device's memory this process's data may take (`SHARE_VARIABLE`, else
    `DEVICE_SHARE`)."""
    value = os.environ.get(SHARE_VARIABLE)
    try:
        chosen = DEVICE_SHARE if value is None else float(value)
    except ValueError:
        chosen = -1.0
    if not 0.0 < chosen <= 1.0:
        raise ValueError(f"{SHARE_VARIABLE} must be a number in (0, 1]. Received: {value!r}")
    return chosen


# id(first array of a table key) -> (weak reference to it, the key's other arrays, the
# `ImageTable` layer holding the images on the device): see `table_layer`.
_TABLES: dict[int, tuple] = {}


def training_model(
    net: keras.Model,
    *,
    augment: float = 0.0,
    seed: int | None = None,
    normalization: dict[str, Any] | None = None,
    table: ImageTable | None = None,
) -> keras.Model:
    """`net` behind a uint8 input, `FaceAugment(augment, seed)` and the optional per-channel
    normalisation `{"mean": [...], "std": [...]}` (see the module docstring); with a `table`,
    behind int32 row indices into it instead (the data on the device).

    Args:
        net: a built Keras model taking float32 `(B, S, S, 3)` images.
        augment: the augmentation strength in [0, 1] (0: none, only the /255 conversion).
        seed: the augmentation's seed (None: a random one).
        normalization: ImageNet-style `mean` and `std` of [0, 1] pixels, or None.
        table: the images on the device (`table_layer`), or None: uint8 images come in.

    Returns:
        An uncompiled `keras.Model` from uint8 images (or rows of `table`) to `net`'s outputs,
        with the attribute `network` (`net`).
    """
    shape = tuple(net.inputs[0].shape[1:])
    if table is None:
        inputs = pixels = keras.Input(shape=shape, dtype="uint8", name="pixels")
    else:
        inputs = keras.Input(shape=(), dtype="int32", name="rows")
        pixels = table(inputs)
    x = FaceAugment(augment, seed=seed, dtype="float32", name="face_augment")(pixels)
    if normalization:
        mean = np.asarray(normalization["mean"], np.float32)
        std = np.asarray(normalization["std"], np.float32)
        x = keras.layers.Normalization(
            mean=mean, variance=np.square(std), dtype="float32", name="normalization"
        )(x)
    model = keras.Model(inputs, net(x), name=f"{net.name}_training")
    model.network = net
    return model


def network_of(model: keras.Model) -> keras.Model:
    """The network a `training_model` wraps, or `model` itself."""
    return getattr(model, "network", model)


def check_data_on_device(value: Any) -> str:
    """`value` if it is one of `DATA_ON_DEVICE`, else a ValueError naming it."""
    if value not in DATA_ON_DEVICE:
        raise ValueError(
            f"data_on_device must be one of {DATA_ON_DEVICE}. Received: data_on_device={value!r}"
        )
    return value


def device_memory() -> tuple[str, int]:
    """`("gpu", bytes)` of the smallest GPU Keras' backend sees, or `("cpu", bytes of RAM)`."""
    from ferzoo.runtime.devices import backend_devices, nvidia_gpus

    gpus = [d for d in backend_devices() if d["kind"] == "gpu"]
    if gpus:
        known = [d["memory_bytes"] for d in gpus if "memory_bytes" in d]
        known = known or [g["memory_bytes"] for g in nvidia_gpus()]  # TensorFlow's GPUs
        if known:
            return "gpu", int(min(known))
    return "cpu", int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def placement(choice: str, nbytes: int, memory: tuple[str, int] | None = None) -> dict[str, Any]:
    """Whether data of `nbytes` goes on the device under `choice` (`DATA_ON_DEVICE`), and why:
    `{"choice", "on", "device", "bytes", "budget"}` (config.json records it)."""
    check_data_on_device(choice)
    kind, total = memory or device_memory()
    budget = int(share() * total)
    on = choice == "on" or (choice == "auto" and nbytes <= budget)
    return {"choice": choice, "on": on, "device": kind, "bytes": int(nbytes), "budget": budget}


def table_layer(data: Any) -> ImageTable:
    """The `ImageTable` of `data.table()`: one layer, and one device copy of the images, per
    process and table (`LoadedData.table_key()`: the whole dataset's images, shared by every
    fold, batch size and augmentation of a sweep). Every step model that takes rows of this
    data shares the layer and its weight (see the module docstring)."""
    first, *rest = data.table_key()
    key = id(first)
    hit = _TABLES.get(key)
    stale = hit is None or hit[0]() is not first or len(hit[1]) != len(rest)
    if stale or any(a is not b for a, b in zip(hit[1], rest, strict=True)):
        images = data.table()
        layer = ImageTable(images.shape, images, name="image_table")
        _TABLES[key] = (weakref.ref(first, lambda _, key=key: _TABLES.pop(key, None)),
                        tuple(rest), layer)  # fmt: skip
        hit = _TABLES[key]
    return hit[2]


__all__ = ["DATA_ON_DEVICE", "DEVICE_SHARE", "SHARE_VARIABLE", "check_data_on_device",
           "device_memory", "network_of", "placement", "share", "table_layer",
           "training_model"]  # fmt: skip
