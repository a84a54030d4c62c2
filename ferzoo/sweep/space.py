"""The search spaces of the sweeps, in one place, for Optuna and for KerasTuner.

A space is a list of parameters; a parameter may depend on others (`when`): the MsC kernel set is
searched only with the MsC stem, the wCA ratio only with wCA, MF and its kernels only on ResNets
(the only backbone with stages to join), the routing iterations only with the capsule head.
`sample(space, choose)` walks the list in order and asks `choose` for each active parameter;
`optuna_choose(trial)` and `keras_tuner_choose(hp)` are the two `choose`s, so both tools search
exactly the same space. `to_build(params, study)` turns sampled values into
`(model_name, model_overrides, train_kwargs)` for `ferzoo.build` / `ferzoo.train`.

Kernel sets are categorical strings ("3,5,7") because Optuna and KerasTuner store only scalars.

The backbones, the attention kinds and the heads come from the registries, read when a space is
first used (they load Keras): `backbones()` is every family's `Family.sweep_backbones`,
`attentions()` every kind registered in `ferzoo.models.attention` with `sweep=True`, so
registering an attention kind or a family makes it sweepable with no change here. Registration
order is the choices' order: an Optuna study refuses a parameter whose choices changed.

Example:

    import optuna, space
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    model_name, overrides, train_kwargs = space.suggest(trial, STUDIES["demo"])
    # ("resnet18", {"depths": (1, 1, 1, 1), ..., "stem": "msc", "msc_kernels": (3, 5)},
    #  {"learning_rate": 0.0031, "batch_size": 16, "augment": 0.1})

Reference:
    Backbones, MsC kernel sets and the wCA ratio after the MsC-wCA paper (ResNet18 and the
    AlexNet-style CNN, kernels (3, 5, 7), ratio 16 by default); WA in every ResNet stage, MF
    between stages with kernels (1, 7, 5, 3) and the capsule head after the WAMF paper.
    `attention="wa"` is therefore WA at the end of every stage on a ResNet (the WAMF paper's place)
    and WA after the first pooling layer on the CNN (it has no stages).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ferzoo.registry import min_image_size

KERNEL_SETS = ("3,5,7", "3,5", "5,7", "1,3,5,7", "3,5,7,9")
# The value of every parameter a space does not search and gives no default for.
IMPLIED = {
    "backbone": "resnet18", "stem": "conv", "msc_kernels": "3,5,7", "attention": "none",
    "wca_ratio": 16, "mf": False, "mf_kernels": "1,7,5,3", "head": "dense", "routings": 3,
    "learning_rate": 1e-3, "batch_size": 16, "augment": 0.0,
}  # fmt: skip
# The papers' models as parameters of the spaces, with the papers' learning rate and batch size
# (Adam at 1e-3, batch 16); the augmentation strength is left to the sampler.
PAPER_DESIGNS = {
    "resnet18": {"backbone": "resnet18", "stem": "conv", "attention": "none", "mf": False,
                 "head": "dense"},
    "msc_wca_resnet18": {"backbone": "resnet18", "stem": "msc", "msc_kernels": "3,5,7",
                         "attention": "wca", "wca_ratio": 16, "mf": False, "head": "dense"},
    "wamf_resnet18": {"backbone": "resnet18", "stem": "conv", "attention": "wa", "mf": True,
                      "mf_kernels": "1,7,5,3", "head": "capsule", "routings": 3},
}  # fmt: skip
PAPER_TRAINING = {"learning_rate": 1e-3, "batch_size": 16}
MF_KERNEL_SETS = ("1,7,5,3", "1,3,5,7", "3,3,3,3")
WCA_RATIOS = (2, 4, 8, 16)


def backbones(*, with_stages: bool = False) -> tuple[str, ...]:
    """The backbones the sweeps draw: every family's `sweep_backbones`, in registry order
    (only those of families with stages, where MF and stage attention apply, if asked)."""
    from ferzoo.models import FAMILIES  # noqa: PLC0415  (Keras: only when a space is used)

    return tuple(
        name
        for family in FAMILIES.values()
        if family.stages or not with_stages
        for name in family.sweep_backbones
    )


def attentions() -> tuple[str, ...]:
    """`"none"` and every attention kind registered with `sweep=True`, in registration order."""
    from ferzoo.models.attention import ATTENTION  # noqa: PLC0415

    return ("none", *(name for name, kind in ATTENTION.items() if kind.sweep))


def heads() -> tuple[str, ...]:
    """The classifier heads every family takes (`ferzoo.models.heads.HEADS`)."""
    from ferzoo.models.heads import HEADS  # noqa: PLC0415

    return tuple(HEADS)


def __getattr__(name: str) -> Any:
    # The former constants, now read from the registries on use.
    derived = {
        "BACKBONES": backbones,
        "RESNETS": lambda: backbones(with_stages=True),
        "ATTENTIONS": attentions,
        "HEADS": heads,
    }
    if name in derived:
        return derived[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclasses.dataclass(frozen=True)
class Param:
    """One searched parameter.

    Attributes:
        name: the parameter's name (Optuna param / KerasTuner hyperparameter).
        choices: the values of a categorical parameter (None for a float).
        low, high, log, step: the range of a float parameter.
        when: `{parent: allowed values}`: the parameter exists only when every parent was
            sampled with one of its allowed values.
    """

    name: str
    choices: tuple | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    when: tuple[tuple[str, tuple], ...] = ()

    def active(self, values: Mapping[str, Any]) -> bool:
        return all(parent in values and values[parent] in ok for parent, ok in self.when)


def _cat(name: str, choices: tuple, **when: tuple) -> Param:
    return Param(name, choices=tuple(choices), when=tuple(when.items()))


def _float(name: str, low: float, high: float, *, log=False, step=None, **when) -> Param:
    return Param(name, low=low, high=high, log=log, step=step, when=tuple(when.items()))


@dataclasses.dataclass(frozen=True)
class Space:
    """A search space: its parameters, the values of those it does not search, fixed overrides.

    Attributes:
        params: the searched parameters, parents before children.
        defaults: values used for parameters this space does not search.
        base_overrides: `ferzoo.build` overrides per backbone, applied before the sampled ones
            (the demo's tiny ResNet).
        attention_kwargs: `attention_kwargs` per attention kind (the demo's narrow first stage
            needs a WA reduction of at most 16).
    """

    params: tuple[Param, ...]
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    base_overrides: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    attention_kwargs: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)

    def names(self) -> list[str]:
        return [p.name for p in self.params]


def _full() -> Space:
    """Both papers' design space on ResNet18/34 and the AlexNet-style CNN."""
    stage_backbones = backbones(with_stages=True)
    return Space(
        params=(
            _cat("backbone", backbones()),
            _cat("stem", ("conv", "msc")),
            _cat("msc_kernels", KERNEL_SETS, stem=("msc",)),
            _cat("attention", attentions()),
            _cat("wca_ratio", WCA_RATIOS, attention=("wca",)),
            _cat("mf", (False, True), backbone=stage_backbones),
            _cat("mf_kernels", MF_KERNEL_SETS, backbone=stage_backbones, mf=(True,)),
            _cat("head", heads()),
            _cat("routings", (1, 2, 3), head=("capsule",)),
            _float("learning_rate", 1e-4, 3e-3, log=True),
            _cat("batch_size", (16, 32)),
            _float("augment", 0.0, 0.5, step=0.1),
        ),
    )


def _demo() -> Space:
    """A tiny ResNet (one block per stage, narrow) so that a trial takes seconds on a CPU.

    No capsule head: it needs >= 33 px inputs and is the slowest part on a CPU.
    """
    return Space(
        params=(
            _cat("stem", ("conv", "msc")),
            _cat("msc_kernels", ("3,5,7", "3,5", "5,7"), stem=("msc",)),
            _cat("attention", attentions()),
            _cat("wca_ratio", (4, 8, 16), attention=("wca",)),
            _cat("mf", (False, True)),
            _float("learning_rate", 1e-3, 1e-2, log=True),
            _float("augment", 0.0, 0.2, step=0.1),
        ),
        defaults={"backbone": "resnet18", "batch_size": 16},
        attention_kwargs={"wa": {"reduction": 8}},
        base_overrides={
            # WA's bottleneck reduction must not exceed the 16 channels of the first stage.
            "resnet18": {"depths": (1, 1, 1, 1), "widths": (16, 32, 64, 128)}
        },
    )


class _Spaces(Mapping):
    """The spaces by name; each is made on access, so it offers what is registered then."""

    _MAKERS: Mapping[str, Callable[[], Space]] = {"full": _full, "demo": _demo}

    def __getitem__(self, name: str) -> Space:
        return self._MAKERS[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._MAKERS)

    def __len__(self) -> int:
        return len(self._MAKERS)

    def __contains__(self, name: object) -> bool:
        return name in self._MAKERS


SPACES: Mapping[str, Space] = _Spaces()

Choose = Callable[[Param, Mapping[str, Any]], Any]


def get_space(name: str) -> Space:
    """The space called `name`; a ValueError lists the known ones."""
    if name not in SPACES:
        raise ValueError(f"space must be one of {', '.join(SPACES)}. Received: space={name!r}")
    return SPACES[name]


def sample(
    space: str | Space,
    choose: Choose,
    fixed: Mapping[str, Any] | None = None,
    exclude: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Sample the active parameters of `space` in order with `choose(param, values_so_far)`.

    Args:
        space: a space or its name.
        choose: draws one parameter's value (`optuna_choose(trial)`, `keras_tuner_choose(hp)`).
        fixed: values set instead of sampled (e.g. a `--batch-size` given on the command line).
        exclude: parameters not searched (their default applies).

    Returns:
        `{name: value}` for the sampled and fixed parameters.
    """
    space = get_space(space) if isinstance(space, str) else space
    fixed = dict(fixed or {})
    values: dict[str, Any] = {}
    for p in space.params:
        if not p.active(values) or p.name in exclude:
            continue
        values[p.name] = fixed.pop(p.name) if p.name in fixed else choose(p, values)
    values.update(fixed)
    return values


def optuna_choose(trial) -> Choose:
    """`choose` for an `optuna.Trial`: `suggest_categorical` / `suggest_float`."""

    def choose(p: Param, values: Mapping[str, Any]) -> Any:
        if p.choices is not None:
            return trial.suggest_categorical(p.name, list(p.choices))
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)

    return choose


def keras_tuner_choose(hp) -> Choose:
    """`choose` for `keras_tuner.HyperParameters`: `hp.Choice` / `hp.Float` in conditional scopes."""

    def choose(p: Param, values: Mapping[str, Any]) -> Any:
        with contextlib.ExitStack() as stack:
            for parent, allowed in p.when:
                stack.enter_context(hp.conditional_scope(parent, list(allowed)))
            if p.choices is not None:
                return hp.Choice(p.name, list(p.choices), ordered=False)
            return hp.Float(
                p.name,
                p.low,
                p.high,
                step=p.step,
                sampling="log" if p.log else "linear",
            )

    return choose


def _kernels(text: str) -> tuple[int, ...]:
    return tuple(int(k) for k in str(text).split(","))


def to_build(params: Mapping[str, Any], study: Any) -> tuple[str, dict, dict]:
    """`(model_name, model_overrides, train_kwargs)` for sampled `params`.

    Args:
        params: the sampled values (a trial's params, plus fixed ones).
        study: a `StudyConfig` (its `space` names the space) or a space name.

    Returns:
        The `ferzoo.build` model name (the backbone), its overrides, and `learning_rate`,
        `batch_size`, `augment` for `ferzoo.train`.
    """
    space = get_space(study if isinstance(study, str) else study.space)
    p = {**IMPLIED, **space.defaults, **params}
    backbone = p["backbone"]
    if backbone not in backbones():
        raise ValueError(f"backbone must be one of {backbones()}. Received: backbone={backbone!r}")
    staged = backbone in backbones(with_stages=True)
    overrides: dict[str, Any] = dict(space.base_overrides.get(backbone, {}))
    if p["stem"] == "msc":
        overrides["stem"] = "msc"
        overrides["msc_kernels"] = _kernels(p["msc_kernels"])
    attention = p["attention"]
    if attention not in attentions():
        raise ValueError(f"attention must be one of {attentions()}. Received: {attention!r}")
    if attention != "none":
        from ferzoo.models.attention import ATTENTION  # noqa: PLC0415

        kwargs = dict(space.attention_kwargs.get(attention, {}))
        if attention == "wca":
            kwargs["ratio"] = int(p["wca_ratio"])
        # WA goes in every ResNet stage (the WAMF paper: its kind's place); the CNN has none.
        in_stages = staged and ATTENTION[attention].place == "stages"
        overrides["stage_attention" if in_stages else "attention"] = attention
        if kwargs:
            overrides["attention_kwargs"] = kwargs
    if p["mf"] and staged:
        overrides["fusion"] = "mf"
        overrides["mf_kernels"] = _kernels(p["mf_kernels"])
    if p["head"] == "capsule":
        overrides["head"] = "capsule"
        overrides["routings"] = int(p["routings"])
    train_kwargs = {
        "learning_rate": float(p["learning_rate"]),
        "batch_size": int(p["batch_size"]),
        "augment": float(p["augment"]),
    }
    return backbone, overrides, train_kwargs


def _choices(space: Space, name: str) -> tuple:
    for p in space.params:
        if p.name == name:
            return p.choices
    return (space.defaults.get(name, IMPLIED[name]),)


Combination = tuple[str, str, str, str]  # backbone, stem, MsC kernel set ("" for a conv stem), head


def combination_sizes(space: str | Space) -> dict[Combination, int]:
    """The smallest image side of every backbone / stem / kernel set / head the space can draw."""
    space = get_space(space) if isinstance(space, str) else space
    sizes: dict[Combination, int] = {}
    for backbone in _choices(space, "backbone"):
        base = dict(space.base_overrides.get(backbone, {}))
        for stem in _choices(space, "stem"):
            kernel_sets = _choices(space, "msc_kernels") if stem == "msc" else ("",)
            for kernels in kernel_sets:
                for head in _choices(space, "head"):
                    overrides = dict(base, stem=stem, head=head)
                    if kernels:
                        overrides["msc_kernels"] = _kernels(kernels)
                    sizes[(backbone, stem, kernels, head)] = min_image_size(backbone, **overrides)
    return sizes


def min_image_sizes(space: str | Space) -> dict[str, int]:
    """The smallest image side of each backbone / stem / head combination the space can draw
    (the largest over the MsC kernel sets).

    Example:
        >>> min_image_sizes("full")["cnn, conv stem, dense head"]
        63
    """
    sizes: dict[str, int] = {}
    for (backbone, stem, _, head), size in combination_sizes(space).items():
        label = f"{backbone}, {stem} stem, {head} head"
        sizes[label] = max(sizes.get(label, 0), size)
    return sizes


def feasible(space: str | Space, image_size: int | None) -> Space:
    """The space without the choices that cannot be built at `image_size`.

    A backbone, stem, MsC kernel set or head is dropped when every combination it takes part in
    needs more pixels, so the sampler never draws it (a study's image size is pinned, so its
    choices stay the same on every resume). Combinations of kept choices that still cannot be
    built are what `check_image_size` lists.
    """
    space = get_space(space) if isinstance(space, str) else space
    if image_size is None:
        return space
    fits = [combo for combo, size in combination_sizes(space).items() if size <= image_size]
    keep = {name: {combo[i] for combo in fits} for i, name in enumerate(_COMBINATION_PARAMS)}
    params = []
    for p in space.params:
        if p.name in keep and p.choices is not None:
            kept = tuple(c for c in p.choices if c in keep[p.name])
            p = dataclasses.replace(p, choices=kept or p.choices)  # empty: never active
        params.append(p)
    return dataclasses.replace(space, params=tuple(params))


_COMBINATION_PARAMS = ("backbone", "stem", "msc_kernels", "head")


def left_out(space: str | Space, image_size: int) -> list[str]:
    """The choices `feasible` removes at `image_size`, as `"name=value"`."""
    space = get_space(space) if isinstance(space, str) else space
    kept = {p.name: p.choices for p in feasible(space, image_size).params}
    return [f"{p.name}={c}" for p in space.params if p.choices is not None
            for c in p.choices if c not in kept[p.name]]  # fmt: skip


def still_infeasible(space: str | Space, image_size: int) -> list[str]:
    """The combinations of choices the feasible space keeps that still cannot be built at
    `image_size` (their trials are closed as infeasible), like `check_image_size` lists them."""
    space = feasible(space, image_size)
    return [label for label, size in min_image_sizes(space).items() if image_size < size]


def check_image_size(space: str | Space, image_size: int) -> list[str]:
    """Refuse an image size no configuration of the space accepts; list what it rules out.

    Returns:
        The combinations (see `min_image_sizes`) that cannot be built at `image_size`. The
        choices that only take part in such combinations leave the space (`feasible`); a
        trial of a combination of kept choices that still cannot be built is closed as
        infeasible without training.

    Raises:
        ValueError: when `image_size` is below the smallest minimum of the space.
    """
    sizes = min_image_sizes(space)
    smallest = min(sizes.values())
    if image_size < smallest:
        raise ValueError(
            f"image_size {image_size} is below the smallest input any configuration of this "
            f"search space accepts ({smallest} px). Received: image_size={image_size}"
        )
    return [f"{label} (needs {size} px)" for label, size in sizes.items() if image_size < size]


def paper_trials(space: str | Space, image_size: int | None = None) -> dict[str, dict]:
    """The papers' models (`PAPER_DESIGNS`) as trial parameters of `space`, those it can draw
    at `image_size`: every searched value one of its choices (or in its range), every other
    value the one the space implies. `{model name: params}`, resnet18 first."""
    space = feasible(space, image_size)
    searched = {p.name: p for p in space.params}
    found = {}
    for name, design in PAPER_DESIGNS.items():
        values = {**design, **PAPER_TRAINING}
        params: dict[str, Any] = {}
        for p in space.params:
            if p.active(params) and p.name in values:
                params[p.name] = values[p.name]
        fits = all(
            (v in searched[k].choices if searched[k].choices is not None
             else searched[k].low <= v <= searched[k].high)
            for k, v in params.items()
        ) and all(
            space.defaults.get(k, IMPLIED[k]) == v for k, v in values.items() if k not in searched
        )  # fmt: skip
        if fits:
            found[name] = params
    return found


def suggest(
    trial, study: Any, fixed: Mapping[str, Any] | None = None, image_size: int | None = None
) -> tuple[str, dict, dict]:
    """Sample a configuration for an Optuna trial: `(model_name, overrides, train_kwargs)`,
    from the choices that can be built at `image_size` (`feasible`; None: all of them)."""
    space = feasible(study if isinstance(study, str) else study.space, image_size)
    return to_build(sample(space, optuna_choose(trial), fixed), study)
