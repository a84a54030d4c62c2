"""The recipe's defaults, one definition each, importable without Keras, OpenCV or a backend.

`ferzoo.data.load`, `ferzoo.train`, the typed run configuration (`ferzoo.training.config`) and
the command line's parsers all read them from here.

Reference:
    WAMF trains with Adam at 1e-3, batch 16, for 200 epochs at 224 px; MsC-wCA adds early
    stopping on the validation loss (patience 30, min delta 1e-5). The papers' random splits are
    ten-fold; the augmentation strength is ferzoo's (`ferzoo.data.augment` says why 0.5).
"""

from __future__ import annotations

PROTOCOL = "paper"
NUM_FOLDS = 10
IMAGE_SIZE = 224
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)  # `ferzoo.build`'s default
BATCH_SIZE = 16
AUGMENT_STRENGTH = 0.5
EPOCHS = 200
LEARNING_RATE = 1e-3
PATIENCE = 30
MIN_DELTA = 1e-5
#: The face detectors (`ferzoo.face.DETECTORS`, which implements them) and the default one.
DETECTOR_NAMES = ("yunet", "haar")
DETECTOR = "yunet"

__all__ = ["AUGMENT_STRENGTH", "BATCH_SIZE", "DETECTOR", "DETECTOR_NAMES", "EPOCHS",
           "IMAGE_SIZE", "INPUT_SHAPE", "LEARNING_RATE", "MIN_DELTA", "NUM_FOLDS", "PATIENCE", "PROTOCOL"]  # fmt: skip
