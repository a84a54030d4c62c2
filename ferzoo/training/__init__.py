"""Training: the papers' recipe end to end, with model selection and resumable checkpoints.

`ferzoo.train(model, dataset, ...)` checks its keywords once into a typed `RunConfig`
(`ferzoo.training.config`: data, model, training) and runs five steps (`ferzoo.training.trainer`): the data
(`ferzoo.data.load`, or a `LoadedData` given as is), the model (`ferzoo.build`, compiled with
Adam, the model's loss, accuracy and macro F1), resume or start (`checkpoints`), fit (with the
`EpochKeeper` callback: history, selection, early stopping, checkpoints), and the report
(`report`: the kept weights, the model file, curves, test metrics). `fit` trains the network
behind a uint8 input and `FaceAugment` (`device_input.training_model`: conversion,
augmentation and normalisation in the compiled step, on the device); everything else sees the
network alone.

Example:

    import ferzoo
    result = ferzoo.train("resnet18", "synthetic_faces", image_size=64, epochs=10)
    result.test["accuracy"], result.best_epoch, result.output_dir

Resume: started again with the same arguments and `resume=True`, `train` loads the last
committed state and continues with `fit(initial_epoch=<epochs done>)`, so no completed epoch is
lost or repeated; `epochs` may be raised on resume, any other change of the training arguments
is refused. A resumed run sees the shuffled order of a fresh pipeline and a fresh augmentation
seed generator, so its numbers are not bit-identical to an uninterrupted run's.

Reference:
    The recipe is the papers': Adam at 1e-3, batch 16, 200 epochs (WAMF); early stopping on the
    validation loss with min delta 1e-5 and patience 30, and the parameters of lowest validation
    loss kept and used on the test set (MsC-wCA). Capsule-head models train with the margin loss
    (`ferzoo.evaluation.losses.loss_for`). Under the subject-independent protocol ferzoo's default rule
    differs (see `ferzoo.training.selection`), and says so in the run's config and metrics.
"""

from __future__ import annotations

import importlib
from typing import Any

# Lazy (PEP 562): `ferzoo.training.selection` and `ferzoo.training.config` import without
# Keras, so the command line's parsers can read MONITORS and the defaults.
_WHERE = {
    "MONITORS": "ferzoo.training.selection",
    "Selection": "ferzoo.training.selection",
    "DataConfig": "ferzoo.training.config",
    "ModelConfig": "ferzoo.training.config",
    "RunConfig": "ferzoo.training.config",
    "TrainingConfig": "ferzoo.training.config",
    "TrainResult": "ferzoo.training.report",
    "default_output_dir": "ferzoo.training.report",
    "library_versions": "ferzoo.training.report",
    "train": "ferzoo.training.trainer",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'ferzoo.training' has no attribute {name!r}")


__all__ = sorted(_WHERE)
