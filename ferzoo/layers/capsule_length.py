"""Capsule lengths: the class scores of a capsule head."""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers._precision import at_least_float32


@keras.saving.register_keras_serializable(package="ferzoo")
class CapsuleLength(keras.layers.Layer):
    """Euclidean length of each capsule: `(batch, N, D) -> (batch, N)`.

    The length is `sqrt(sum(v^2) + epsilon)`; the small `epsilon` keeps the gradient finite for a
    zero vector (the plain square root has an infinite derivative at 0). A capsule head ends with
    this layer, and `ferzoo.evaluation.losses.loss_for` recognises it to pick the margin loss. 16-bit inputs
    are measured in float32 (their sum of squares overflows float16 from about 256 on) and the
    lengths returned in the compute dtype; ferzoo's heads give this layer `dtype="float32"`.

    Args:
        epsilon: non-negative constant added inside the square root. Defaults to 1e-7.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape `(batch, num_capsules, capsule_dim)`.

    Returns:
        Tensor of shape `(batch, num_capsules)`.

    Example:
    >>> CapsuleLength()(keras.ops.ones((2, 7, 16))).shape
    (2, 7)

    Reference:
    - [Sabour et al., Dynamic Routing Between Capsules, NeurIPS 2017](https://arxiv.org/abs/1710.09829):
      the length of a digit capsule is the probability that its class is present.
    """

    def __init__(self, epsilon: float = 1e-7, **kwargs):
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or epsilon < 0:
            raise ValueError(f"epsilon must be a number >= 0. Received: epsilon={epsilon!r}")
        self.epsilon = float(epsilon)

    def call(self, inputs):
        x = at_least_float32(inputs)
        lengths = ops.sqrt(ops.sum(ops.square(x), axis=-1) + self.epsilon)
        return ops.cast(lengths, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self):
        config = super().get_config()
        config.update({"epsilon": self.epsilon})
        return config
