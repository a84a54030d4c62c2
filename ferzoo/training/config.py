"""What a run is made of, as typed, frozen configurations: data, model, training.

`RunConfig.of(model, dataset, **keywords)` builds one from `ferzoo.train`'s friendly keywords
(the command line's `ferzoo train` and every sweep trial come through the same call), checks
every value once, and is then passed whole: the trainer reads it, the checkpoint identity is
drawn from it, and config.json records it as it is under `"config"`.

    config = RunConfig.of("resnet18", "synthetic_faces", image_size=64, epochs=10)
    config.data.image_size, config.training.selection.monitor, config.to_json()

How a call runs (where it writes, whether it resumes, its callbacks and verbosity) is not part
of the configuration: a resumed run may change those (`ferzoo.training.trainer.Spec`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any, ClassVar

from ferzoo import files, registry
from ferzoo.data.loader import check_load_args
from ferzoo.data.parts import LoadedData
from ferzoo.runtime import precision
from ferzoo.training import options
from ferzoo.training import selection as selection_rules


class Part:
    """One part of a run's configuration: the values of the options of its `PARTS`
    (`ferzoo.training.options`), in the table's order, after `LEADING` (required) and before
    `DERIVED` (set from other values, not options). Checked once (`check`), frozen, compared
    by value, recorded as a dict (`as_dict`)."""

    PARTS: ClassVar[tuple[str, ...]] = ()
    LEADING: ClassVar[tuple[str, ...]] = ()
    DERIVED: ClassVar[dict[str, Any]] = {}

    def __init__(self, *args: Any, **values: Any):
        names = self.field_names()
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} values")
        given = dict(zip(names, args, strict=False))
        unknown = sorted((set(values) & set(given)) | (set(values) - set(names)))
        missing = [name for name in self.LEADING if name not in given and name not in values]
        if unknown or missing:
            raise TypeError(
                f"{type(self).__name__} got unexpected or repeated fields {unknown}, or lacks "
                f"{missing}. Known: {names}"
            )
        given |= values
        defaults_ = self.defaults()
        full = {n: given[n] if n in given else copy.deepcopy(defaults_[n]) for n in names}
        object.__setattr__(self, "_values", full)
        self.check()

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return (*cls.LEADING, *(o.field for o in options.of_part(*cls.PARTS)), *cls.DERIVED)

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {o.field: o.default for o in options.of_part(*cls.PARTS)} | cls.DERIVED

    def check(self) -> None:
        """Raise a ValueError naming a bad value (each part its own checks)."""

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("_values", {})
        if name in values:
            return values[name]
        raise AttributeError(f"{type(self).__name__!r} has no field {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.as_dict() == self.as_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(files.jsonable(self.as_dict()), sort_keys=True, default=str))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"{type(self).__name__}({inner})"

    def as_dict(self) -> dict[str, Any]:
        """Every field and its value (a copy)."""
        return dict(self._values)


class DataConfig(Part):
    """The data a run trains on: `ferzoo.data.load`'s arguments (the seed is the training's)."""

    PARTS = ("data", "paths")
    LEADING = ("dataset",)

    def check(self) -> None:
        if not isinstance(self.dataset, str):
            raise ValueError(
                "dataset must be a dataset name or a ferzoo.data.LoadedData. "
                f"Received: {self.dataset!r}"
            )
        check_load_args(self.protocol, self.fold, self.num_folds, self.image_size,
                        self.batch_size, self.augment, self.align, self.detector)  # fmt: skip

    @classmethod
    def of(cls, dataset: str | LoadedData, **given: Any) -> DataConfig:
        """From a name and the given arguments (None: the default), or from loaded data (then a
        given value that differs from the data's is an error; the folders it was read from are
        as given)."""
        held_by_data = [o.field for o in options.of_part("data")]
        paths = {o.field: given.get(o.name) for o in options.of_part("paths")}
        paths |= {k: str(paths[k]) for k in ("data_dir", "manual_dir") if paths[k] is not None}
        if not isinstance(dataset, LoadedData):
            chosen = {k: v for k, v in given.items() if v is not None and k in held_by_data}
            return cls(dataset, **chosen, **paths)
        defaults_ = cls.defaults()
        held = {k: getattr(dataset, k, defaults_[k]) for k in held_by_data}
        clash = [f"{k}={given[k]!r} (the data has {held[k]!r})" for k in held_by_data
                 if given.get(k) is not None and given[k] != held[k]]  # fmt: skip
        if clash:
            raise ValueError(
                f"These arguments differ from the loaded data's: {', '.join(clash)}. Pass them "
                "to ferzoo.data.load instead, or leave them out."
            )
        return cls(str(getattr(dataset, "name", "custom")), **held, **paths)

    def load_arguments(self) -> dict[str, Any]:
        """`ferzoo.data.load`'s keywords (all but the name and the seed)."""
        return {k: v for k, v in self.as_dict().items() if k != "dataset"}


class ModelConfig(Part):
    """The model: a registered name with its overrides (or a model given built), its initial
    weights and its dtype policy (resolved by `RunConfig.of`: never "auto")."""

    PARTS = ("model",)
    LEADING = ("name",)
    DERIVED = {"given_built": False}  # a keras.Model was passed: `name` is its name

    def check_at(self, image_size: int) -> None:
        """A registered model's overrides against its variant, at the data's image size."""
        if self.given_built and self.overrides:
            raise ValueError(
                "model_overrides apply to a model name, not to a built model. "
                f"Received: model={self.name!r}, model_overrides={self.overrides}"
            )
        if not self.given_built:
            registry.check(self.name, image_size, **(self.overrides or {}))


class TrainingConfig(Part):
    """How the weights are fitted and which epoch is kept (`selection`: the rule resolved from
    the "selection" options)."""

    PARTS = ("training",)
    DERIVED = {"selection": selection_rules.Selection(), "optimizer": "adam"}

    def check(self) -> None:
        epochs = self.epochs
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"epochs must be a positive int. Received: epochs={epochs!r}")
        rate = self.learning_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
            raise ValueError(f"learning_rate must be > 0. Received: learning_rate={rate!r}")
        smoothing = self.label_smoothing
        if not (isinstance(smoothing, int | float) and 0 <= smoothing < 1):
            raise ValueError(
                f"label_smoothing must be in [0, 1). Received: label_smoothing={smoothing!r}"
            )
        if self.class_weight not in (None, "balanced") and not isinstance(self.class_weight, dict):
            raise ValueError(
                "class_weight must be None, 'balanced' or a mapping. "
                f"Received: class_weight={self.class_weight!r}"
            )


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """A run: its data, its model and its training, checked together once."""

    data: DataConfig
    model: ModelConfig
    training: TrainingConfig

    def __post_init__(self):
        self.model.check_at(self.data.image_size)

    @classmethod
    def of(cls, model: Any, dataset: str | LoadedData, **keywords: Any) -> RunConfig:
        """From `ferzoo.train`'s option keywords but the "run" ones (`ferzoo.training.options`;
        see `ferzoo.train` for each): a keyword left out takes its default, and so does a data
        keyword given as None."""
        known = [o.name for o in options.OPTIONS if o.part != "run"]
        unknown = sorted(set(keywords) - set(known))
        if unknown:
            raise TypeError(f"RunConfig.of got unexpected keywords {unknown}. Known: {known}")
        data = DataConfig.of(dataset, **{o.name: keywords.get(o.name)
                                         for o in options.of_part("data", "paths")})  # fmt: skip
        name = model if isinstance(model, str) else getattr(model, "name", None)
        if not isinstance(name, str) or not (isinstance(model, str) or hasattr(model, "fit")):
            raise ValueError(
                f"model must be a model name or a keras.Model. Received: model={model!r}"
            )
        given = {o.field: keywords[o.name] for o in options.of_part("model") if o.name in keywords}
        given["overrides"] = dict(given.get("overrides") or {})
        if given.get("weights") is not None:
            given["weights"] = str(given["weights"])
        given["precision"] = precision.resolve(precision.check(given.get("precision", "auto")))
        model_config = ModelConfig(name, **given, given_built=not isinstance(model, str))
        fitting = {o.field: keywords[o.name]
                   for o in options.of_part("training") if o.name in keywords}  # fmt: skip
        epochs = TrainingConfig(**fitting).epochs  # its checks first: the rule reads the epochs
        rule = selection_rules.resolve(
            data.protocol, epochs,
            **{o.name: keywords[o.name] for o in options.of_part("selection") if o.name in keywords},
        )  # fmt: skip
        return cls(data, model_config, TrainingConfig(**fitting, selection=rule))

    def value(self, option: options.Option) -> Any:
        """The value of a data, paths, model or training option in this configuration."""
        part = {"data": self.data, "paths": self.data, "model": self.model,
                "training": self.training}[option.part]  # fmt: skip
        return getattr(part, option.field)

    def to_json(self) -> dict[str, Any]:
        """As config.json records it (the selection with its rule in words)."""
        out = {k: files.jsonable(getattr(self, k).as_dict()) for k in ("data", "model", "training")}
        out["training"]["selection"] = self.training.selection.to_json()
        return out


__all__ = ["DataConfig", "ModelConfig", "Part", "RunConfig", "TrainingConfig"]
