"""The attention kinds a model family can place: a registry of name -> (layer, default keywords).

A family builder takes `attention="wca"` (and, on ResNets, `stage_attention="wa"`) and one
`attention_kwargs` override; `attention_layer(kind, ...)` makes the layer from the registry,
so a new attention module is one layer file and one `register_attention` line, and no family
builder grows a keyword per kind (after timm's `create_attn`).

| kind | layer | model defaults | in the sweeps |
|---|---|---|---|
| `wca` | `WaveletChannelAttention` | ratio 16, unshared (MsC-wCA's Table 8; see Reference) | yes |
| `wse` | `WaveletSqueezeExcitation` | ratio 16 (the SE paper's; MsC-wCA's failure case) | no |
| `wa` | `WideAttention` | reduction 32 (coordinate attention's) | yes, in every stage |

The sweep space (`ferzoo.sweep.space`) offers every kind registered with `sweep=True` (the
default), so a newly registered kind is searched with no other change; `place="stages"` puts it
at the end of every stage of a family with stages (WA, the WAMF paper's place), `"first"` after
the first pooling layer.

Example:

    ferzoo.build("resnet18", attention="wca", attention_kwargs={"ratio": 8})
    register_attention("se", MySqueezeExcitation, ratio=16)   # then attention="se"

Reference:
    wCA's model default (ratio 16, unshared branches with biases: 9.6 K parameters on 192
    channels) is the reading closest to the 10.3 K that the MsC-wCA paper's Table 8 implies;
    the text's ratio 4 would give 37 K. The layer's own default stays 4.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

from ferzoo import layers as L


@dataclasses.dataclass(frozen=True)
class AttentionKind:
    """One registered attention kind: its layer class and the keywords models give it."""

    layer: type
    defaults: dict[str, Any]
    sweep: bool = True
    place: str = "first"

    def accepted(self) -> set[str]:
        """The keyword names the layer's constructor takes (besides data_format and name)."""
        params = inspect.signature(self.layer.__init__).parameters
        return {n for n in params if n not in ("self", "kwargs", "data_format", "name")}


ATTENTION: dict[str, AttentionKind] = {}
PLACES = ("first", "stages")


def register_attention(
    name: str, layer: type, *, sweep: bool = True, place: str = "first", **defaults: Any
) -> None:
    """Register an attention kind: `attention=name` then builds `layer(**defaults, **kwargs)`.

    The layer must take `data_format` and `name`, map a 4D feature map to one of its shape.
    `sweep`: whether the sweep space searches it; `place`: where the sweep puts it on a family
    with stages, `"first"` (after the first pooling layer) or `"stages"` (every stage).
    """
    if not isinstance(name, str) or not name.isidentifier() or name.lower() != name:
        raise ValueError(f"name must be a lowercase identifier. Received: name={name!r}")
    if place not in PLACES:
        raise ValueError(f"place must be one of {PLACES}. Received: place={place!r}")
    kind = AttentionKind(layer, dict(defaults), bool(sweep), place)
    unknown = sorted(set(defaults) - kind.accepted())
    if unknown:
        raise ValueError(
            f"{layer.__name__} takes no {', '.join(unknown)}. Received: "
            + ", ".join(f"{k}={defaults[k]!r}" for k in unknown)
        )
    ATTENTION[name] = kind


register_attention("wca", L.WaveletChannelAttention, ratio=16, shared=False)
register_attention("wse", L.WaveletSqueezeExcitation, sweep=False, ratio=16)
register_attention("wa", L.WideAttention, place="stages", reduction=32)


def unregister_attention(name: str) -> None:
    """Remove a registered attention kind (a KeyError if there is none)."""
    del ATTENTION[name]


def kinds() -> tuple[str, ...]:
    """The registered attention kinds, in registration order."""
    return tuple(ATTENTION)


def check_kwargs(kinds_used: list[str], attention_kwargs: dict[str, Any] | None) -> dict:
    """`attention_kwargs` checked against every kind the model uses; a ValueError names a
    keyword that one of them does not take."""
    attention_kwargs = dict(attention_kwargs or {})
    for kind in kinds_used:
        unknown = sorted(set(attention_kwargs) - ATTENTION[kind].accepted())
        if unknown:
            raise ValueError(
                f"attention_kwargs has keywords that attention {kind!r} "
                f"({ATTENTION[kind].layer.__name__}) does not take: {', '.join(unknown)}. "
                f"Received: attention_kwargs={attention_kwargs}"
            )
    return attention_kwargs


def attention_layer(kind: str, *, name: str, data_format: str, attention_kwargs: dict | None):
    """The layer of attention `kind`, with the registry's defaults and `attention_kwargs`."""
    if kind not in ATTENTION:
        allowed = ", ".join(repr(k) for k in (None, *ATTENTION))
        raise ValueError(f"attention must be one of {allowed}. Received: attention={kind!r}")
    entry = ATTENTION[kind]
    keywords = {**entry.defaults, **(attention_kwargs or {})}
    return entry.layer(**keywords, data_format=data_format, name=name)


def attend(x, kind: str | None, *, name: str, data_format: str, attention_kwargs: dict | None):
    """`x` through the attention layer of `kind` (see `attention_layer`); `x` itself if `None`."""
    if not kind:
        return x
    layer = attention_layer(
        kind, name=name, data_format=data_format, attention_kwargs=attention_kwargs
    )
    return layer(x)


__all__ = ["ATTENTION", "PLACES", "AttentionKind", "attend", "attention_layer", "check_kwargs",
           "kinds", "register_attention", "unregister_attention"]  # fmt: skip
