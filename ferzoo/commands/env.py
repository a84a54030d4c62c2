"""`ferzoo env`: what ferzoo runs on.

    ferzoo env                 # versions, backend in use, processor, devices of each backend
    ferzoo env --json          # the same as JSON
    ferzoo env --speed         # and how fast each installed backend trains resnet18 here
    ferzoo env --speed --max-isa avx2   # the same with the backends capped to AVX2

Prints ferzoo's, Keras' and each backend's version, the backend in use (KERAS_BACKEND, or the
first installed of TensorFlow, JAX, PyTorch), the processor (model, cores, vector extensions,
their level, a cap in force: `ferzoo.runtime.cpu`), the devices each installed backend sees
(GPU names and memory), the precision policy `auto` resolves to, and a warning when the
machine has a GPU that the backend in use cannot use (for example TensorFlow from
`tensorflow-cpu`). `--speed` trains resnet18 at 48 px on each installed backend, each in its
own process, as `ferzoo.train` would (`ferzoo.runtime.speed`), and says which is fastest here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    from ferzoo.runtime import speed  # the standard library only: the parser stays light

    p = subparsers.add_parser("env", help="versions, backend, devices, precision")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--speed",
        action="store_true",
        help="time resnet18's training on each installed backend (about 30 s on 2 cores)",
    )
    p.add_argument("--speed-size", type=int, default=48, help="image size for --speed (px)")
    p.add_argument(
        "--speed-seconds",
        type=float,
        default=speed.SECONDS,
        help="seconds of timed steps per backend for --speed (at least 2 steps run)",
    )
    p.add_argument(
        "--max-isa",
        default=None,
        help="with --speed: cap the backends' CPU instructions (avx2, avx512, ...; "
        "ferzoo.runtime.cpu.cap_environment)",
    )
    p.set_defaults(func=run_env)


def _devices(reported: dict[str, list] | None = None) -> dict[str, list[dict[str, Any]]]:
    """The devices of each installed backend: `reported` (by the --speed processes, which
    have the backend loaded), else looked up here (importing the backend)."""
    from ferzoo.runtime import devices

    seen = {}
    for name, version in devices.installed_backends().items():
        if version is None:
            continue
        if reported and name in reported:
            seen[name] = reported[name]
            continue
        try:
            seen[name] = devices.backend_devices(name)
        except Exception as err:  # noqa: BLE001  (a broken install is reported, not fatal)
            seen[name] = [{"kind": "error", "name": f"{type(err).__name__}: {err}"}]
    return seen


def collect(seen: dict[str, list] | None = None) -> dict[str, Any]:
    """Everything `ferzoo env` reports, as a dict (`seen`: the devices, when known already)."""
    import keras

    from ferzoo import __version__
    from ferzoo.runtime import cpu, devices, precision

    backend = keras.backend.backend()
    seen = _devices() if seen is None else seen
    gpus = devices.nvidia_gpus()
    return {
        "ferzoo": __version__,
        "keras": keras.__version__,
        "python": sys.version.split()[0],
        "backends": devices.installed_backends(),
        "backend": backend,
        "processor": cpu.processor(),
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


def _check(args: argparse.Namespace) -> None:
    """The user's mistakes, before any work: one ValueError naming the value."""
    from ferzoo.runtime import cpu

    if args.max_isa is not None:
        if not args.speed:
            raise ValueError(
                f"--max-isa caps the --speed processes; add --speed. Received: --max-isa "
                f"{args.max_isa}"
            )
        cpu.check_isa(args.max_isa, "--max-isa")
    if not args.speed_seconds > 0:
        raise ValueError(
            f"--speed-seconds must be positive. Received: --speed-seconds {args.speed_seconds}"
        )


def _check_size(size: int) -> None:
    from ferzoo.registry import min_image_size
    from ferzoo.runtime import speed

    smallest = min_image_size(speed.MODEL)
    if size < smallest:
        raise ValueError(
            f"--speed-size must be at least {smallest} ({speed.MODEL}'s smallest input). "
            f"Received: --speed-size {size}"
        )


def _start_speed(args: argparse.Namespace):
    """The --speed processes, started (they load and compile while `collect` runs), or None."""
    from ferzoo.runtime import backend, cpu, speed

    if not args.speed:
        return None
    environ = dict(os.environ)
    if args.max_isa:
        environ.update(cpu.cap_environment(args.max_isa))
    return speed.Comparison(
        backend.installed(), size=args.speed_size, seconds=args.speed_seconds, environ=environ
    ).start()


def _speed_info(args: argparse.Namespace, records: list[dict]) -> dict[str, Any]:
    from ferzoo.runtime import backend, cpu, speed

    return {
        "model": speed.MODEL,
        "size": args.speed_size,
        "batch": speed.BATCH,
        "seconds": args.speed_seconds,
        "cap": cpu.describe_cap(args.max_isa) if args.max_isa else None,
        "results": records,
        "fastest": speed.fastest(records),
        "default": backend.describe(),
    }


def _settings_text(settings: dict[str, Any]) -> str:
    words = [
        str(settings.get("data_format")),
        f"jit {'on' if settings.get('jit_compile') else 'off'}",
    ]
    if settings.get("deterministic"):
        words.append("deterministic")
    if settings.get("fused_batch_norm"):
        words.append(f"fused batch norm x{settings['fused_batch_norm']}")
    if settings.get("native_conv"):
        words.append(f"native conv x{settings['native_conv']}")
    return ", ".join(words)


def print_speed(info: dict[str, Any]) -> None:
    """The --speed table: backend, img/s, compile s, settings; the fastest and the default."""
    print(
        f"speed: {info['model']} training at {info['size']} px, batch {info['batch']}, "
        f"{info['seconds']:g} s of steps per backend (loaded and compiled side by side, "
        "timed one at a time)"
    )
    if info["cap"]:
        print(f"  {info['cap']}")
    print(f"  {'backend':<11} {'img/s':>8} {'compile s':>10}  settings")
    for r in info["results"]:
        if "error" in r:
            print(f"  {r['backend']:<11} failed: {r['error']}")
            continue
        print(f"  {r['backend']:<11} {r['images_per_s']:>8.1f} {r['compile_s']:>10.1f}  "
              f"{_settings_text(r['settings'])}")  # fmt: skip
    if info["fastest"]:
        print(f"would pick: {info['fastest']} (fastest here); ferzoo uses {info['default']}")
    else:
        print(f"would pick: none (every backend failed); ferzoo uses {info['default']}")


def run_env(args: argparse.Namespace) -> int:
    from ferzoo.runtime import cpu, logs

    _check(args)
    comparison = _start_speed(args)
    try:
        if comparison is None:
            info = collect()
        else:
            logs.quiet_backends()  # TensorFlow's start-up notice off, once they have started
            _check_size(args.speed_size)  # needs Keras: checked while the processes start
            # The devices come from the processes, which load the backends anyway: loading
            # them here too would slow theirs.
            info = collect(seen={})
            records = comparison.finish()
            reported = {r["backend"]: r["devices"] for r in records if "devices" in r}
            info = collect(seen=_devices(reported))
            info["speed"] = _speed_info(args, records)
    finally:
        if comparison is not None:
            comparison.stop()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"ferzoo {info['ferzoo']}, keras {info['keras']}, python {info['python']}")
    versions = ", ".join(f"{b} {v or 'not installed'}" for b, v in info["backends"].items())
    print(f"backends: {versions}")
    print(f"backend in use: {info['backend']}")
    print(f"processor: {cpu.summary(info['processor'])}")
    for name, found in info["devices"].items():
        print(f"  {name}: " + "; ".join(_device_line(d) for d in found))
    if info["nvidia_gpus"]:
        print(
            "nvidia-smi: " + "; ".join(f"{g['index']}: {g['model']}" for g in info["nvidia_gpus"])
        )
    print(
        f"precision: {info['precision']['policy']} (auto resolves to {info['precision']['auto']})"
    )
    if "speed" in info:
        print_speed(info["speed"])
    if info["warning"]:
        print(f"warning: {info['warning']}", file=sys.stderr)
    return 0
