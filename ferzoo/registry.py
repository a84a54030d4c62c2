"""Models by name: `build`, `list_models`, `register_model` (after timm's registry).

Every registered name maps to a builder (one generic function per family, see
`ferzoo/models/`) and a dict of defaults (the family's VARIANTS table row). A family's hooks (the
minimum size, the unused overrides) are attributes of its `ferzoo.models.Family`. `build(name,
**overrides)` calls `builder(**dict(defaults, **overrides))`, so an override always wins over the
table, as in timm's `dict(model_args, **kwargs)`.

The built-in families register themselves the first time any function here is called (importing
`ferzoo.registry` stays cheap: Keras loads only then).
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ferzoo import defaults

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: its builder, the builder's defaults for it, and its family."""

    name: str
    builder: Callable[..., Any]
    defaults: dict = field(default_factory=dict)
    family: str = "custom"


_REGISTRY: dict[str, ModelEntry] = {}
_BUILTINS_LOADED = False


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    from ferzoo import models  # lazy: keeps `import ferzoo` cheap

    for family in models.FAMILIES.values():
        for name, row in family.variants.items():
            _register(name, family.builder, row, family=family.name, overwrite=False)


def _accepted_keywords(builder: Callable[..., Any]) -> set[str] | None:
    """Keyword names the builder accepts, or None when it takes **kwargs (anything goes)."""
    params = inspect.signature(builder).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }


def _check_keys(name: str, builder: Callable[..., Any], keys, what: str) -> None:
    accepted = _accepted_keywords(builder)
    if accepted is None:
        return
    unknown = sorted(set(keys) - accepted)
    if unknown:
        settable = sorted(accepted - {"num_classes", "input_shape", "name"})
        raise ValueError(
            f"Unknown {what} for model '{name}': {', '.join(unknown)}. "
            f"Received: {', '.join(f'{k}=...' for k in unknown)}. "
            f"Accepted: {', '.join(settable)}."
        )


def _register(
    name: str, builder: Callable[..., Any], defaults: dict, *, family: str, overwrite: bool
) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ValueError(
            "name must be lowercase letters, digits and underscores, starting with a letter. "
            f"Received: name={name!r}"
        )
    if not callable(builder):
        raise ValueError(f"builder must be callable. Received: builder={builder!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(
            f"A model named '{name}' is already registered; pass overwrite=True to replace it. "
            f"Received: name={name!r}"
        )
    for reserved in ("num_classes", "input_shape", "name"):
        if reserved in defaults:
            raise ValueError(
                f"{reserved} is given to build(), not fixed at registration. "
                f"Received: {reserved}={defaults[reserved]!r}"
            )
    _check_keys(name, builder, defaults, "default(s)")
    _REGISTRY[name] = ModelEntry(name, builder, dict(defaults), family)


def register_model(
    name: str,
    builder: Callable[..., Any] | None = None,
    /,
    *,
    overwrite: bool = False,
    **defaults: Any,
):
    """Register a model name: `build(name, **overrides)` will call `builder(**defaults, **overrides)`.

    The builder is called with the keyword arguments `num_classes`, `input_shape` and `name`, plus
    the defaults and the user's overrides, and must return a `keras.Model`. A family builder
    (`ferzoo.models.resnet.resnet`, `ferzoo.models.alexnet.cnn`) with new defaults gives a new
    variant in one line. Used without `builder`, `register_model` is a decorator.

    Args:
        name: the model name; lowercase letters, digits and `_`.
        builder: the function that builds the model. Omit it to use `register_model` as a
            decorator.
        overwrite: replace an existing registration of `name` instead of raising.
        **defaults: keyword arguments for the builder; `build`'s overrides win over them.

    Returns:
        The builder (so that the decorator form leaves the function usable).

    Example:
    ```python
    from ferzoo.models.resnet import resnet
    ferzoo.register_model("wa_resnet10_caps", resnet, depths=(1, 1, 1, 1),
                          stage_attention="wa", head="capsule")
    model = ferzoo.build("wa_resnet10_caps", num_classes=6)

    @ferzoo.register_model("tiny_mlp", units=32)
    def tiny_mlp(*, num_classes, input_shape, name, units):
        ...
    ```
    """
    _load_builtins()
    from ferzoo import models

    def family_of(fn) -> str:
        for family in models.FAMILIES.values():
            if fn is family.builder:
                return family.name
        return "custom"

    if builder is None:

        def decorator(fn):
            _register(name, fn, defaults, family=family_of(fn), overwrite=overwrite)
            return fn

        return decorator
    _register(name, builder, defaults, family=family_of(builder), overwrite=overwrite)
    return builder


def list_models(pattern: str = "*") -> list[str]:
    """The registered model names matching a shell-style pattern, sorted.

    Args:
        pattern: an `fnmatch` pattern (`*`, `?`, `[...]`), case-sensitive. Defaults to all.

    Returns:
        A sorted list of names.

    Example:
    >>> list_models("*resnet18")
    ['msc_resnet18', 'msc_wca_resnet18', 'resnet18', 'wamf_resnet18', 'wca_resnet18']
    """
    _load_builtins()
    return sorted(n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern))


def get_entry(name: str) -> ModelEntry:
    """The registration of `name` (builder, defaults, family); ValueError if unknown."""
    _load_builtins()
    if name not in _REGISTRY:
        known = sorted(_REGISTRY)
        close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
        hint = (
            f"Did you mean: {', '.join(close)}?"
            if close
            else f"Registered models: {', '.join(known)}."
        )
        raise ValueError(f"Unknown model name. Received: name={name!r}. {hint}")
    return _REGISTRY[name]


def _family(entry: ModelEntry):
    """The `ferzoo.models.Family` of `entry`, or None for a custom builder."""
    from ferzoo import models

    return models.FAMILIES.get(entry.family)


def _check_used(name: str, entry: ModelEntry, kwargs: dict, overrides: dict) -> None:
    """A ValueError naming each override that the configuration does not use."""
    family = _family(entry)
    if family is None:
        return
    unused = {k: why for k, why in family.unused(kwargs).items() if k in overrides}
    if unused:
        reasons = "; ".join(f"{k} is unused because {why}" for k, why in unused.items())
        received = ", ".join(f"{k}={overrides[k]!r}" for k in unused)
        raise ValueError(f"Override(s) not used by model '{name}': {reasons}. Received: {received}")


def check(name: str, image_size: int | None = None, **overrides: Any) -> None:
    """The ValueErrors `build(name, **overrides)` would raise for its name, its overrides and the
    image size (an `InfeasibleSizeError`), without building anything (the trainer calls it
    before loading data)."""
    from ferzoo.models.family import InfeasibleSizeError

    entry = get_entry(name)
    _check_keys(name, entry.builder, overrides, "override(s)")
    _check_used(name, entry, dict(entry.defaults, **overrides), overrides)
    if image_size is not None:
        minimum = min_image_size(name, **overrides)
        if image_size < minimum:
            raise InfeasibleSizeError(
                f"image_size {image_size} is too small for {name}: the minimum image size is "
                f"{minimum}x{minimum}. Received: image_size={image_size}"
            )


def build(
    name: str,
    *,
    num_classes: int = 7,
    input_shape: tuple[int, int, int] = defaults.INPUT_SHAPE,
    weights: Any = None,
    **overrides: Any,
):
    """Build a registered model by name, optionally initialised from pretrained weights.

    Args:
        name: a registered name (see `list_models()`).
        num_classes: number of classes, at least 2.
        input_shape: the image shape without the batch axis, `(H, W, C)` (or `(C, H, W)` with
            `data_format="channels_first"`). An image too small for the network raises an
            `InfeasibleSizeError` (a ValueError) that states the minimum size.
        weights: None (fresh initialisation), or a path: a torchvision ResNet18/34 state dict
            (`.pth`), a keras-hub ResNet preset folder, or a ferzoo `.keras` / `.weights.h5`.
            Layers are taken by name and shape; the rest stay fresh, and
            `model.pretrained_report` (a `ferzoo.pretrained.LoadReport`) says which. A file
            that cannot be read, or that fits nothing, raises a ValueError. Inputs must then be
            normalised as `ferzoo.pretrained.normalization_for(weights)` says.
        **overrides: builder arguments that replace the variant's defaults, e.g.
            `stem="msc"`, `attention="wca"`, `attention_kwargs={"ratio": 8}`, `head="capsule"`,
            `head_kwargs={"routings": 2}` (or `routings=2`), `depths=(3, 4, 6, 3)`. An argument the family does not take, or one
            the configuration does not use (an MsC kernel set without the MsC stem, attention
            keywords without attention), raises a ValueError that names it.

    Returns:
        An uncompiled `keras.Model` named `name`. Dense heads output softmax probabilities,
        capsule heads capsule lengths in (0, 1); both of shape `(batch, num_classes)`.

    Example:
    ```python
    model = ferzoo.build("msc_wca_resnet18", num_classes=7, input_shape=(224, 224, 3))
    model = ferzoo.build("resnet18", stem="msc", msc_kernels=(3, 5), attention="wca",
                         attention_kwargs={"ratio": 8}, head="capsule", routings=2)
    model = ferzoo.build("wamf_resnet18", weights="resnet18-f37072fd.pth")  # ImageNet backbone
    ```
    """
    entry = get_entry(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2. Received: num_classes={num_classes!r}")
    _check_keys(name, entry.builder, overrides, "override(s)")
    kwargs = dict(entry.defaults, **overrides)
    _check_used(name, entry, kwargs, overrides)
    model = entry.builder(num_classes=num_classes, input_shape=input_shape, name=name, **kwargs)
    if weights is not None:
        from ferzoo.pretrained import load_weights  # noqa: PLC0415  (h5py, torch only then)

        load_weights(model, weights)
    return model


def min_image_size(name: str, **overrides: Any) -> int:
    """The smallest square image side the model `name` (with `overrides`) accepts.

    Computed from the family's list of downsampling layers, without building the model; 1 for
    a custom builder that does not publish one.

    Example:
    >>> min_image_size("resnet18"), min_image_size("resnet18", head="capsule")
    (17, 33)
    """
    from ferzoo.models.checks import min_input_size

    entry = get_entry(name)
    family = _family(entry)
    if family is None or family.spatial_ops is None:
        return 1
    return min_input_size(family.spatial_ops(**dict(entry.defaults, **overrides)))


__all__ = [
    "ModelEntry",
    "build",
    "check",
    "get_entry",
    "list_models",
    "min_image_size",
    "register_model",
]
