"""`ferzoo env`: what ferzoo runs on.

    ferzoo env                 # versions, backend in use, devices of each installed backend
    ferzoo env --json          # the same as JSON

Prints ferzoo's, Keras' and each backend's version, the backend in use (KERAS_BACKEND, or the
first installed of TensorFlow, JAX, PyTorch), the devices each installed backend sees (GPU
names and memory), the precision policy `auto` resolves to, and a warning when the machine has
a GPU that the backend in use cannot use (for example TensorFlow from `tensorflow-cpu`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("env", help="versions, backend, devices, precision")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run_env)


def collect() -> dict[str, Any]:
    """Everything `ferzoo env` reports, as a dict."""
    import keras

    from ferzoo import __version__
    from ferzoo.runtime import devices, precision

    backend = keras.backend.backend()
    seen = {}
    for name, version in devices.installed_backends().items():
        if version is None:
            continue
        try:
            seen[name] = devices.backend_devices(name)
        except Exception as err:  # noqa: BLE001  (a broken install is reported, not fatal)
            seen[name] = [{"kind": "error", "name": f"{type(err).__name__}: {err}"}]
    gpus = devices.nvidia_gpus()
    return {
        "ferzoo": __version__,
        "keras": keras.__version__,
        "python": sys.version.split()[0],
        "backends": devices.installed_backends(),
        "backend": backend,
        "devices": seen,
        "nvidia_gpus": gpus,
        "precision": {
            "policy": keras.config.dtype_policy().name,
            "auto": precision.resolve("auto", backend),
        },  # fmt: skip
        "warning": devices.gpu_warning(backend, seen.get(backend, []), gpus),
    }


def _device_line(device: dict[str, Any]) -> str:
    text = f"{device['name']} ({device['kind']}"
    if device.get("model"):
        text += f", {device['model']}"
    if device.get("memory_bytes"):
        text += f", {device['memory_bytes'] / 2**30:.1f} GiB"
    return text + ")"


def run_env(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"ferzoo {info['ferzoo']}, keras {info['keras']}, python {info['python']}")
    versions = ", ".join(f"{b} {v or 'not installed'}" for b, v in info["backends"].items())
    print(f"backends: {versions}")
    print(f"backend in use: {info['backend']}")
    for name, found in info["devices"].items():
        print(f"  {name}: " + "; ".join(_device_line(d) for d in found))
    if info["nvidia_gpus"]:
        print(
            "nvidia-smi: " + "; ".join(f"{g['index']}: {g['model']}" for g in info["nvidia_gpus"])
        )
    print(
        f"precision: {info['precision']['policy']} (auto resolves to {info['precision']['auto']})"
    )
    if info["warning"]:
        print(f"warning: {info['warning']}", file=sys.stderr)
    return 0
