"""float32 arithmetic inside a layer that runs under a mixed-precision policy.

Keras' mixed policies compute in float16 or bfloat16. float16 overflows above 65504 and flushes
values below about 6e-8 to zero, so a sum of squares of a few values near 100, or
`exp(-t^2 / 2)` and its gradient for moderate `t`, are lost; the layers that compute such
quantities (squash, capsule lengths, the routing, the Morlet activation) cast their inputs up
with `at_least_float32`, compute, and cast the result back to their compute dtype.
"""

from __future__ import annotations

import keras
from keras import ops

HALF_FLOATS = ("float16", "bfloat16")


def at_least_float32(x):
    """`x` cast to float32 if it is a 16-bit float, else `x` as it is (float32, float64)."""
    x = ops.convert_to_tensor(x)
    if keras.backend.standardize_dtype(x.dtype) in HALF_FLOATS:
        return ops.cast(x, "float32")
    return x
