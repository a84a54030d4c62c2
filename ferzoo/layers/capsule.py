"""Capsule layer with dynamic routing by agreement, and the `squash` nonlinearity."""

from __future__ import annotations

import keras
from keras import ops

from ferzoo.layers import _checks
from ferzoo.layers._precision import at_least_float32
from ferzoo.layers._shapes import with_unit_axes

_SQUASH_EPSILON = 1e-7


def squash(vectors, axis: int = -1, epsilon: float = _SQUASH_EPSILON):
    """Squash vectors to length in [0, 1), keeping their direction (Sabour et al. 2017, eq. 1).

    `v = |s|^2 / (1 + |s|^2) * s / sqrt(|s|^2 + epsilon)`. Short vectors shrink to almost zero
    length, long ones to a length just below 1. `epsilon` keeps the gradient finite at `s = 0`.
    16-bit inputs are squashed in float32 (in float16, `|s|^2` overflows once the components
    reach about 100) and returned in their own dtype.

    Args:
        vectors: a tensor of capsule vectors.
        axis: the axis that holds each vector's components.
        epsilon: small constant inside the square root.

    Returns:
        A tensor of the same shape and direction, every vector of length strictly below 1.

    Example:
    >>> v = squash(keras.ops.ones((2, 5, 8)))
    >>> v.shape
    (2, 5, 8)

    Reference:
    - [Sabour et al., Dynamic Routing Between Capsules, NeurIPS 2017](https://arxiv.org/abs/1710.09829)
    """
    vectors = ops.convert_to_tensor(vectors)
    x = at_least_float32(vectors)
    squared_norm = ops.sum(ops.square(x), axis=axis, keepdims=True)
    scale = squared_norm / (1.0 + squared_norm) / ops.sqrt(squared_norm + epsilon)
    return ops.cast(scale * x, vectors.dtype)


@keras.saving.register_keras_serializable(package="ferzoo")
class Capsule(keras.layers.Layer):
    """A layer of capsules whose inputs are routed by agreement (Sabour et al. 2017).

    Each input capsule `u_i` (dimension D_in) makes a prediction `u_hat_j|i = W_ij u_i` for every
    output capsule `j`. Routing starts from logits `b_ij = 0`; at each iteration the coupling
    coefficients are `c_ij = softmax_j(b_ij)` (they sum to 1 over the output capsules), the output
    capsules are `v_j = squash(sum_i c_ij u_hat_j|i)`, and, except at the last iteration, the logits
    grow by the agreement `b_ij += u_hat_j|i . v_j`. With `routings=1` the coupling is uniform,
    `c_ij = 1 / num_capsules`.

    Args:
        num_capsules: number of output capsules (for a classifier head: the number of classes).
        capsule_dim: dimension of each output capsule.
        routings: number of routing iterations, at least 1. Defaults to 3 as in the paper.
        share_weights: if True, one transformation matrix per output capsule is shared by all
            input capsules (the input may then have an unknown number of capsules); if False
            (Sabour et al.), every input/output pair has its own matrix.
        kernel_initializer: initializer of the transformation matrices.
        kernel_regularizer: regularizer of the transformation matrices.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape `(batch, num_input_capsules, input_dim)`.
        return_coupling: if True, return `(outputs, coupling)`, where `coupling` has shape
            `(batch, num_input_capsules, num_capsules)` and holds the coefficients of the last
            routing iteration.

    Returns:
        Tensor of shape `(batch, num_capsules, capsule_dim)` (output capsule lengths are in [0, 1)).

    Example:
    >>> layer = Capsule(num_capsules=7, capsule_dim=16, routings=3)
    >>> layer(keras.ops.ones((2, 32, 8))).shape
    (2, 7, 16)

    Reference:
    - [Sabour et al., Dynamic Routing Between Capsules, NeurIPS 2017](https://arxiv.org/abs/1710.09829),
      procedure 1. The WAMF paper (Wang et al., "wide attention and multi-scale fusion") uses a
      Capsule Net as its classifier without giving its sizes; ferzoo follows Sabour et al. The
      gradient flows through the predictions inside the routing loop, as in the original paper.
    - Mixed precision: the predictions are computed in the compute dtype, the routing (softmax,
      weighted sums, squash, agreement) in float32, and the output is cast back.
    """

    def __init__(
        self,
        num_capsules: int,
        capsule_dim: int,
        routings: int = 3,
        share_weights: bool = False,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _checks.positive_int("num_capsules", num_capsules)
        _checks.positive_int("capsule_dim", capsule_dim)
        _checks.positive_int("routings", routings, requirement="an int >= 1")
        self.num_capsules = num_capsules
        self.capsule_dim = capsule_dim
        self.routings = routings
        self.share_weights = bool(share_weights)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "Capsule expects inputs of shape (batch, num_input_capsules, input_dim). "
                f"Received: input_shape={input_shape}"
            )
        num_inputs, input_dim = input_shape[1], input_shape[2]
        if input_dim is None:
            raise ValueError(
                f"The input capsule dimension must be known. Received: input_shape={input_shape}"
            )
        if self.share_weights:
            shape = (self.num_capsules, input_dim, self.capsule_dim)
        else:
            if num_inputs is None:
                raise ValueError(
                    "With share_weights=False the number of input capsules must be known. "
                    f"Received: input_shape={input_shape}"
                )
            shape = (num_inputs, self.num_capsules, input_dim, self.capsule_dim)
        self.kernel = self.add_weight(
            name="kernel",
            shape=shape,
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )

    def _predictions(self, inputs):
        """`u_hat[b, i, j, :] = u[b, i, :] @ W[i, j]` (or `W[j]` when shared), `(b, i, j, e)`.

        A broadcast product summed over the input dimension, and reshapes to constant shapes,
        rather than einsums: exported graphs then hold no rank-5 transpose, no Shape-driven
        reshape and no transpose of the batch axis (OpenVINO and OpenCV's DNN module reject or
        misread these); the values are the same sums.
        """
        num_inputs, input_dim = inputs.shape[1], self.kernel.shape[-2]
        j, e = self.num_capsules, self.capsule_dim
        if self.share_weights:  # (j, d, e) -> (d, j*e)
            kernel = ops.reshape(ops.transpose(self.kernel, (1, 0, 2)), (input_dim, j * e))
        else:  # (i, j, d, e) -> (i, d, j*e)
            kernel = ops.transpose(self.kernel, (0, 2, 1, 3))
            kernel = ops.reshape(kernel, (num_inputs, input_dim, j * e))
        u = with_unit_axes(ops.cast(inputs, kernel.dtype), (3,))  # (b, i, d, 1)
        u_hat = ops.sum(u * kernel, axis=2)  # (b, i, j*e)
        if num_inputs is None:
            return ops.reshape(u_hat, (ops.shape(u_hat)[0], -1, j, e))
        return ops.reshape(u_hat, (-1, num_inputs, j, e))

    def call(self, inputs, return_coupling: bool = False):
        # The routing sums over all input capsules: float32, so that float16 cannot overflow.
        u_hat = at_least_float32(self._predictions(inputs))  # (batch, num_inputs, j, e)
        logits = coupling = None
        for iteration in range(self.routings):
            if logits is None:  # softmax of zero logits: every coupling is 1 / num_capsules
                weighted = ops.sum(u_hat, axis=1) * (1.0 / self.num_capsules)
            else:
                coupling = ops.softmax(logits, axis=-1)  # (batch, num_inputs, num_capsules)
                weighted = ops.sum(with_unit_axes(coupling, (3,)) * u_hat, axis=1)
            outputs = squash(weighted)  # (batch, num_capsules, capsule_dim)
            if iteration < self.routings - 1:
                agreement = ops.sum(u_hat * with_unit_axes(outputs, (1,)), axis=-1)
                logits = agreement if logits is None else logits + agreement
        outputs = ops.cast(outputs, self.compute_dtype)
        if return_coupling:
            if coupling is None:
                coupling = ops.softmax(ops.zeros_like(u_hat[..., 0]), axis=-1)
            return outputs, ops.cast(coupling, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_capsules, self.capsule_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_capsules": self.num_capsules,
                "capsule_dim": self.capsule_dim,
                "routings": self.routings,
                "share_weights": self.share_weights,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
