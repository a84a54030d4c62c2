"""Quiet logs: ferzoo's messages, Keras' progress bars, not the backends' start-up noise.

`quiet_backends()` is called by ferzoo's entry points (the `ferzoo` command, `sweeps/run.py`)
before any backend loads. It silences what TensorFlow, TFDS and absl print on every run and
that reads like errors without being ones: TensorFlow's C++ log below FATAL (oneDNN notices,
the `E0000 ... NodeDef mentions attribute use_unbounded_threadpool` lines, CPU feature
notices), its Python deprecation warnings, and TFDS's absl warnings. Python exceptions, Keras'
progress bars and ferzoo's own output are untouched. `FERZOO_DEBUG=1` leaves everything on.
"""

from __future__ import annotations

import logging
import os
import warnings


def debug_enabled() -> bool:
    """Whether FERZOO_DEBUG asks for full logs and tracebacks."""
    return os.environ.get("FERZOO_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def quiet_backends() -> None:
    """Silence the backends' noise (call before TensorFlow or JAX is imported)."""
    if debug_enabled():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1"))
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl", "jax._src.xla_bridge", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="tensorflow_datasets")
    warnings.filterwarnings("ignore", message=".*is deprecated.*", category=UserWarning)
    try:
        from absl import logging as absl_logging
    except ImportError:
        return
    absl_logging.set_verbosity(absl_logging.ERROR)


__all__ = ["debug_enabled", "quiet_backends"]
