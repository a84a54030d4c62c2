"""Quiet logs: ferzoo's messages, Keras' progress bars, not the backends' start-up noise.

`quiet_backends()` is called by ferzoo's entry points (the `ferzoo` command, `sweeps/run.py`)
before any backend loads. It silences what TensorFlow, TFDS and absl print on every run and
that reads like errors without being ones: TensorFlow's C++ log below FATAL (oneDNN notices,
the `E0000 ... NodeDef mentions attribute use_unbounded_threadpool` lines, CPU feature
notices), its Python deprecation warnings, and TFDS's absl warnings. Python exceptions, Keras'
progress bars and ferzoo's own output are untouched. `FERZOO_DEBUG=1` leaves everything on.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
import sys
import warnings


def debug_enabled() -> bool:
    """Whether FERZOO_DEBUG asks for full logs and tracebacks."""
    return os.environ.get("FERZOO_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


@contextlib.contextmanager
def silenced_stderr():
    """Point file descriptor 2 at /dev/null for a block (C++ libraries write there directly)."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _import_tensorflow_quietly() -> None:
    """TensorFlow 2.21 logs its oneDNN notice (twice) before absl reads any setting, straight to
    the stderr descriptor: import it with that descriptor silenced. An import error still
    raises (with its message) when the code that needs TensorFlow imports it again."""
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    with silenced_stderr():
        try:
            importlib.import_module("tensorflow")
        except Exception:  # noqa: BLE001  (reported, unsilenced, by the next import)
            return


def quiet_backends(load_tensorflow: bool = True) -> None:
    """Silence the backends' noise (call before TensorFlow or JAX is imported).

    Args:
        load_tensorflow: import TensorFlow now (when it is installed) with its start-up notice
            silenced; False for work that loads no backend (serving an `.onnx` file).
    """
    if debug_enabled():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl", "jax._src.xla_bridge", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="tensorflow_datasets")
    warnings.filterwarnings("ignore", message=".*is deprecated.*", category=UserWarning)
    if load_tensorflow:
        _import_tensorflow_quietly()
    try:
        from absl import logging as absl_logging
    except ImportError:
        return
    absl_logging.set_verbosity(absl_logging.ERROR)


class _AfterInterrupt(logging.Filter):
    """Drops a library's log records from the first one that carries a KeyboardInterrupt on:
    the process is stopping, and its own one line says so."""

    def __init__(self):
        super().__init__()
        self.interrupted = False

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            self.interrupted = True
        return not self.interrupted


def quiet_interrupts(logger_name: str = "optuna") -> None:
    """No traceback from `logger_name`'s handlers on Ctrl-C (Optuna logs the interrupted trial's
    traceback and "failed with value None" before re-raising the KeyboardInterrupt)."""
    if debug_enabled():
        return
    for handler in logging.getLogger(logger_name).handlers:
        if not any(isinstance(f, _AfterInterrupt) for f in handler.filters):
            handler.addFilter(_AfterInterrupt())


__all__ = ["debug_enabled", "quiet_backends", "quiet_interrupts"]
