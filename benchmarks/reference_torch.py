"""Hand-written PyTorch references for the benchmark: ResNet18 and MsC-wCA-ResNet18.

Plain `torch.nn` (no Keras), written to be the same networks as `ferzoo.build("resnet18")` and
`ferzoo.build("msc_wca_resnet18")` (ferzoo/models/resnet.py): the same layers in the same order,
the same parameter count, and (with `load_keras_weights`) the same outputs. They are what a
user would write by hand in PyTorch, so `benchmarks/run.py` times them beside ferzoo to give
the ferzoo / hand-written ratio.

Architecture (torchvision's resnet18 layout, as ferzoo's):

- stem: `conv` = Conv2d(3, 64, 7, stride 2, padding 3, bias=False); or `msc` =
  three Conv2d(3, 64, k, stride 1, padding k // 2, bias=False) for k = 3, 5, 7, concatenated on
  the channel axis (192 channels); then BatchNorm2d, ReLU, MaxPool2d(3, 2, padding 1);
- `msc_wca_resnet18` only: wavelet channel attention on the pooled map (ratio 16, unshared
  branches with biases, a scalar Morlet activation per branch);
- 4 stages of 2 BasicBlocks (64, 128, 256, 512 filters; stride 2 from stage 2; a 1x1
  projection shortcut with BatchNorm where the stride or the channel count changes, so also in
  stage 1 of msc_wca_resnet18, which receives 192 channels);
- head: global average pool, Linear(512, num_classes), softmax.

BatchNorm uses PyTorch's defaults (eps 1e-5, momentum 0.1), which ferzoo copies.

Example:
```python
import torch
from benchmarks.reference_torch import build_reference
net = build_reference("msc_wca_resnet18", num_classes=7).to(memory_format=torch.channels_last)
probs = net(torch.rand(2, 3, 64, 64).contiguous(memory_format=torch.channels_last))
```
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: The models this file has a reference for.
REFERENCE_MODELS = ("resnet18", "msc_wca_resnet18")

#: ferzoo's MorletActivation keeps the scale positive as `|raw_scale| + MIN_SCALE`.
MIN_SCALE = 2.0**-10


class Morlet(nn.Module):
    """`cos(1.75 t) exp(-t^2 / 2)`, `t = (x - b) / a`, scalar trainable `a` (kept > 0) and `b`."""

    def __init__(self) -> None:
        super().__init__()
        self.raw_scale = nn.Parameter(torch.tensor(1.0 - MIN_SCALE))
        self.shift = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = (x - self.shift) / (self.raw_scale.abs() + MIN_SCALE)
        return torch.cos(1.75 * t) * torch.exp(-0.5 * t * t)


class WaveletChannelAttention(nn.Module):
    """wCA: sigmoid(fc(max pool) + fc'(avg pool)) times the input, per channel."""

    def __init__(self, channels: int, ratio: int = 16) -> None:
        super().__init__()
        hidden = channels // ratio
        self.max_branch = nn.Sequential(
            nn.Linear(channels, hidden), Morlet(), nn.Linear(hidden, channels)
        )
        self.avg_branch = nn.Sequential(
            nn.Linear(channels, hidden), Morlet(), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled_max = torch.amax(x, dim=(2, 3))
        pooled_avg = torch.mean(x, dim=(2, 3))
        weights = torch.sigmoid(self.max_branch(pooled_max) + self.avg_branch(pooled_avg))
        return x * weights[:, :, None, None]


class MultiScaleConv(nn.Module):
    """Parallel bias-free convolutions (3x3, 5x5, 7x7 by default), concatenated on channels."""

    def __init__(self, in_channels: int, filters: int, kernel_sizes=(3, 5, 7)) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels, filters, k, stride=1, padding=k // 2, bias=False)
            for k in kernel_sizes
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x) for conv in self.convs], dim=1)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, in_channels: int, filters: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, filters, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(filters)
        self.conv2 = nn.Conv2d(filters, filters, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(filters)
        self.downsample = None
        if stride != 1 or in_channels != filters:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, filters, 1, stride, bias=False), nn.BatchNorm2d(filters)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(shortcut + y)


class ResNet(nn.Module):
    """ResNet18 (ResNet34 with `depths=(3, 4, 6, 3)`), conv or MsC stem, optional wCA."""

    def __init__(
        self,
        num_classes: int = 7,
        stem: str = "conv",
        attention: bool = False,
        depths: tuple[int, ...] = (2, 2, 2, 2),
    ) -> None:
        super().__init__()
        if stem == "conv":
            self.stem = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            channels = 64
        elif stem == "msc":
            self.stem = MultiScaleConv(3, 64)
            channels = 192
        else:
            raise ValueError(f"stem must be 'conv' or 'msc'. Received: stem={stem!r}")
        self.stem_bn = nn.BatchNorm2d(channels)
        self.pool = nn.MaxPool2d(3, 2, padding=1)
        self.attention = WaveletChannelAttention(channels) if attention else None
        blocks = []
        #: ferzoo's name of each block, `stage{i}_block{j}` (1-based), in order.
        self.block_names = []
        for i, (filters, depth) in enumerate(zip((64, 128, 256, 512), depths, strict=True)):
            for j in range(depth):
                blocks.append(BasicBlock(channels, filters, 2 if (i > 0 and j == 0) else 1))
                self.block_names.append(f"stage{i + 1}_block{j + 1}")
                channels = filters
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.stem_bn(self.stem(x))))
        if self.attention is not None:
            x = self.attention(x)
        x = self.blocks(x)
        return torch.softmax(self.fc(torch.mean(x, dim=(2, 3))), dim=-1)


def build_reference(
    name: str, num_classes: int = 7, depths: tuple[int, ...] = (2, 2, 2, 2)
) -> ResNet:
    """The hand-written PyTorch model for a ferzoo model name.

    Args:
        name: `"resnet18"` or `"msc_wca_resnet18"`.
        num_classes: number of classes.
        depths: blocks per stage; `(3, 4, 6, 3)` gives ResNet34 (ferzoo's `depths` override).

    Returns:
        A `torch.nn.Module` taking `(batch, 3, H, W)` images and returning softmax probabilities.
    """
    if name == "resnet18":
        return ResNet(num_classes, stem="conv", depths=depths)
    if name == "msc_wca_resnet18":
        return ResNet(num_classes, stem="msc", attention=True, depths=depths)
    raise ValueError(f"name must be one of {REFERENCE_MODELS}. Received: name={name!r}")


def count_params(module: nn.Module) -> int:
    """Number of parameters (BatchNorm running statistics excluded, as `ferzoo.profile` counts)."""
    return sum(p.numel() for p in module.parameters())


def load_keras_weights(net: ResNet, model) -> None:
    """Copy the weights of a ferzoo ResNet18 variant (channels_last) into its reference.

    Layers are matched by ferzoo's layer names (`stem_conv`, `stem_msc`, `stem_bn`, `stem_wca`,
    `stage{i}_block{j}_conv1` ..., `predictions`); conv kernels go from `(kh, kw, in, out)` to
    `(out, in, kh, kw)`, dense kernels from `(in, out)` to `(out, in)`.

    Args:
        net: a module from `build_reference`.
        model: the `ferzoo.build(...)` model of the same name, channels_last.
    """
    import keras  # noqa: PLC0415  (only this helper needs Keras)

    def tensor(variable) -> torch.Tensor:
        return torch.from_numpy(np.array(keras.ops.convert_to_numpy(variable)))

    def conv(t: nn.Conv2d, k) -> None:
        t.weight.copy_(tensor(k.kernel).permute(3, 2, 0, 1))

    def bn(t: nn.BatchNorm2d, k) -> None:
        t.weight.copy_(tensor(k.gamma))
        t.bias.copy_(tensor(k.beta))
        t.running_mean.copy_(tensor(k.moving_mean))
        t.running_var.copy_(tensor(k.moving_variance))

    def dense(t: nn.Linear, k) -> None:
        t.weight.copy_(tensor(k.kernel).T)
        t.bias.copy_(tensor(k.bias))

    def branch(t: nn.Sequential, k: list) -> None:
        dense(t[0], k[0])
        t[1].raw_scale.copy_(tensor(k[1].raw_scale))
        t[1].shift.copy_(tensor(k[1].shift))
        dense(t[2], k[2])

    with torch.no_grad():
        if isinstance(net.stem, MultiScaleConv):
            for t, k in zip(net.stem.convs, model.get_layer("stem_msc").convs, strict=True):
                conv(t, k)
        else:
            conv(net.stem, model.get_layer("stem_conv"))
        bn(net.stem_bn, model.get_layer("stem_bn"))
        if net.attention is not None:
            wca = model.get_layer("stem_wca")
            branch(net.attention.max_branch, wca.max_branch)
            branch(net.attention.avg_branch, wca.avg_branch)
        for name, block in zip(net.block_names, net.blocks, strict=True):
            conv(block.conv1, model.get_layer(f"{name}_conv1"))
            bn(block.bn1, model.get_layer(f"{name}_bn1"))
            conv(block.conv2, model.get_layer(f"{name}_conv2"))
            bn(block.bn2, model.get_layer(f"{name}_bn2"))
            if block.downsample is not None:
                conv(block.downsample[0], model.get_layer(f"{name}_downsample_conv"))
                bn(block.downsample[1], model.get_layer(f"{name}_downsample_bn"))
        dense(net.fc, model.get_layer("predictions"))


def torchvision_state_dict(net: ResNet) -> dict[str, torch.Tensor]:
    """The reference's state dict under torchvision's keys (`torchvision.models.resnet18` layout).

    `stem` -> `conv1`, `stem_bn` -> `bn1`, `blocks.<k>` -> `layer<i>.<j>` (0-based block index
    within the stage, as torchvision counts), `fc` stays `fc`; the BasicBlock keys (`conv1`,
    `bn1`, `conv2`, `bn2`, `downsample.0`, `downsample.1`) already are torchvision's. Only the
    plain ResNet (conv stem, no attention) has a torchvision counterpart.

    Args:
        net: a conv-stem reference without attention (`build_reference("resnet18", ...)`).

    Returns:
        An ordered dict of tensors, the keys and order that `torch.save(model.state_dict())`
        writes for torchvision's ResNet18/34.
    """
    if not isinstance(net.stem, nn.Conv2d) or net.attention is not None:
        raise ValueError(
            "Only the conv-stem reference without attention has torchvision keys. "
            f"Received: net with stem={type(net.stem).__name__}, attention={net.attention}"
        )
    layer_of = {}
    for k, name in enumerate(net.block_names):
        stage, block = (int(n) for n in name.removeprefix("stage").split("_block"))
        layer_of[str(k)] = f"layer{stage}.{block - 1}"
    renamed = {}
    for key, value in net.state_dict().items():
        head, _, rest = key.partition(".")
        if head == "stem":
            key = f"conv1.{rest}"
        elif head == "stem_bn":
            key = f"bn1.{rest}"
        elif head == "blocks":
            index, _, rest = rest.partition(".")
            key = f"{layer_of[index]}.{rest}"
        renamed[key] = value
    return renamed
