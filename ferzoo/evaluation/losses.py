"""Losses: the capsule margin loss, and `loss_for(model)` that picks a model's training loss."""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers._precision import at_least_float32
from ferzoo.layers.capsule_length import CapsuleLength


def _check_number(name, value, low=0.0, high=None):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number. Received: {name}={value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(
            f"{name} must be in [{low}, {high if high is not None else 'inf'}]. "
            f"Received: {name}={value!r}"
        )


def _to_one_hot(y_true, y_pred):
    """Return one-hot labels of y_pred's shape, from class ids or from one-hot labels.

    One-hot when y_true has y_pred's rank and the same (known, > 1) last dimension;
    otherwise y_true holds integer class ids of shape (batch,) or (batch, 1).
    """
    num_classes = y_pred.shape[-1]
    one_hot = (
        len(y_true.shape) == len(y_pred.shape)
        and num_classes is not None
        and num_classes > 1
        and y_true.shape[-1] == num_classes
    )
    if one_hot:
        return ops.cast(y_true, y_pred.dtype)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
    return ops.one_hot(ops.cast(y_true, "int32"), num_classes, dtype=y_pred.dtype)


def margin_loss(y_true, y_pred, m_plus: float = 0.9, m_minus: float = 0.1, lambda_: float = 0.5):
    """Capsule margin loss per example (Sabour et al. 2017, eq. 4).

    `L = sum_k T_k max(0, m+ - |v_k|)^2 + lambda (1 - T_k) max(0, |v_k| - m-)^2`, where `T_k` is 1
    for the true class. It is 0 when the true capsule is at least `m_plus` long and all the
    others at most `m_minus`.

    Args:
        y_true: integer class ids, shape `(batch,)` or `(batch, 1)`, or one-hot labels of shape
            `(batch, num_classes)`. One-hot is detected by shape: rank 2 with a last dimension equal
            to `y_pred`'s (and more than one class); anything else is read as class ids.
        y_pred: capsule lengths, shape `(batch, num_classes)`.
        m_plus: margin for the true class.
        m_minus: margin for the other classes.
        lambda_: down-weighting of the absent classes' term.

    Returns:
        Tensor of shape `(batch,)`, in float32 for 16-bit `y_pred` (computed in float32).

    Example:
    >>> margin_loss(keras.ops.array([0]), keras.ops.array([[0.95, 0.05]]))  # doctest: +SKIP
    0.0
    """
    y_pred = at_least_float32(y_pred)
    y_true = ops.convert_to_tensor(y_true)
    targets = _to_one_hot(y_true, y_pred)
    present = targets * ops.square(ops.relu(m_plus - y_pred))
    absent = lambda_ * (1.0 - targets) * ops.square(ops.relu(y_pred - m_minus))
    return ops.sum(present + absent, axis=-1)


@keras.saving.register_keras_serializable(package="ferzoo")
class MarginLoss(keras.losses.Loss):
    """The capsule margin loss (Sabour et al. 2017, eq. 4) as a Keras loss.

    See `margin_loss` for the formula and the accepted label formats (integer class ids of shape
    `(batch,)` or `(batch, 1)`, or one-hot `(batch, num_classes)`); `y_pred` are capsule lengths,
    `(batch, num_classes)`, as a `CapsuleLength` layer outputs them.

    Args:
        m_plus: margin for the true class, in [0, 1]. Defaults to 0.9.
        m_minus: margin for the other classes, in [0, 1]. Defaults to 0.1.
        lambda_: weight of the absent classes' term, >= 0. Defaults to 0.5.
        **kwargs: `keras.losses.Loss` arguments (`name`, `reduction`, `dtype`).

    Example:
    >>> loss = MarginLoss()
    >>> float(loss(keras.ops.array([1]), keras.ops.array([[0.05, 0.95]])))
    0.0

    Reference:
    - [Sabour et al., Dynamic Routing Between Capsules, NeurIPS 2017](https://arxiv.org/abs/1710.09829)
    """

    def __init__(
        self,
        m_plus: float = 0.9,
        m_minus: float = 0.1,
        lambda_: float = 0.5,
        name: str = "margin_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        _check_number("m_plus", m_plus, 0.0, 1.0)
        _check_number("m_minus", m_minus, 0.0, 1.0)
        _check_number("lambda_", lambda_, 0.0)
        self.m_plus = float(m_plus)
        self.m_minus = float(m_minus)
        self.lambda_ = float(lambda_)

    def call(self, y_true, y_pred):
        return margin_loss(
            y_true, y_pred, m_plus=self.m_plus, m_minus=self.m_minus, lambda_=self.lambda_
        )

    def get_config(self):
        config = super().get_config()
        config.update({"m_plus": self.m_plus, "m_minus": self.m_minus, "lambda_": self.lambda_})
        return config


@keras.saving.register_keras_serializable(package="ferzoo")
class SmoothedLoss(keras.losses.Loss):
    """A loss on label-smoothed one-hot targets from integer class ids.

    The targets are `(1 - eps) * one_hot + eps / num_classes`, then `loss` (cross-entropy on
    probabilities, or the margin loss, which takes soft targets too) is applied.

    Args:
        label_smoothing: `eps` in [0, 1).
        kind: `"crossentropy"` (softmax probabilities) or `"margin"` (capsule lengths).
    """

    def __init__(self, label_smoothing: float = 0.1, kind: str = "crossentropy", **kwargs):
        kwargs.setdefault("name", f"smoothed_{kind}")
        super().__init__(**kwargs)
        _check_number("label_smoothing", label_smoothing, 0.0, 1.0)
        if kind not in ("crossentropy", "margin"):
            raise ValueError(f"kind must be 'crossentropy' or 'margin'. Received: kind={kind!r}")
        self.label_smoothing = float(label_smoothing)
        self.kind = kind

    def call(self, y_true, y_pred):
        y_pred = ops.cast(ops.convert_to_tensor(y_pred), "float32")
        targets = _to_one_hot(ops.convert_to_tensor(y_true), y_pred)
        n = y_pred.shape[-1]
        targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / n
        if self.kind == "margin":
            return margin_loss(targets, y_pred)
        return keras.losses.categorical_crossentropy(targets, y_pred)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "kind": self.kind}


def loss_for(model: keras.Model, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """The loss to train `model` with (see docs/design.md).

    Args:
        model: a built Keras model.
        label_smoothing: smooth the one-hot targets by this much (0: none).

    Returns:
        `MarginLoss()` when the model's last layer is a `CapsuleLength` (a capsule head, which
        outputs capsule lengths), `keras.losses.SparseCategoricalCrossentropy()` otherwise (a dense
        head, which outputs softmax probabilities); a `SmoothedLoss` of the same kind with
        `label_smoothing > 0`. All take integer class ids.

    Example:
    >>> loss = loss_for(ferzoo.build("resnet18"))  # doctest: +SKIP
    """
    capsule = bool(model.layers) and isinstance(model.layers[-1], CapsuleLength)
    if label_smoothing:
        return SmoothedLoss(label_smoothing, "margin" if capsule else "crossentropy")
    if capsule:
        return MarginLoss()
    return keras.losses.SparseCategoricalCrossentropy()
