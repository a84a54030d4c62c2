"""The model families: one generic builder and one table of variants each.

`FAMILIES` maps a family name to `(builder, VARIANTS)`; `ferzoo.registry` registers every variant
under its name the first time it is used. Add a variant with one line in a family's `VARIANTS`,
or at run time with `ferzoo.register_model(name, builder, **defaults)`.

| family | builder | variants |
|---|---|---|
| cnn | `ferzoo.models.alexnet.cnn` | cnn, mcnn, wca_cnn, wca_mcnn, wse_mcnn |
| resnet | `ferzoo.models.resnet.resnet` | resnet18, msc_resnet18, wca_resnet18, msc_wca_resnet18; resnet{18,34}_caps, mf_..., wa_..., wamf_resnet{18,34} |
"""

from __future__ import annotations

from ferzoo.models import alexnet, resnet

FAMILIES = {
    "cnn": (alexnet.cnn, alexnet.VARIANTS),
    "resnet": (resnet.resnet, resnet.VARIANTS),
}

__all__ = ["FAMILIES", "alexnet", "resnet"]
