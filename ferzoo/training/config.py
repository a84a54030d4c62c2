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

import dataclasses
from typing import Any

from ferzoo import defaults, files, precision, registry
from ferzoo.data.loader import check_load_args
from ferzoo.data.parts import LoadedData
from ferzoo.training import selection as selection_rules

DATA_FIELDS = ("protocol", "fold", "num_folds", "image_size", "batch_size", "augment", "align",
               "detector")  # fmt: skip
PATHS = ("data_dir", "manual_dir", "subject_pattern")
FITTING = ("epochs", "learning_rate", "seed", "label_smoothing", "class_weight")
SELECTION = ("monitor", "min_epochs", "patience", "min_delta")
KEYWORDS = (*DATA_FIELDS, *PATHS, *FITTING, *SELECTION, "model_overrides", "weights", "precision")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The data a run trains on: `ferzoo.data.load`'s arguments (the seed is the training's)."""

    dataset: str
    protocol: str = defaults.PROTOCOL
    fold: int = 0
    num_folds: int = defaults.NUM_FOLDS
    image_size: int = defaults.IMAGE_SIZE
    batch_size: int = defaults.BATCH_SIZE
    augment: float = defaults.AUGMENT_STRENGTH
    align: bool = False  # faces aligned by their landmarks (ferzoo.data.load's `align`)
    detector: str | None = None  # the detector a dataset prepared now uses (None: YuNet)
    data_dir: str | None = None
    manual_dir: str | None = None
    subject_pattern: str | None = None

    def __post_init__(self):
        if not isinstance(self.dataset, str):
            raise ValueError(
                "dataset must be a dataset name or a ferzoo.data.LoadedData. "
                f"Received: {self.dataset!r}"
            )
        check_load_args(*(getattr(self, name) for name in DATA_FIELDS))

    @classmethod
    def of(cls, dataset: str | LoadedData, **given: Any) -> DataConfig:
        """From a name and the given arguments (None: the default), or from loaded data (then a
        given value that differs from the data's is an error; the folders it was read from are
        as given)."""
        paths = {k: (None if given.get(k) is None else str(given[k]))
                 for k in ("data_dir", "manual_dir")}  # fmt: skip
        if not isinstance(dataset, LoadedData):
            chosen = {k: v for k, v in given.items() if v is not None and k in DATA_FIELDS}
            return cls(dataset, **chosen, **paths, subject_pattern=given.get("subject_pattern"))
        defaults_ = {f.name: f.default for f in dataclasses.fields(cls)}
        held = {k: getattr(dataset, k, defaults_[k]) for k in DATA_FIELDS}
        clash = [f"{k}={given[k]!r} (the data has {held[k]!r})" for k in DATA_FIELDS
                 if given.get(k) is not None and given[k] != held[k]]  # fmt: skip
        if clash:
            raise ValueError(
                f"These arguments differ from the loaded data's: {', '.join(clash)}. Pass them "
                "to ferzoo.data.load instead, or leave them out."
            )
        return cls(str(getattr(dataset, "name", "custom")), **held, **paths,
                   subject_pattern=given.get("subject_pattern"))  # fmt: skip

    def load_arguments(self) -> dict[str, Any]:
        """`ferzoo.data.load`'s keywords (all but the name and the seed)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "dataset"}


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model: a registered name with its overrides (or a model given built), its initial
    weights and its dtype policy (resolved: never "auto")."""

    name: str
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    weights: str | None = None
    precision: str = "float32"
    given_built: bool = False  # a keras.Model was passed: `name` is its name, not a registry's

    def check(self, image_size: int) -> None:
        """A registered model's overrides against its variant, at the data's image size."""
        if self.given_built and self.overrides:
            raise ValueError(
                "model_overrides apply to a model name, not to a built model. "
                f"Received: model={self.name!r}, model_overrides={self.overrides}"
            )
        if not self.given_built:
            registry.check(self.name, image_size, **self.overrides)


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """How the weights are fitted and which epoch is kept."""

    epochs: int = defaults.EPOCHS
    learning_rate: float = defaults.LEARNING_RATE
    seed: int = 0
    selection: selection_rules.Selection = selection_rules.Selection()
    label_smoothing: float = 0.0
    class_weight: Any = None  # None, "balanced" or {class id or name: weight}
    optimizer: str = "adam"

    def __post_init__(self):
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
        self.model.check(self.data.image_size)

    @classmethod
    def of(cls, model: Any, dataset: str | LoadedData, **keywords: Any) -> RunConfig:
        """From `ferzoo.train`'s keywords (`KEYWORDS`; see `ferzoo.train` for each): a keyword
        left out takes the recipe's default, and so does a data keyword given as None."""
        unknown = sorted(set(keywords) - set(KEYWORDS))
        if unknown:
            raise TypeError(f"RunConfig.of got unexpected keywords {unknown}. Known: {KEYWORDS}")
        data = DataConfig.of(dataset, **{k: keywords.get(k) for k in (*DATA_FIELDS, *PATHS)})
        name = model if isinstance(model, str) else getattr(model, "name", None)
        if not isinstance(name, str) or not (isinstance(model, str) or hasattr(model, "fit")):
            raise ValueError(
                f"model must be a model name or a keras.Model. Received: model={model!r}"
            )
        weights = keywords.get("weights")
        model_config = ModelConfig(
            name,
            dict(keywords.get("model_overrides") or {}),
            None if weights is None else str(weights),
            precision.resolve(precision.check(keywords.get("precision", "auto"))),
            given_built=not isinstance(model, str),
        )
        fitting = {k: keywords[k] for k in FITTING if k in keywords}
        TrainingConfig(**fitting)  # its checks first: the selection rule reads the epochs
        rule = selection_rules.resolve(
            data.protocol,
            fitting.get("epochs", defaults.EPOCHS),
            **{k: keywords[k] for k in SELECTION if k in keywords},
        )
        return cls(data, model_config, TrainingConfig(**fitting, selection=rule))

    def to_json(self) -> dict[str, Any]:
        """As config.json records it (the selection with its rule in words)."""
        out = files.jsonable(dataclasses.asdict(self))
        out["training"]["selection"] = self.training.selection.to_json()
        return out


__all__ = ["DATA_FIELDS", "KEYWORDS", "DataConfig", "ModelConfig", "RunConfig", "TrainingConfig"]
