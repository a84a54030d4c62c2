"""Which Keras backend ferzoo runs on when KERAS_BACKEND does not say.

Keras itself falls back to TensorFlow, which fails where only JAX or PyTorch is installed
(`pip install "ferzoo[torch]"`). `import ferzoo` therefore calls `configure()`, which, when
KERAS_BACKEND is unset and Keras is not imported yet, sets it to the first installed of
TensorFlow, JAX and PyTorch. `announce()` is the one line the `ferzoo` command and
`sweeps/run.py` print on stderr when they start:

    ferzoo: backend torch (KERAS_BACKEND unset; tensorflow and jax not installed)

Example:

    from ferzoo.runtime import backend
    backend.choose({"KERAS_BACKEND": "jax"}, ["tensorflow", "jax"])   # ('jax', 'KERAS_BACKEND=jax')
    backend.choose({}, ["jax", "torch"])    # ('jax', 'KERAS_BACKEND unset; tensorflow not installed')

Reference:
    Keras' own `~/.keras/keras.json` names a backend too, but Keras writes that file itself
    on its first import (as "tensorflow" unless KERAS_BACKEND said otherwise), so it does not
    tell a user's choice; ferzoo follows KERAS_BACKEND only (or `--backend`).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterable, Mapping

PREFERENCE = ("tensorflow", "jax", "torch")


def installed() -> list[str]:
    """The backends of `PREFERENCE` whose module can be imported (none is imported)."""
    return [name for name in PREFERENCE if importlib.util.find_spec(name) is not None]


def choose(environ: Mapping[str, str], available: Iterable[str]) -> tuple[str, str]:
    """The backend to use and why, from the environment and the installed backends.

    Args:
        environ: the environment (KERAS_BACKEND is read).
        available: the installed backends.

    Returns:
        `(backend, reason)`; the backend is "tensorflow" (Keras' own default) with a reason
        saying so when none is installed.
    """
    given = (environ.get("KERAS_BACKEND") or "").strip()
    if given:
        return given, f"KERAS_BACKEND={given}"
    available = list(available)
    for name in PREFERENCE:
        if name in available:
            before = PREFERENCE[: PREFERENCE.index(name)]
            if not before:
                return name, f"KERAS_BACKEND unset; {name} installed"
            return name, f"KERAS_BACKEND unset; {' and '.join(before)} not installed"
    return "tensorflow", "KERAS_BACKEND unset; none of tensorflow, jax, torch is installed"


_CHOSEN: str | None = None  # what `configure` set KERAS_BACKEND to, if it did


def configure() -> str | None:
    """Set KERAS_BACKEND to `choose`'s backend when unset and Keras is not imported yet.

    Returns:
        The backend set, or None when nothing was changed.
    """
    global _CHOSEN
    if os.environ.get("KERAS_BACKEND") or "keras" in sys.modules:
        return None
    _CHOSEN, _ = choose({}, installed())
    os.environ["KERAS_BACKEND"] = _CHOSEN
    return _CHOSEN


def describe(flag: str | None = None) -> str:
    """The backend Keras will use (or uses) and why, e.g. `torch (KERAS_BACKEND=torch)`.

    Args:
        flag: the value of a `--backend` option, when one was given.
    """
    given = os.environ.get("KERAS_BACKEND", "")
    if "keras" in sys.modules:
        import keras

        current = keras.backend.backend()
        if given and given != current:
            return f"{current} (Keras was imported before KERAS_BACKEND={given} was set)"
    if flag:
        return f"{flag} (--backend {flag})"
    environ = {} if _CHOSEN is not None and given == _CHOSEN else {"KERAS_BACKEND": given}
    name, reason = choose(environ, installed())
    return f"{name} ({reason})"


def announce(flag: str | None = None, stream=None) -> str:
    """Print `ferzoo: backend <name> (<reason>)` on stderr (or `stream`); return the line."""
    line = f"ferzoo: backend {describe(flag)}"
    print(line, file=stream or sys.stderr, flush=True)
    return line


__all__ = ["PREFERENCE", "announce", "choose", "configure", "describe", "installed"]
