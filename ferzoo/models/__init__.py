"""The model families: one generic builder and one table of variants each, described by a `Family`.

`FAMILIES` maps a family name to its `Family` (`ferzoo.models.family`: builder, variants, and the
hooks: size check, unused arguments, sweep backbones, pretrained name maps, ablation grids);
`ferzoo.registry` registers every variant under its name the first time it is used. Add a
variant with one line in a family's `VARIANTS`, or at run time with
`ferzoo.register_model(name, builder, **defaults)`; add a family with one file ending in
`FAMILY = Family(...)` and one entry here.

| family | builder | variants |
|---|---|---|
| resnet | `ferzoo.models.resnet.resnet` | resnet18, msc_resnet18, wca_resnet18, msc_wca_resnet18; resnet{18,34}_caps, mf_..., wa_..., wamf_resnet{18,34} |
| cnn | `ferzoo.models.alexnet.cnn` | cnn, mcnn, wca_cnn, wca_mcnn, wse_mcnn |
"""

from __future__ import annotations

from ferzoo.models import alexnet, resnet
from ferzoo.models.family import Family, InfeasibleSizeError

# In this order the sweep space lists the backbones (a study's stored choices must not change).
FAMILIES: dict[str, Family] = {f.name: f for f in (resnet.FAMILY, alexnet.FAMILY)}

__all__ = ["FAMILIES", "Family", "InfeasibleSizeError", "alexnet", "resnet"]
