"""The classifier heads every family takes.

- `dense_head`: global average pooling -> (dropout) -> Dense softmax (the MsC-wCA ResNets).
- `CapsuleHead`: the capsule head's options, grouped (a builder's `head_kwargs`); calling it
  adds PrimaryCapsule -> Capsule(num_classes, 16) -> CapsuleLength (the WAMF paper).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import keras

from ferzoo import layers as L
from ferzoo.models import checks
from ferzoo.models.checks import SpatialOp

HEADS = ("dense", "capsule")


def dense_head(x, num_classes: int, *, dropout: float, data_format: str):
    """Global average pooling -> Dropout (if `dropout` > 0) -> Dense softmax."""
    x = keras.layers.GlobalAveragePooling2D(data_format=data_format, name="avg_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    # float32 probabilities under a mixed-precision policy (Keras' mixed-precision guide).
    return keras.layers.Dense(
        num_classes, activation="softmax", dtype="float32", name="predictions"
    )(x)


@dataclasses.dataclass(frozen=True)
class CapsuleHead:
    """The capsule head's options, one group (a builder's `head_kwargs`).

    Attributes:
        primary_capsules: capsule channels of the primary capsule layer.
        primary_dim: dimension of a primary capsule.
        primary_kernel: kernel of the primary capsule convolution.
        primary_strides: stride of the primary capsule convolution ("same" padding).
        capsule_dim: dimension of a class capsule.
        routings: routing iterations of the class capsules.

    Example:
    >>> CapsuleHead.of({"routings": 2}, capsule_dim=None).routings
    2
    """

    primary_capsules: int = 32
    primary_dim: int = 8
    primary_kernel: int = 3
    primary_strides: int = 2
    capsule_dim: int = 16
    routings: int = 3

    def __post_init__(self):
        for argument in CAPSULE_ARGS[:-1]:  # the Capsule layer checks `routings`
            checks.positive_int(argument, getattr(self, argument))

    @classmethod
    def of(cls, head_kwargs: Mapping[str, Any] | None = None, **flat: Any) -> CapsuleHead:
        """The options from `head_kwargs` and the flat keywords given (None: not given).

        A keyword given both ways, or one the capsule head does not take, is a ValueError.
        """
        if head_kwargs is not None and not isinstance(head_kwargs, Mapping):
            raise ValueError(f"head_kwargs must be a dict. Received: head_kwargs={head_kwargs!r}")
        grouped = dict(head_kwargs or {})
        unknown = sorted(set(grouped) - set(CAPSULE_ARGS))
        twice = sorted(k for k, v in flat.items() if v is not None and k in grouped)
        if unknown or twice:
            what = f"takes no {', '.join(unknown)}" if unknown else f"also given as {twice}"
            raise ValueError(
                f"head_kwargs: the capsule head {what} (keywords: {', '.join(CAPSULE_ARGS)}). "
                f"Received: head_kwargs={grouped}"
            )
        grouped.update({k: v for k, v in flat.items() if v is not None})
        return cls(**grouped)

    def spatial_ops(self) -> list[SpatialOp]:
        """The primary-capsule convolution, the one layer of the head that downsamples."""
        return [SpatialOp("primary_capsules", self.primary_kernel, self.primary_strides, "same")]

    def __call__(self, x, num_classes: int, *, data_format: str):
        """PrimaryCapsule -> Capsule(num_classes, capsule_dim, routings) -> CapsuleLength.

        The primary capsules use "same" padding, so with stride 2 a ResNet's 7x7 map at 224x224
        gives 4x4 positions x `primary_capsules` capsules (512 with the defaults).
        """
        x = L.PrimaryCapsule(
            self.primary_capsules,
            self.primary_dim,
            kernel_size=self.primary_kernel,
            strides=self.primary_strides,
            padding="same",
            data_format=data_format,
            name="primary_capsules",
        )(x)
        x = L.Capsule(num_classes, self.capsule_dim, routings=self.routings, name="class_capsules")(
            x
        )
        # float32 class scores under a mixed policy, as for the dense head.
        return L.CapsuleLength(dtype="float32", name="capsule_length")(x)


CAPSULE_ARGS = tuple(f.name for f in dataclasses.fields(CapsuleHead))


def capsule_keywords(builder: Callable[..., Any]) -> Callable[..., Any]:
    """`builder` (a family's, taking `**capsule`) with the capsule head's options in its
    signature, one keyword each, None by default (from `head_kwargs` or `CapsuleHead`'s
    default): what `ferzoo.build` accepts and `registry.check` reads."""
    signature = inspect.signature(builder)
    own = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    flat = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                              annotation="int | None") for name in CAPSULE_ARGS]  # fmt: skip
    builder.__signature__ = signature.replace(parameters=[*own, *flat])
    return builder


def head_spatial_ops(head: str, capsule: CapsuleHead) -> list[SpatialOp]:
    """The downsampling the head adds (the primary-capsule convolution), for the size check."""
    return capsule.spatial_ops() if head == "capsule" else []


def capsule_of(kwargs: Mapping[str, Any]) -> CapsuleHead:
    """The capsule head's options among a builder's keywords (`head_kwargs` and the flat ones)."""
    return CapsuleHead.of(kwargs.get("head_kwargs"), **{k: kwargs.get(k) for k in CAPSULE_ARGS})


__all__ = ["CAPSULE_ARGS", "HEADS", "CapsuleHead", "capsule_of", "dense_head", "head_spatial_ops"]
