"""Keras metrics ferzoo trains with: the macro F1 over classes (any backend, keras.ops only).

`MacroF1(num_classes)` accumulates the confusion matrix of integer labels against the argmax of
the scores (softmax probabilities or capsule lengths) and reports the unweighted mean of the
per-class F1 scores, as `ferzoo.evaluation.evaluate.classification_metrics` does (a class never predicted
and never present counts 0). Compiled into a model, it gives `macro_f1` and `val_macro_f1` in the
training logs, so model selection can monitor it.

Example:

    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy", ferzoo.evaluation.metrics.MacroF1(7)])
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="ferzoo")
class MacroF1(keras.metrics.Metric):
    """Macro-averaged F1 of integer labels against the scores' argmax.

    Args:
        num_classes: the number of classes (the scores' last dimension).
        name: the metric name in the logs.
    """

    def __init__(self, num_classes: int, name: str = "macro_f1", **kwargs):
        super().__init__(name=name, **kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(
                f"num_classes must be an int >= 2. Received: num_classes={num_classes!r}"
            )
        self.num_classes = num_classes
        self.matrix = self.add_variable(
            shape=(num_classes, num_classes), initializer="zeros", name="confusion", dtype="float32"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.cast(y_true, "int32"), (-1,))
        y_pred = ops.argmax(ops.reshape(y_pred, (-1, self.num_classes)), axis=-1)
        true = ops.one_hot(y_true, self.num_classes, dtype="float32")
        pred = ops.one_hot(ops.cast(y_pred, "int32"), self.num_classes, dtype="float32")
        if sample_weight is not None:
            true = true * ops.reshape(ops.cast(sample_weight, "float32"), (-1, 1))
        self.matrix.assign_add(ops.matmul(ops.transpose(true), pred))

    def result(self):
        tp = ops.diagonal(self.matrix)
        predicted = ops.sum(self.matrix, axis=0)
        actual = ops.sum(self.matrix, axis=1)
        denominator = predicted + actual
        f1 = ops.where(denominator > 0, 2.0 * tp / ops.maximum(denominator, 1e-12), 0.0)
        return ops.mean(f1)

    def reset_state(self):
        self.matrix.assign(ops.zeros((self.num_classes, self.num_classes), "float32"))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


__all__ = ["MacroF1"]
