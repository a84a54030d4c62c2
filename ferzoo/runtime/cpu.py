"""The processor ferzoo runs on, and a cap on the vector instructions the backends may use.

`processor()` says what the CPU is and which of its vector extensions matter to the backends'
kernels (oneDNN in TensorFlow and PyTorch, PyTorch's own ATen kernels, XLA in JAX):

    >>> from ferzoo.runtime import cpu
    >>> cpu.processor()  # doctest: +SKIP
    {'model': 'AMD EPYC 9R14', 'cores': 2, 'extensions': ['sse4_2', 'avx', 'avx2', 'fma',
     'avx512f', ...], 'isa': 'avx512_bf16', 'cap': None, 'effective_isa': 'avx512_bf16'}

`cap_environment("avx2")` gives the environment variables that make every backend behave as on
an AVX2 machine, so that an AVX-512 machine can measure what an AVX2 one would do:

    >>> cpu.cap_environment("avx2", environ={})  # doctest: +SKIP
    {'FERZOO_MAX_CPU_ISA': 'avx2', 'ONEDNN_MAX_CPU_ISA': 'AVX2', 'ATEN_CPU_CAPABILITY': 'avx2',
     'MKL_ENABLE_INSTRUCTIONS': 'AVX2', 'NPY_DISABLE_CPU_FEATURES': 'X86_V4 AVX512_ICL AVX512_SPR',
     'XLA_FLAGS': '--xla_cpu_max_isa=AVX2'}

The backends read these once, when they load: pass them to a new process (the benchmark runner's
`--max-isa`, `ferzoo env --speed --max-isa`), or call `apply_cap` before any backend is imported.
Importing this module reads nothing and sets nothing.

Reference:
    oneDNN's CPU dispatcher control (`ONEDNN_MAX_CPU_ISA`: SSE41, AVX, AVX2, AVX512_CORE,
    AVX512_CORE_VNNI, AVX512_CORE_BF16, AVX512_CORE_AMX; an unknown value is ignored without a
    word, hence the check here), PyTorch's `ATEN_CPU_CAPABILITY` (default, avx2, avx512),
    oneMKL's `MKL_ENABLE_INSTRUCTIONS` (honoured on Intel processors only), NumPy's
    `NPY_DISABLE_CPU_FEATURES` and XLA's `--xla_cpu_max_isa` (SSE4_2, AVX, AVX2, AVX512,
    AVX512_VNNI, AVX512_BF16, AMX). What each cap really changes on an AVX-512 machine, and
    what it does not (XLA's flag limits the code XLA generates, not the YNNPACK kernels it
    calls for dots and reductions), is in results/cpu_isa.md (`benchmarks/isa_check.py`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Mapping

#: The vector extensions reported, in this order: those the backends' kernels dispatch on.
EXTENSIONS = (
    "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl",
    "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8",
    "neon", "asimddp", "sve", "sve2", "bf16", "i8mm",
)  # fmt: skip
#: The x86 levels, lowest first: what `isa` names and what a cap may be.
LEVELS = ("sse4_2", "avx", "avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx")
#: Every value of `processor()["isa"]`.
ISAS = (*LEVELS, "neon", "unknown")
BACKEND_MODULES = ("tensorflow", "jax", "torch")

_AVX512 = {"avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl"}
# The extensions each level needs (oneDNN's AVX512_CORE is F + DQ + BW + VL).
_NEEDS = {
    "sse4_2": {"sse4_2"},
    "avx": {"avx"},
    "avx2": {"avx", "avx2", "fma"},
    "avx512": _AVX512,
    "avx512_vnni": _AVX512 | {"avx512_vnni"},
    "avx512_bf16": _AVX512 | {"avx512_bf16"},
    "amx": _AVX512 | {"amx_tile", "amx_bf16"},
}
# level -> (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS, --xla_cpu_max_isa)
_CAP_VALUES = {
    "sse4_2": ("SSE41", "default", "SSE4_2", "SSE4_2"),
    "avx": ("AVX", "default", "AVX", "AVX"),
    "avx2": ("AVX2", "avx2", "AVX2", "AVX2"),
    "avx512": ("AVX512_CORE", "avx512", "AVX512", "AVX512"),
    "avx512_vnni": ("AVX512_CORE_VNNI", "avx512", "AVX512_E1", "AVX512_VNNI"),
    "avx512_bf16": ("AVX512_CORE_BF16", "avx512", "AVX512_E3", "AVX512_BF16"),
    "amx": ("AVX512_CORE_AMX", "avx512", "AVX512_E4", "AMX"),
}
# NumPy's dispatched groups above each level (NPY_DISABLE_CPU_FEATURES; Keras calls NumPy on
# the host every step). NumPy 2.4 grouped its x86 targets; earlier versions name features.
_NUMPY_OFF = {
    "sse4_2": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "avx": "X86_V3 X86_V4 AVX512_ICL AVX512_SPR",
    "avx2": "X86_V4 AVX512_ICL AVX512_SPR",
    "avx512": "AVX512_ICL AVX512_SPR",
    "avx512_vnni": "AVX512_SPR",
    "avx512_bf16": "AVX512_SPR",
    "amx": "",
}
_AVX512_BEFORE_2_4 = "AVX512F AVX512CD AVX512_KNL AVX512_KNM AVX512_SKX"
_NUMPY_OFF_BEFORE_2_4 = {
    "sse4_2": f"AVX F16C FMA3 AVX2 {_AVX512_BEFORE_2_4} AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
    "avx": f"FMA3 AVX2 {_AVX512_BEFORE_2_4} AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
    "avx2": f"{_AVX512_BEFORE_2_4} AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
    "avx512": "AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR",
    "avx512_vnni": "AVX512_SPR",
    "avx512_bf16": "AVX512_SPR",
    "amx": "",
}
# oneDNN's own names (and their aliases) for the levels, to read a cap set by hand.
_ONEDNN_LEVEL = {values[0]: level for level, values in _CAP_VALUES.items()} | {
    "AVX2_VNNI": "avx2",
    "AVX2_VNNI_2": "avx2",
    "AVX512_CORE_FP16": "avx512_bf16",
    "AVX10_1_512": "avx512_bf16",
    "AVX10_1_512_AMX": "amx",
    "AVX10_1_512_AMX_FP16": "amx",
    "AVX512_CORE_AMX_FP16": "amx",
}
# macOS (Intel) sysctl spellings that differ from Linux's.
_MACOS_NAMES = {"sse4.2": "sse4_2", "avx1.0": "avx", "avx512vnni": "avx512_vnni"}
_XLA_FLAG = "--xla_cpu_max_isa"


def _cpuinfo_text() -> str:
    """/proc/cpuinfo, or "" where there is none (tests replace this reader)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _sysctl(*names: str) -> str:
    """`sysctl -n names...` (macOS), or "" where it fails (tests replace this reader)."""
    try:
        done = subprocess.run(
            ["sysctl", "-n", *names], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _system() -> tuple[str, str]:
    """(sys.platform, machine), e.g. ("linux", "x86_64") or ("darwin", "arm64")."""
    return sys.platform, platform.machine().lower()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _first_block(text: str) -> dict[str, str]:
    """The first processor's `key: value` lines of /proc/cpuinfo (all processors match)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if not sep:
            if fields and not line.strip():
                break  # the blank line that ends the first processor
            continue
        fields.setdefault(key, value.strip())
    return fields


def _linux(text: str) -> tuple[str | None, set[str]]:
    fields = _first_block(text)
    model = fields.get("model name") or fields.get("Model") or fields.get("Hardware")
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    if "asimd" in flags:
        flags.add("neon")  # AArch64's name for Advanced SIMD
    return model, flags


def _macos(machine: str) -> tuple[str | None, set[str]]:
    model = _sysctl("machdep.cpu.brand_string").strip() or None
    if machine == "arm64":
        return model, {"neon"}  # every Apple silicon core has it; sysctl lists no x86 flags
    words = _sysctl("machdep.cpu.features", "machdep.cpu.leaf7_features").lower().split()
    return model, {_MACOS_NAMES.get(w, w) for w in words}


def isa_of(extensions) -> str:
    """The highest level of `ISAS` that `extensions` (names as in `EXTENSIONS`) make up.

    Example:
    >>> isa_of(["sse4_2", "avx", "avx2", "fma"])
    'avx2'
    """
    have = set(extensions)
    for level in reversed(LEVELS):
        if _NEEDS[level] <= have:
            return level
    return "neon" if "neon" in have else "unknown"


def check_isa(isa: str, name: str = "isa") -> str:
    """`isa` lower-cased when it is a level of `LEVELS`; else a ValueError naming it."""
    level = str(isa).strip().lower()
    if level not in LEVELS:
        raise ValueError(f"{name} must be one of {', '.join(LEVELS)}. Received: {name}={isa!r}")
    return level


def cap_in_force(environ: Mapping[str, str] | None = None) -> str | None:
    """The cap the environment sets: FERZOO_MAX_CPU_ISA, else ONEDNN_MAX_CPU_ISA read back as a
    level (a value oneDNN would ignore is no cap), else None."""
    environ = os.environ if environ is None else environ
    given = environ.get("FERZOO_MAX_CPU_ISA", "").strip()
    if given:
        return check_isa(given, "FERZOO_MAX_CPU_ISA")
    onednn = environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    return _ONEDNN_LEVEL.get(onednn)


def lower(isa: str, cap: str | None) -> str:
    """The lower of `isa` and `cap`; an isa outside the x86 levels (neon, unknown) stays."""
    if cap is None or isa not in LEVELS:
        return isa
    return min(isa, cap, key=LEVELS.index)


@functools.cache
def processor() -> dict:
    """The processor: model, cores, vector extensions, their level, and the cap in force.

    Read once per process (`processor.cache_clear()` reads again): /proc/cpuinfo's "flags" (x86)
    or "Features" (ARM) on Linux; `sysctl machdep.cpu.features machdep.cpu.leaf7_features` on
    an Intel Mac; Apple silicon has NEON. The level is decided from the extensions only.

    Returns:
        `{"model", "cores", "extensions", "isa", "cap", "effective_isa"}`: the model name ("?"
        when unknown); the cores this process may use; the extensions of `EXTENSIONS` present,
        in that order; `isa`, one of `ISAS`; `cap`, a level of `LEVELS` or None
        (`cap_in_force`); `effective_isa`, the lower of the two.

    Raises:
        ValueError: FERZOO_MAX_CPU_ISA names no level.
    """
    system, machine = _system()
    if system == "darwin":
        model, flags = _macos(machine)
    else:
        model, flags = _linux(_cpuinfo_text())
    extensions = [name for name in EXTENSIONS if name in flags]
    isa = isa_of(extensions)
    cap = cap_in_force()
    return {
        "model": model or platform.processor() or "?",
        "cores": _cores(),
        "extensions": extensions,
        "isa": isa,
        "cap": cap,
        "effective_isa": lower(isa, cap),
    }


def _numpy_off(level: str) -> str:
    """NPY_DISABLE_CPU_FEATURES for `level`, in the installed NumPy's names ("" without NumPy:
    a name NumPy does not dispatch is only warned about; a baseline one would stop it)."""
    try:
        version = importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:
        return ""
    major, minor = (int(part) for part in version.split(".")[:2])
    return (_NUMPY_OFF if (major, minor) >= (2, 4) else _NUMPY_OFF_BEFORE_2_4)[level]


def _merge_xla_flags(flags: str, value: str) -> str:
    """`flags` with `--xla_cpu_max_isa=value` in place of any earlier one."""
    kept = [f for f in flags.split() if f != _XLA_FLAG and not f.startswith(_XLA_FLAG + "=")]
    return " ".join([*kept, f"{_XLA_FLAG}={value}"])


def cap_environment(isa: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables that cap every backend's CPU kernels to `isa`.

    Args:
        isa: a level of `LEVELS` ("avx2", "avx512", ...; any case).
        environ: where XLA_FLAGS and NPY_DISABLE_CPU_FEATURES already set are read (kept, an
            earlier `--xla_cpu_max_isa` replaced); None: `os.environ`.

    Returns:
        FERZOO_MAX_CPU_ISA (the cap as `processor()` reports it), ONEDNN_MAX_CPU_ISA (oneDNN
        in TensorFlow, PyTorch and JAX's dots), ATEN_CPU_CAPABILITY (PyTorch's own kernels),
        MKL_ENABLE_INSTRUCTIONS (oneMKL, PyTorch's BLAS; Intel processors only),
        NPY_DISABLE_CPU_FEATURES (NumPy's loops above the level, added to any set already;
        absent when there are none)
        and XLA_FLAGS (the code XLA generates, JAX's and TensorFlow's; not the YNNPACK
        kernels XLA calls, see results/cpu_isa.md).

    Raises:
        ValueError: `isa` is not a level.
    """
    level = check_isa(isa)
    onednn, aten, mkl, xla = _CAP_VALUES[level]
    environ = os.environ if environ is None else environ
    settings = {
        "FERZOO_MAX_CPU_ISA": level,
        "ONEDNN_MAX_CPU_ISA": onednn,
        "ATEN_CPU_CAPABILITY": aten,
        "MKL_ENABLE_INSTRUCTIONS": mkl,
        "NPY_DISABLE_CPU_FEATURES": " ".join(
            dict.fromkeys(
                [*environ.get("NPY_DISABLE_CPU_FEATURES", "").split(), *_numpy_off(level).split()]
            )
        ),
        "XLA_FLAGS": _merge_xla_flags(environ.get("XLA_FLAGS", ""), xla),
    }
    return {name: value for name, value in settings.items() if value}


def describe_cap(isa: str) -> str:
    """How a cap is set, in one line: "capped to AVX2 with ONEDNN_MAX_CPU_ISA=AVX2, ...".

    Raises:
        ValueError: `isa` is not a level.
    """
    level = check_isa(isa)
    settings = cap_environment(level, environ={})
    del settings["FERZOO_MAX_CPU_ISA"]
    return f"capped to {level.upper()} with " + ", ".join(
        f"{name}={shlex.quote(value)}" for name, value in settings.items()
    )


def apply_cap(isa: str) -> dict[str, str]:
    """Cap this process's backends to `isa`: set `cap_environment(isa)` in `os.environ`.

    Call it before TensorFlow, JAX or PyTorch is imported: they read the variables when they
    load. `processor.cache_clear()` is called so that `processor()["cap"]` says so.

    Returns:
        The variables set.

    Raises:
        ValueError: `isa` is not a level.
        RuntimeError: a backend is imported already (too late to cap it).
    """
    settings = cap_environment(isa)
    loaded = [name for name in BACKEND_MODULES if name in sys.modules]
    if loaded:
        raise RuntimeError(
            f"cannot cap the CPU instructions to {isa!r}: already imported: "
            f"{', '.join(loaded)}; cap before importing a backend, or start a new process "
            "with cap_environment()'s variables"
        )
    os.environ.update(settings)
    processor.cache_clear()
    return settings


def summary(info: dict | None = None) -> str:
    """`processor()` in one line: model, cores, extensions, level and the cap if any."""
    info = processor() if info is None else info
    text = (
        f"{info['model']}, {info['cores']} cores, isa {info['isa']} "
        f"({' '.join(info['extensions']) or 'no vector extension found'})"
    )
    if info.get("cap"):
        text += f", capped to {info['cap']} (effective {info['effective_isa']})"
    return text


__all__ = [
    "EXTENSIONS",
    "ISAS",
    "LEVELS",
    "apply_cap",
    "cap_environment",
    "cap_in_force",
    "check_isa",
    "describe_cap",
    "isa_of",
    "processor",
    "summary",
]
