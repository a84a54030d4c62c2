"""ferzoo's Keras objects (layers, losses, metrics) registered the moment Keras is imported.

Every public layer, loss and metric is `@keras.saving.register_keras_serializable(package=
"ferzoo")`, which takes effect when its module is imported. Keras imports no module of another
package while loading a `.keras` file, so `import ferzoo` arranges the import: at once when
Keras is already loaded, otherwise right after Keras' own import finishes (a one-shot import
hook). `import ferzoo` itself loads neither Keras nor a backend, so serving an `.onnx` file stays
free of both, and this works:

    import ferzoo, keras
    model = keras.saving.load_model("wamf_resnet18.keras")   # no custom_objects
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MODULES = ("ferzoo.layers", "ferzoo.evaluation.losses", "ferzoo.evaluation.metrics")


def register() -> None:
    """Import the modules that register ferzoo's serializable objects with Keras."""
    for name in MODULES:
        importlib.import_module(name)


def _register_quietly() -> None:
    try:
        register()
    except Exception as err:  # noqa: BLE001  (`import keras` must not fail because of ferzoo)
        warnings.warn(f"ferzoo could not register its Keras objects: {err}", stacklevel=2)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader of `keras` so that `register` runs after it."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "keras":
            return None
        uninstall()
        spec = importlib.util.find_spec("keras")  # the real one, from the finders after us
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_keras = spec.loader.exec_module

        def exec_module(module):
            exec_keras(module)
            _register_quietly()

        spec.loader.exec_module = exec_module  # this spec's own loader instance only
        return spec


def uninstall() -> None:
    """Remove the hook (it is one-shot; `install` adds it again)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterKerasImport)]


def install() -> None:
    """Register now if Keras is loaded, else once it is (called by `import ferzoo`)."""
    if "keras" in sys.modules:
        _register_quietly()
    elif not any(isinstance(f, _AfterKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())


__all__ = ["MODULES", "install", "register", "uninstall"]
