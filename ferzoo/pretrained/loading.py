"""`load_weights`: a source into a model by layer name and shape, and the `LoadReport`."""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import h5py

from ferzoo.pretrained.layout import Entry, check_group_name, group_arrays, layer_groups
from ferzoo.pretrained.normalization import normalization_for
from ferzoo.pretrained.sources import Source, read_source

logger = logging.getLogger("ferzoo.pretrained")

#: The head layers of ferzoo's families: `set_backbone_trainable` leaves them trainable.
HEAD_LAYERS = ("predictions", "primary_capsules", "class_capsules")


@dataclass
class LoadReport:
    """What `load_weights` took from a weights source, and what it left fresh.

    Attributes:
        source: the weights path.
        kind: `"torchvision"`, `"keras_hub"` or `"ferzoo"`.
        model: the model's name.
        loaded: model layers that took the source's weights.
        skipped: `(layer, reason)` for model layers whose counterpart did not fit; they keep
            their fresh initialisation.
        fresh: model layers with weights and no counterpart in the source.
        unused: the source's layers that no model layer took, in the source's names.
        loaded_params: values loaded (BN moving statistics included, as `count_params`).
        model_params: values of all the model's weights.
        normalization: the input normalisation the source implies (`normalization_for`).
    """

    source: str
    kind: str
    model: str
    loaded: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    loaded_params: int = 0
    model_params: int = 0
    normalization: dict[str, Any] | None = None

    @property
    def summary(self) -> str:
        """One paragraph: counts, the skipped layers with reasons, the fresh and unused ones."""
        total = len(self.loaded) + len(self.skipped) + len(self.fresh)
        text = (
            f"Initialised {len(self.loaded)} of {total} weighted layers of {self.model} from "
            f"{self.kind} weights {self.source} ({self.loaded_params / 1e6:.2f} M of "
            f"{self.model_params / 1e6:.2f} M values)."
        )
        if self.skipped:
            reasons = "; ".join(f"{name}: {why}" for name, why in self.skipped)
            text += f" Skipped, kept fresh: {reasons}."
        if self.fresh:
            text += f" Fresh (no counterpart): {', '.join(self.fresh)}."
        if self.unused:
            text += f" Not used from the file: {', '.join(self.unused)}."
        if self.normalization:
            text += (
                f" Inputs: {self.normalization.get('name', 'custom')} normalisation, mean "
                f"{tuple(self.normalization['mean'])}, std {tuple(self.normalization['std'])} "
                f"on {tuple(self.normalization.get('input_range', (0.0, 1.0)))} images."
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (for a run's config.json), the summary included."""
        return {
            "source": self.source,
            "kind": self.kind,
            "model": self.model,
            "loaded": list(self.loaded),
            "skipped": [{"layer": name, "reason": why} for name, why in self.skipped],
            "fresh": list(self.fresh),
            "unused": list(self.unused),
            "loaded_params": self.loaded_params,
            "model_params": self.model_params,
            "normalization": _jsonable(self.normalization),
            "summary": self.summary,
        }


def load_weights(model, weights: str | os.PathLike) -> LoadReport:
    """Initialise `model` from a weights source, by layer name and shape; report what was taken.

    Args:
        model: a `keras.Model` built by `ferzoo.build` (any family; the torchvision and
            keras-hub renaming targets the ResNet family's layer names).
        weights: a torchvision `.pth`/`.pt` state dict, a keras-hub ResNet preset folder, or a
            ferzoo `.keras` / `.weights.h5` file.

    Returns:
        The `LoadReport` (also kept as `model.pretrained_report` and logged at INFO).

    Raises:
        ValueError: the path does not exist, cannot be read as one of these formats, or nothing
            in it fits the model.
        ImportError: a `.pth` file and no PyTorch (`pip install torch==2.13.0`).

    Example:
    ```python
    model = ferzoo.build("wamf_resnet18", num_classes=7)
    report = load_weights(model, "resnet18.pth")
    report.fresh   # ['stage1_wa', 'stage1_mf', ..., 'primary_capsules', 'class_capsules']
    ```
    """
    source = read_source(weights)
    report = _apply(model, source)
    if not report.loaded:
        skipped = "; ".join(f"{name}: {why}" for name, why in report.skipped[:5]) or "none"
        raise ValueError(
            f"Nothing in {source.path} fits model '{model.name}': expected {source.kind} layers "
            f"with the model's names and shapes (e.g. stem_conv, stage1_block1_conv1). Skipped: "
            f"{skipped}. Unused from the file: {', '.join(report.unused[:8]) or 'none'}. "
            f"Received: weights={source.path!r}"
        )
    report.normalization = normalization_for(weights)
    model.pretrained_report = report
    logger.info(report.summary)
    return report


def _compare(layer, source: Entry, target: Entry) -> str | None:
    """Why `source` does not fit `target`, the model layer's variables (None: it fits)."""
    name = layer.name
    # A plain layer's vars/<i> are its weights in order: say "kernel", not "vars/0".
    labels = {f"vars/{i}": v.name for i, v in enumerate(layer.weights)}
    if set(source) != set(target):
        return (
            f"different variables (file: {len(source)}, model: {len(target)}; "
            f"{sorted(source)} vs {sorted(target)})"
        )
    for key in sorted(target):
        if source[key].shape != target[key].shape:
            label = labels.get(key, key) if set(target) == set(labels) else key
            why = (
                f"shape mismatch: {label} is {tuple(source[key].shape)} in the file, "
                f"{tuple(target[key].shape)} in the model"
            )
            if name in HEAD_LAYERS:
                why += " (a head of another class count starts fresh)"
            return why
    return None


def _apply(model, source: Source) -> LoadReport:
    """Copy every fitting layer of `source` into `model` through Keras' own weights file."""
    report = LoadReport(source=source.path, kind=source.kind, model=model.name)
    groups = layer_groups(model)
    taken = set()
    with tempfile.TemporaryDirectory() as folder:
        file = os.path.join(folder, "target.weights.h5")
        model.save_weights(file)
        with h5py.File(file, "r+") as f:
            for layer in model.layers:
                if layer.name not in groups or groups[layer.name] not in f:
                    continue
                target = group_arrays(f[groups[layer.name]])
                if not target:
                    continue
                check_group_name(f[groups[layer.name]], layer.name, file)
                report.model_params += sum(int(a.size) for a in target.values())
                if layer.name not in source.entries:
                    report.fresh.append(layer.name)
                    continue
                taken.add(layer.name)
                why = _compare(layer, source.entries[layer.name], target)
                if why is not None:
                    report.skipped.append((layer.name, why))
                    continue
                for key, array in source.entries[layer.name].items():
                    f[groups[layer.name]][key][...] = array.astype(target[key].dtype)
                    report.loaded_params += int(array.size)
                report.loaded.append(layer.name)
        if report.loaded:
            model.load_weights(file)
    report.unused = list(source.unused) + [
        source.origin[name] for name in source.entries if name not in taken
    ]
    return report


def set_backbone_trainable(model, trainable: bool, layers: list[str] | None = None) -> list[str]:
    """Freeze (`trainable=False`) or unfreeze the layers that pretrained weights went into.

    For `--freeze-backbone-epochs N`: freeze after building, train N epochs, unfreeze, and
    compile again (Keras applies a `trainable` change at the next `compile`). A frozen
    BatchNormalization runs in inference mode (its moving statistics stay fixed), as Keras'
    fine-tuning guide recommends. The head layers (`HEAD_LAYERS`) stay trainable.

    Args:
        model: a model with `model.pretrained_report` (from `ferzoo.build(weights=...)`).
        trainable: False to freeze, True to unfreeze.
        layers: the layer names; defaults to the report's `loaded` list minus the head.

    Returns:
        The names of the layers changed.

    Example:
    ```python
    set_backbone_trainable(model, False); model.compile(...); model.fit(..., epochs=N)
    set_backbone_trainable(model, True); model.compile(...); model.fit(...)
    ```
    """
    if layers is None:
        report = getattr(model, "pretrained_report", None)
        if report is None:
            raise ValueError(
                f"Model '{model.name}' has no pretrained_report: build it with weights=... or "
                f"pass layers. Received: layers={layers!r}"
            )
        layers = [name for name in report.loaded if name not in HEAD_LAYERS]
    for name in layers:
        model.get_layer(name).trainable = bool(trainable)
    return list(layers)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
