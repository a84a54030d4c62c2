"""`ferzoo.profile`: hand-checkable counts, and the MsC-wCA paper's Table 8 (7 classes, 224x224x3).

The Table 8 tests build the models at 224x224 only to count; they never run a forward pass.
"""

from __future__ import annotations

import keras
import pytest

import ferzoo
from ferzoo import layers as L
from ferzoo.runtime.profiling import profile


def test_conv_and_dense_by_hand():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3)(inputs)  # 6x6x4
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Flatten()(x)  # 144
    outputs = keras.layers.Dense(5)(x)
    stats = profile(keras.Model(inputs, outputs))
    assert stats["macs"] == 3 * 3 * 3 * 4 * 6 * 6 + 144 * 5  # 3888 + 720
    # conv 108 + 4, BN gamma/beta 8 (moving statistics excluded), dense 720 + 5
    assert stats["params"] == stats["trainable_params"] == 112 + 8 + 725


def test_grouped_conv_and_nested_model():
    inner_in = keras.Input((6, 6, 4))
    inner = keras.Model(inner_in, keras.layers.Conv2D(8, 1, groups=2)(inner_in))
    inputs = keras.Input((6, 6, 4))
    outputs = inner(inner(keras.layers.Conv2D(4, 1)(inputs))[..., :4])
    stats = profile(keras.Model(inputs, outputs))
    # 1x1 conv 4->4 on 36 positions, then the nested grouped conv (4/2 * 8 per position) twice.
    assert stats["macs"] == 16 * 36 + 2 * (2 * 8 * 36)


def test_ferzoo_layers_by_hand():
    inputs = keras.Input((8, 8, 3))
    x = L.MultiScaleConv(2, kernel_sizes=(3, 5))(inputs)  # 8x8x4, "same"
    x = L.WaveletChannelAttention(ratio=2)(x)  # C=4, h=2: two branches of 4*2 + 2*4
    x = L.PrimaryCapsule(2, 4, kernel_size=3, strides=2, padding="same")(x)  # 4x4 -> 32 caps
    x = L.Capsule(3, 5, routings=3)(x)
    outputs = L.CapsuleLength()(x)
    stats = profile(keras.Model(inputs, outputs))
    msc = (3 * 3 * 3 * 2 + 5 * 5 * 3 * 2) * 64
    wca = 2 * (4 * 2 + 2 * 4)
    primary = 3 * 3 * 4 * 8 * 16
    capsule = 32 * 3 * 4 * 5 + (2 * 3 - 1) * 32 * 3 * 5  # predictions + routing
    assert stats["macs"] == msc + wca + primary + capsule


def test_unknown_weighted_layer_warns():
    class Scale(keras.layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    inputs = keras.Input((4,))
    with pytest.warns(UserWarning, match="no MAC counter for Scale"):
        stats = profile(keras.Model(inputs, Scale()(inputs)))
    assert stats == {"params": 4, "trainable_params": 4, "macs": 0}


def test_profile_is_callable_from_the_package():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert ferzoo.profile(model)["macs"] == 6
    assert ferzoo.profile(model)["params"] == 8  # again: the submodule is now imported


# The MsC-wCA paper, Table 8: (params, MACs). Params within 1 %, MACs within 5 %.
TABLE_8 = {
    "resnet18": (11.18e6, 1.82e9),
    "msc_wca_resnet18": (11.29e6, 8.73e9),
    "mcnn": (57.6406e6, 1.1385e9),
    "wca_mcnn": (57.6509e6, 1.1386e9),
}


@pytest.mark.parametrize("name", sorted(TABLE_8))
def test_table_8(name):
    params, macs = TABLE_8[name]
    stats = profile(ferzoo.build(name, num_classes=7, input_shape=(224, 224, 3)))
    assert stats["params"] == pytest.approx(params, rel=0.01)
    assert stats["macs"] == pytest.approx(macs, rel=0.05)


def test_wca_adds_about_ten_thousand_parameters():
    # Table 8: wCA-MCNN - MCNN = 57.6509 M - 57.6406 M = 10.3 K; our reading gives 9,628.
    inputs = keras.Input((27, 27, 192))
    layer = L.WaveletChannelAttention(ratio=16)
    stats = profile(keras.Model(inputs, layer(inputs)))
    assert stats["params"] == 9628
