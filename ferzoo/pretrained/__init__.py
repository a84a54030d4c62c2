"""Pretrained initialisation: `load_weights(model, weights)` and the input normalisation it implies.

`ferzoo.build(name, weights=...)` calls `load_weights` after building. Three sources:

- a torchvision ResNet18/ResNet34 state dict (`.pth` or `.pt`, torchvision's keys: `conv1.weight`,
  `bn1.running_mean`, `layer1.0.conv1.weight`, `layer2.0.downsample.0.weight`, `fc.weight`, ...),
  read with PyTorch (imported only then);
- a keras-hub ResNet preset folder (`config.json` + `model.weights.h5`, what
  `keras_hub.models.Backbone.save_to_preset` writes and what Kaggle's presets unpack to), read
  with h5py: keras-hub itself is not needed (see Reference);
- a ferzoo `.keras` model or `.weights.h5` file from an earlier run (fine-tuning on another set).

The source's layers are renamed to ferzoo's (`stem_conv`, `stem_bn`,
`stage{i}_block{j}_conv1/bn1/conv2/bn2/downsample_conv/downsample_bn`, `predictions`) and every
weighted layer of the model takes the source's layer of its name when every variable's shape
matches. The rest keeps its fresh initialisation, and the `LoadReport` says which: `loaded`,
`skipped` (a counterpart exists but does not fit, with the reason: e.g. a 1000-class `fc` into a
7-class head, or stage 1 of an MsC model, which sees 192 channels), `fresh` (no counterpart: the
MsC stem, wCA, WA, MF, the capsule head) and `unused` (the source's layers that no model layer
took, in the source's names). The report is logged at INFO on the `ferzoo.pretrained` logger and
kept on the model as `model.pretrained_report`; `report.to_dict()` is what a run's config.json
records.

Pretrained ImageNet weights expect ImageNet-normalised inputs. That is the pipeline's business:
`normalization_for(weights)` says which normalisation a source implies (`IMAGENET_NORMALIZATION`
for torchvision files and keras-hub's ResNet presets) and `normalize(images, normalization)` applies
it to `[0, 1]` images.

Example:
```python
import ferzoo
model = ferzoo.build("msc_wca_resnet18", num_classes=7, weights="resnet18-f37072fd.pth")
print(model.pretrained_report.summary)
ferzoo.pretrained.normalization_for("resnet18-f37072fd.pth")["mean"]   # (0.485, 0.456, 0.406)
```

Reference:
- Keras writes a `.weights.h5` file as `layers/<class_name>[_<k>]/vars/<i>` (and, for a
  layer's sublayers, groups below that), numbered by class in the order of `model.layers`; it
  does not key them by layer name (recent Keras, 3.15 here, also stores the name as an
  attribute; older files do not). ferzoo therefore maps a model's layer names to groups by the
  same numbering (`layout.layer_groups`) and writes a model through its own
  `save_weights`/`load_weights`, so nested layers (MsC, wCA, WA, MF, capsules) go through
  Keras' own (de)serialisation.
- keras-hub 0.32 installs only with `tensorflow-text`, which pulls the full `tensorflow` wheel
  beside ferzoo's `tensorflow-cpu`; so ferzoo reads the preset itself. The layer order of a
  `ResNetBackbone` comes from a width-1 copy of its graph (`sources.keras_hub_mirror`), checked
  against the layer names that newer presets store. Only plain v1 basic-block presets
  (block_type `"basic_block"`, no pre-activation, one stem conv: `resnet_18_imagenet`) have
  ferzoo's layers; ResNet-vd, ResNetV2 and bottleneck presets are refused with that reason.

Modules: `loading` (`load_weights`, `LoadReport`, `set_backbone_trainable`), `sources` (reading
and renaming each format), `layout` (Keras' weights-file layout), `normalization`.
"""

from __future__ import annotations

from ferzoo.pretrained.layout import EXPECTED
from ferzoo.pretrained.loading import HEAD_LAYERS, LoadReport, load_weights, set_backbone_trainable
from ferzoo.pretrained.normalization import (
    IMAGENET_MEAN,
    IMAGENET_NORMALIZATION,
    IMAGENET_STD,
    normalization_for,
    normalize,
)
from ferzoo.pretrained.sources import TORCH_INSTALL

__all__ = [
    "EXPECTED",
    "HEAD_LAYERS",
    "IMAGENET_MEAN",
    "IMAGENET_NORMALIZATION",
    "IMAGENET_STD",
    "TORCH_INSTALL",
    "LoadReport",
    "load_weights",
    "normalization_for",
    "normalize",
    "set_backbone_trainable",
]
