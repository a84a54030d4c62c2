"""The building blocks of the two papers, as backend-agnostic Keras 3 layers.

Every layer here uses keras and keras.ops only, is registered serializable under the package
"ferzoo", and honours `data_format`.
"""

from ferzoo.layers.capsule import Capsule
from ferzoo.layers.capsule_length import CapsuleLength
from ferzoo.layers.face_augment import FaceAugment
from ferzoo.layers.image_table import ImageTable
from ferzoo.layers.morlet_activation import MorletActivation
from ferzoo.layers.multi_scale_conv import MultiScaleConv
from ferzoo.layers.multi_scale_fusion import MultiScaleFusion
from ferzoo.layers.primary_capsule import PrimaryCapsule
from ferzoo.layers.wavelet_channel_attention import WaveletChannelAttention
from ferzoo.layers.wavelet_squeeze_excitation import WaveletSqueezeExcitation
from ferzoo.layers.wide_attention import WideAttention

__all__ = [
    "Capsule",
    "CapsuleLength",
    "FaceAugment",
    "ImageTable",
    "MorletActivation",
    "MultiScaleConv",
    "MultiScaleFusion",
    "PrimaryCapsule",
    "WaveletChannelAttention",
    "WaveletSqueezeExcitation",
    "WideAttention",
]
