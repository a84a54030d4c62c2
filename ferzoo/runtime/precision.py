"""Mixed precision: the `--precision` choices, what `auto` means here, and how a run applies them.

A run picks one of `CHOICES`; `resolve` turns `"auto"` into a policy for the machine, `apply`
sets it as Keras' global dtype policy, and `optimizer_for` adds loss scaling where it is needed:

```python
import keras
from ferzoo.runtime import precision

policy = precision.apply("auto")          # before building the model; returns e.g. "float32"
model = ferzoo.build("resnet18", input_shape=(112, 112, 3))
model.compile(optimizer=precision.optimizer_for(keras.optimizers.Adam(1e-3), policy), ...)
config["precision"] = policy              # a plain str: JSON as it is
```

Under a mixed policy the layers compute in float16 or bfloat16 and keep float32 variables
(Keras' `DTypePolicy`); every ferzoo model outputs float32 (its last layer has
`dtype="float32"`), and the layers whose arithmetic can overflow in float16 (the Morlet
activation, `squash`, the routing, `CapsuleLength`, the margin loss) compute those parts in
float32 inside (see each layer).

Two Keras facts the callers rely on (Keras 3.15, checked by tests/test_precision.py):
- `keras.backend.clear_session()` resets the global policy to float32, so call `apply` (or
  enter `scope`) after it, right before building each model.
- `model.compile` wraps the optimizer in `keras.optimizers.LossScaleOptimizer` when the model's
  policy is `mixed_float16`, on every backend (`Trainer.compile(auto_scale_loss=True)`).
  `optimizer_for` does the same wrapping itself, so a model whose own policy differs from the
  run's (one loaded from a file), or a custom training loop, gets it too; compile never wraps
  twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: The Keras dtype policies a run can use.
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
#: What `--precision` accepts: a policy, or `"auto"` (see `resolve`).
CHOICES = (*POLICIES, "auto")
#: NVIDIA GPUs from Ampere (compute capability 8.0) on compute in bfloat16 at full speed.
BFLOAT16_MIN_CAPABILITY = (8, 0)
BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class Gpu:
    """One GPU that a backend sees.

    Attributes:
        name: the device name the backend reports (e.g. `"NVIDIA H100 80GB HBM3"`).
        compute_capability: NVIDIA's `(major, minor)`, or None where the backend gives none.
        memory_bytes: total memory where the backend reports it (PyTorch, JAX), else None.
    """

    name: str
    compute_capability: tuple[int, int] | None = None
    memory_bytes: int | None = None

    @property
    def supports_bfloat16(self) -> bool:
        """Whether the GPU computes in bfloat16 natively (compute capability >= 8.0)."""
        return (
            self.compute_capability is not None
            and tuple(self.compute_capability) >= BFLOAT16_MIN_CAPABILITY
        )


def _capability(text: Any) -> tuple[int, int] | None:
    """`"8.6"`, `(8, 6)` or `None` -> `(8, 6)` or None."""
    if text is None:
        return None
    if isinstance(text, tuple | list):
        return int(text[0]), int(text[1])
    major, _, minor = str(text).partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        return None


def _backend(backend: str | None) -> str:
    if backend is None:
        import keras  # noqa: PLC0415

        backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}")
    return backend


def gpus(backend: str | None = None) -> list[Gpu]:
    """The GPUs that `backend` can compute on, in its device order; `[]` on a CPU-only machine.

    Only that backend's framework is imported (`torch.cuda`, `jax.devices`, `tf.config`). A
    framework built without GPU support (tensorflow-cpu, jax[cpu], torch+cpu) sees none, even
    on a machine with a GPU.

    Args:
        backend: `"tensorflow"`, `"jax"` or `"torch"`; defaults to Keras' current backend.

    Returns:
        A list of `Gpu`.

    Example:
    >>> gpus("torch")  # on a CPU machine  # doctest: +SKIP
    []
    """
    from ferzoo.runtime import devices  # noqa: PLC0415  (what `ferzoo env` lists, per backend)

    return [
        Gpu(d.get("model", d["name"]), _capability(d.get("compute_capability")),
            d.get("memory_bytes"))
        for d in devices.backend_devices(_backend(backend))
        if d["kind"] == "gpu"
    ]  # fmt: skip


def check(precision: Any, argument: str = "precision") -> str:
    """Return `precision` if it is one of `CHOICES`, else raise a ValueError naming `argument`."""
    if not isinstance(precision, str) or precision not in CHOICES:
        raise ValueError(
            f"{argument} must be one of {', '.join(CHOICES)}. Received: {argument}={precision!r}"
        )
    return precision


def resolve(precision: str, backend: str | None = None) -> str:
    """The dtype policy a run uses: `precision` itself, or what `"auto"` means on this machine.

    `"auto"` is `"float32"` when `backend` sees no GPU (mixed precision on a CPU is slower:
    CPUs emulate most float16 arithmetic), `"mixed_bfloat16"` when its first GPU (the one Keras
    computes on) supports bfloat16 (NVIDIA compute capability >= 8.0: A100, H100, L4, RTX 30xx
    and later), and `"mixed_float16"` on older GPUs or where the capability is unknown (float16
    runs on every GPU these frameworks support; loss scaling keeps its gradients in range).

    Args:
        precision: one of `CHOICES`.
        backend: the backend whose devices count; defaults to Keras' current backend.

    Returns:
        One of `POLICIES`, a plain `str` (record it in a run's config.json as it is).

    Example:
    >>> resolve("mixed_float16")
    'mixed_float16'
    >>> resolve("auto", "torch")  # on a CPU machine  # doctest: +SKIP
    'float32'
    """
    if check(precision) != "auto":
        return precision
    found = gpus(backend)
    if not found:
        return "float32"
    return "mixed_bfloat16" if found[0].supports_bfloat16 else "mixed_float16"


def apply(precision: str, backend: str | None = None) -> str:
    """Resolve `precision` and set it as Keras' global dtype policy; return the policy name.

    Layers built afterwards follow the policy; layers that exist keep theirs. Call it after any
    `keras.backend.clear_session()` (which resets the policy to float32), right before building
    the model.

    Args:
        precision: one of `CHOICES`.
        backend: for `"auto"`, the backend whose devices count; defaults to Keras' current one.

    Returns:
        The policy set, one of `POLICIES`.

    Example:
    >>> apply("mixed_bfloat16")  # doctest: +SKIP
    'mixed_bfloat16'
    """
    import keras  # noqa: PLC0415

    name = resolve(precision, backend)
    keras.config.set_dtype_policy(name)
    return name


def current() -> str:
    """The name of Keras' global dtype policy now (e.g. `"float32"`)."""
    import keras  # noqa: PLC0415

    return keras.config.dtype_policy().name


@contextlib.contextmanager
def scope(precision: str, backend: str | None = None) -> Iterator[str]:
    """`apply(precision)` for the `with` block, then restore the policy that was set before.

    Example:
    ```python
    with precision.scope("mixed_float16") as policy:
        model = ferzoo.build("resnet18")        # computes in float16, outputs float32
    ```
    """
    import keras  # noqa: PLC0415

    previous = keras.config.dtype_policy()
    try:
        yield apply(precision, backend)
    finally:
        keras.config.set_dtype_policy(previous)


def optimizer_for(optimizer, policy: str):
    """`optimizer`, wrapped in `keras.optimizers.LossScaleOptimizer` when `policy` needs it.

    Only `"mixed_float16"` does: float16 gradients underflow without loss scaling, while
    bfloat16 has float32's exponent range. An optimizer already wrapped is returned as it is,
    and `model.compile` does not wrap it again.

    Args:
        optimizer: a `keras.optimizers.Optimizer`.
        policy: one of `POLICIES` (resolve `"auto"` first).

    Returns:
        The optimizer to pass to `model.compile`.

    Example:
    >>> opt = optimizer_for(keras.optimizers.Adam(1e-3), "mixed_float16")  # doctest: +SKIP
    >>> type(opt).__name__  # doctest: +SKIP
    'LossScaleOptimizer'
    """
    import keras  # noqa: PLC0415

    if check(policy, "policy") == "auto":
        raise ValueError(
            f"policy must be a resolved policy ({', '.join(POLICIES)}); call resolve() first. "
            f"Received: policy={policy!r}"
        )
    if policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


__all__ = [
    "BFLOAT16_MIN_CAPABILITY",
    "CHOICES",
    "POLICIES",
    "Gpu",
    "apply",
    "check",
    "current",
    "gpus",
    "optimizer_for",
    "resolve",
    "scope",
]
