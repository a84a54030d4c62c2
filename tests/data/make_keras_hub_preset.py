"""Write tests/data/keras_hub_resnet_tiny/: a genuine keras-hub ResNet preset, small enough to commit.

keras-hub does not install beside ferzoo's pinned packages (it pulls the full `tensorflow` wheel
through tensorflow-text), so the tests read this folder instead of calling keras-hub. Made with
keras-hub 0.32.0 and Keras 3.15.1 (TensorFlow backend), from the wheel unpacked outside the venv:

    pip download --no-deps keras-hub && unzip keras_hub-*.whl -d /tmp/khub
    pip install --no-deps --target /tmp/khub regex kagglehub kagglesdk==0.1.28 tokenizers sentencepiece
    PYTHONPATH=/tmp/khub:$PWD KERAS_BACKEND=tensorflow python tests/data/make_keras_hub_preset.py

The backbone is a v1 basic-block ResNet with 64 then 16 filters and 1 then 2 blocks (ferzoo's
`resnet(depths=(1, 2), widths=(64, 16))`), random weights with non-trivial BN statistics, and
an ImageNet image converter as keras-hub's ResNet presets have. `expected.npz` holds an input
(`x`, [0, 1] images) and the backbone's output on it (`features`).
"""

from __future__ import annotations

import os
import shutil

import keras
import keras_hub
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "keras_hub_resnet_tiny")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def main() -> None:
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[7],
        stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 2],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        use_pre_activation=False,
        image_shape=(None, None, 3),
    )
    rng = np.random.default_rng(0)
    for variable in backbone.weights:
        if any(key in variable.path for key in ("gamma", "moving_variance")):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
        elif any(key in variable.path for key in ("beta", "moving_mean")):
            variable.assign(rng.normal(0, 0.2, variable.shape).astype("float32"))
    converter = keras_hub.layers.ResNetImageConverter(
        image_size=(32, 32),
        scale=[1 / (255 * s) for s in STD],
        offset=[-m / s for m, s in zip(MEAN, STD, strict=True)],
    )
    preprocessor = keras_hub.models.ResNetImageClassifierPreprocessor(image_converter=converter)
    shutil.rmtree(OUT, ignore_errors=True)
    backbone.save_to_preset(OUT)
    preprocessor.save_to_preset(OUT)
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    features = keras.ops.convert_to_numpy(backbone(x, training=False))
    np.savez(os.path.join(OUT, "expected.npz"), x=x, features=features)
    print(OUT, sorted(os.listdir(OUT)), features.shape)


if __name__ == "__main__":
    main()
