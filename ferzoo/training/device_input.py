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

Reference:
    Why a wrapper and not a layer inside the network: the saved and exported network must
    stay what `ferzoo.build` made (a serving user feeds it preprocessed float32 images), and a
    pretrained network's normalisation belongs to its weights' recipe, not its graph. The
    host now only gathers uint8 pixels by index (a quarter of float32's bytes to move to the
    device); every per-pixel operation runs in the compiled step on every backend.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from ferzoo.layers.face_augment import FaceAugment


def training_model(
    net: keras.Model,
    *,
    augment: float = 0.0,
    seed: int | None = None,
    normalization: dict[str, Any] | None = None,
) -> keras.Model:
    """`net` behind a uint8 input, `FaceAugment(augment, seed)` and the optional per-channel
    normalisation `{"mean": [...], "std": [...]}` (see the module docstring).

    Args:
        net: a built Keras model taking float32 `(B, S, S, 3)` images.
        augment: the augmentation strength in [0, 1] (0: none, only the /255 conversion).
        seed: the augmentation's seed (None: a random one).
        normalization: ImageNet-style `mean` and `std` of [0, 1] pixels, or None.

    Returns:
        An uncompiled `keras.Model` from uint8 images to `net`'s outputs, with the attribute
        `network` (`net`).
    """
    shape = tuple(net.inputs[0].shape[1:])
    inputs = keras.Input(shape=shape, dtype="uint8", name="pixels")
    x = FaceAugment(augment, seed=seed, dtype="float32", name="face_augment")(inputs)
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


__all__ = ["network_of", "training_model"]
