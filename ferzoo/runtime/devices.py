"""What ferzoo runs on: the installed backends, the devices each one sees, GPU hints.

`ferzoo env` prints this. Each backend is imported only when asked about.

Example:

    from ferzoo.runtime import devices
    devices.installed_backends()   # {"tensorflow": "2.21.0", "jax": "0.10.2", "torch": "2.13.0"}
    devices.backend_devices("torch")   # [{"kind": "cpu", "name": "cpu"}] on a CPU machine
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")
# The distributions that provide each backend's module (TensorFlow's CPU wheel included).
_DISTRIBUTIONS = {
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly"),
    "jax": ("jax",),
    "torch": ("torch",),
}


def distribution_of(backend: str) -> tuple[str, str] | None:
    """`(distribution, version)` providing a backend's module, or None when not installed."""
    if importlib.util.find_spec(backend) is None:
        return None
    for dist in _DISTRIBUTIONS[backend]:
        try:
            return dist, importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return backend, "?"


def installed_backends() -> dict[str, str | None]:
    """`{backend: version or None}` for TensorFlow, JAX and PyTorch."""
    return {b: (found[1] if (found := distribution_of(b)) else None) for b in BACKENDS}


def nvidia_gpus() -> list[dict[str, Any]]:
    """The NVIDIA GPUs `nvidia-smi` lists (no backend needed); empty without a driver."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=20, check=True,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        index, name, memory = (part.strip() for part in line.split(",")[:3])
        gpus.append({"index": int(index), "model": name, "memory_bytes": int(memory) << 20})
    return gpus


def _torch_devices() -> list[dict[str, Any]]:
    import torch

    found = [{"kind": "cpu", "name": "cpu"}]
    for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0):
        props = torch.cuda.get_device_properties(i)
        found.append({
            "kind": "gpu", "name": f"cuda:{i}", "model": props.name,
            "memory_bytes": int(props.total_memory),
            "compute_capability": f"{props.major}.{props.minor}",
            "bfloat16": props.major >= 8,
        })  # fmt: skip
    return found


def _jax_devices() -> list[dict[str, Any]]:
    import jax

    found = []
    for d in jax.devices():
        entry = {"kind": "gpu" if d.platform in ("gpu", "cuda", "rocm") else d.platform,
                 "name": f"{d.platform}:{d.id}", "model": getattr(d, "device_kind", "?")}  # fmt: skip
        stats = d.memory_stats() if hasattr(d, "memory_stats") else None
        if stats and "bytes_limit" in stats:
            entry["memory_bytes"] = int(stats["bytes_limit"])
        capability = getattr(d, "compute_capability", None)
        if capability:
            entry["compute_capability"] = str(capability)
            entry["bfloat16"] = float(capability) >= 8.0
        found.append(entry)
    return found


def _tensorflow_devices() -> list[dict[str, Any]]:
    import tensorflow as tf

    found = []
    for d in tf.config.list_physical_devices():
        entry = {"kind": d.device_type.lower(), "name": d.name.replace("/physical_device:", "")}
        if d.device_type == "GPU":
            details = tf.config.experimental.get_device_details(d)
            entry["kind"] = "gpu"
            entry["model"] = details.get("device_name", "?")
            capability = details.get("compute_capability")
            if capability:
                entry["compute_capability"] = f"{capability[0]}.{capability[1]}"
                entry["bfloat16"] = capability[0] >= 8
        found.append(entry)
    return found


def backend_devices(backend: str | None = None) -> list[dict[str, Any]]:
    """The devices a backend sees (imports it): dicts with `kind` ("cpu"/"gpu"), `name`, and
    for GPUs `model`, `memory_bytes`, `compute_capability` and `bfloat16` where known."""
    if backend is None:
        import keras

        backend = keras.backend.backend()
    readers = {"torch": _torch_devices, "jax": _jax_devices, "tensorflow": _tensorflow_devices}
    if backend not in readers:
        raise ValueError(f"backend must be one of {BACKENDS}. Received: backend={backend!r}")
    return readers[backend]()


def gpu_warning(backend: str, seen: list[dict[str, Any]], gpus: list[dict[str, Any]]) -> str | None:
    """A warning when the machine has a GPU that `backend` does not use, with the fix."""
    if not gpus or any(d["kind"] == "gpu" for d in seen):
        return None
    fix = {
        "tensorflow": "tensorflow-cpu is installed; TensorFlow on GPUs needs `pip install "
        "tensorflow[and-cuda]`, or train with JAX or PyTorch (README, On a GPU)",
        "jax": "install JAX with CUDA: `pip install -e '.[jax-cuda]'` (README, On a GPU)",
        "torch": "this torch has no CUDA: install a CUDA build of torch (README, On a GPU)",
    }[backend]
    model = gpus[0]["model"]
    return f"this machine has {len(gpus)} GPU(s) ({model}) but {backend} sees none: {fix}"


__all__ = ["BACKENDS", "backend_devices", "distribution_of", "gpu_warning", "installed_backends",
           "nvidia_gpus"]  # fmt: skip
