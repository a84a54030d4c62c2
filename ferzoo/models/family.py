"""What a model family says about itself: `Family`, and the error for an image that is too small.

A family is one generic builder and its table of variants (`ferzoo/models/resnet.py`,
`alexnet.py`), plus the hooks the rest of ferzoo asks it about, all attributes of one `Family`:
the registry checks sizes and unused overrides with them, the sweep space draws its backbones
from them, `ferzoo.evaluation.experiments` takes the ablation grids, `ferzoo.pretrained` the layer-name
maps. `ferzoo.models.FAMILIES` maps each name to its `Family`.

Example:

    Family("resnet", resnet, VARIANTS, spatial_ops=spatial_ops, unused_arguments=unused,
           sweep_backbones=("resnet18", "resnet34"), stages=True,
           ablation_grids={"wamf": {"resnet18": ("resnet18_caps", ...)}})
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any


class InfeasibleSizeError(ValueError):
    """The input image is too small for a model (its message states the minimum size).

    A ValueError, so a caller that catches the user's mistakes still catches it; the sweep
    closes a trial that raises it as infeasible instead of failing.
    """


@dataclasses.dataclass(frozen=True)
class Family:
    """One model family: its builder, its variants and the hooks ferzoo asks it about.

    Attributes:
        name: the family's name (`ModelEntry.family` of its variants).
        builder: the generic builder, called as `builder(num_classes=, input_shape=, name=,
            **defaults, **overrides)`.
        variants: model name -> the builder's defaults (the family's `VARIANTS` table).
        spatial_ops: `spatial_ops(**kwargs) -> list[SpatialOp]`, every layer that changes the
            spatial size (the minimum image size is computed from it); None: no minimum.
        unused_arguments: `unused_arguments(kwargs) -> {argument: reason}`, the arguments a
            configuration ignores (an override among them is an error); None: none.
        sweep_backbones: the variants the sweep space draws as backbones, in a fixed order
            (a study's stored choices must not change).
        stages: whether the family has stages: stage attention goes in each, MF joins them.
        pretrained_names: weights-source kind (`"torchvision"`, `"keras_hub"`) -> a function
            from the source's layer name to ferzoo's (None: no counterpart).
        ablation_grids: grid name -> `{column: variant names}` (the papers' ablation tables;
            the column is what `ferzoo ablate --family` names).
    """

    name: str
    builder: Callable[..., Any]
    variants: Mapping[str, dict[str, Any]]
    spatial_ops: Callable[..., list] | None = None
    unused_arguments: Callable[[dict[str, Any]], dict[str, str]] | None = None
    sweep_backbones: tuple[str, ...] = ()
    stages: bool = False
    pretrained_names: Mapping[str, Callable[[str], str | None]] = dataclasses.field(
        default_factory=dict
    )
    ablation_grids: Mapping[str, Mapping[str, tuple[str, ...]]] = dataclasses.field(
        default_factory=dict
    )

    def unused(self, kwargs: dict[str, Any]) -> dict[str, str]:
        """The arguments of `kwargs`'s configuration that the family ignores, with reasons."""
        return {} if self.unused_arguments is None else self.unused_arguments(kwargs)


__all__ = ["Family", "InfeasibleSizeError"]
