"""ferzoo.runtime.cpu: the processor read from /proc/cpuinfo or sysctl, and the instruction-set cap.

The readers (`_cpuinfo_text`, `_sysctl`, `_system`) are replaced by fixed texts, so these tests
say what any machine would be read as; none imports Keras.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ferzoo.runtime import cpu

pytestmark = pytest.mark.backend_free

# Flags of an AMD Ryzen 5950X (Zen 3): AVX2 and FMA, no AVX-512.
ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD Ryzen 9 5950X 16-Core Processor
flags\t\t: fpu vme sse sse2 ssse3 fma cx16 sse4_1 sse4_2 popcnt aes xsave avx f16c avx2 bmi2

processor\t: 1
model name\t: something else
flags\t\t: fpu avx512f avx512dq avx512bw avx512vl
"""
# An AMD EPYC 9004 (Zen 4): AVX-512 with VNNI and BF16 (the project's machine).
ZEN4 = """processor\t: 0
model name\t: AMD EPYC 9R14
flags\t\t: sse4_2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni
"""
# An Intel Xeon Sapphire Rapids: AMX as well.
SPR = """model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: sse4_2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16 \
avx512_fp16 amx_bf16 amx_tile amx_int8 avx_vnni
"""
# An AWS Graviton 3 (Linux on ARM): no "model name", the features under "Features".
GRAVITON = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp sve sve2 i8mm bf16
CPU implementer\t: 0x41
"""


@pytest.fixture
def machine(monkeypatch):
    """Set what the readers return: `machine(cpuinfo, system=..., sysctl=...)`."""
    monkeypatch.delenv("FERZOO_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)

    def set_machine(cpuinfo="", system=("linux", "x86_64"), sysctl=None):
        monkeypatch.setattr(cpu, "_cpuinfo_text", lambda: cpuinfo)
        monkeypatch.setattr(cpu, "_system", lambda: system)
        monkeypatch.setattr(cpu, "_sysctl", lambda *names: (sysctl or {}).get(names, ""))
        cpu.processor.cache_clear()
        return cpu.processor()

    yield set_machine
    cpu.processor.cache_clear()


def test_zen3_is_avx2_from_the_first_processor_only(machine):
    info = machine(ZEN3)
    assert info["model"] == "AMD Ryzen 9 5950X 16-Core Processor"
    assert info["extensions"] == ["sse4_2", "avx", "avx2", "fma"]  # EXTENSIONS' order
    assert (info["isa"], info["cap"], info["effective_isa"]) == ("avx2", None, "avx2")
    assert isinstance(info["cores"], int) and info["cores"] >= 1


def test_avx512_levels_come_from_the_extensions(machine):
    assert machine(ZEN4)["isa"] == "avx512_bf16"
    spr = machine(SPR)
    assert spr["isa"] == "amx"
    assert spr["extensions"][-4:] == ["avx_vnni", "amx_tile", "amx_bf16", "amx_int8"]
    assert cpu.isa_of(["avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw"]) == "avx2"  # no VL
    assert cpu.isa_of(["sse4_2", "avx", "avx2"]) == "avx"  # AVX2 without FMA: not oneDNN's AVX2
    assert cpu.isa_of([]) == "unknown"


def test_the_level_is_never_read_from_the_model_name(machine):
    assert machine("model name\t: Intel Xeon AVX-512 AMX\nflags\t: sse4_2\n")["isa"] == "sse4_2"


def test_arm_features_are_neon(machine):
    info = machine(GRAVITON, system=("linux", "aarch64"))
    assert info["extensions"] == ["neon", "asimddp", "sve", "sve2", "bf16", "i8mm"]
    assert info["isa"] == "neon"
    assert info["model"]  # platform.processor() or "?": never empty


def test_macos_reads_sysctl(machine):
    features = {
        ("machdep.cpu.brand_string",): "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz\n",
        ("machdep.cpu.features", "machdep.cpu.leaf7_features"): (
            "FPU SSE SSE2 SSE4.1 SSE4.2 AVX1.0 FMA\nAVX2 BMI1 BMI2 ERMS\n"
        ),
    }
    intel = machine(system=("darwin", "x86_64"), sysctl=features)
    assert intel["model"] == "Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz"
    assert (intel["extensions"], intel["isa"]) == (["sse4_2", "avx", "avx2", "fma"], "avx2")
    apple = machine(system=("darwin", "arm64"), sysctl={("machdep.cpu.brand_string",): "Apple M2"})
    assert (apple["model"], apple["extensions"], apple["isa"]) == ("Apple M2", ["neon"], "neon")


def test_a_cap_in_the_environment_lowers_the_effective_level(machine, monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "avx2")  # oneDNN's name, any case
    info = machine(ZEN4)
    assert (info["isa"], info["cap"], info["effective_isa"]) == ("avx512_bf16", "avx2", "avx2")
    monkeypatch.setenv("FERZOO_MAX_CPU_ISA", "AVX512")  # ferzoo's own name wins
    assert machine(ZEN4)["cap"] == "avx512"
    # A cap above the machine's level changes nothing; one oneDNN would ignore is no cap.
    monkeypatch.setenv("FERZOO_MAX_CPU_ISA", "amx")
    assert machine(ZEN3)["effective_isa"] == "avx2"
    monkeypatch.delenv("FERZOO_MAX_CPU_ISA")
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX3")
    assert machine(ZEN4)["cap"] is None
    monkeypatch.setenv("FERZOO_MAX_CPU_ISA", "avx3")
    with pytest.raises(ValueError, match="FERZOO_MAX_CPU_ISA='avx3'"):
        machine(ZEN4)


def test_cap_environment_sets_every_backend():
    env = cpu.cap_environment("AVX2", environ={})
    assert env.pop("NPY_DISABLE_CPU_FEATURES")  # NumPy's names: checked in a process below
    assert env == {
        "FERZOO_MAX_CPU_ISA": "avx2",
        "ONEDNN_MAX_CPU_ISA": "AVX2",
        "ATEN_CPU_CAPABILITY": "avx2",
        "MKL_ENABLE_INSTRUCTIONS": "AVX2",
        "XLA_FLAGS": "--xla_cpu_max_isa=AVX2",
    }
    assert cpu.cap_environment("avx512_vnni", environ={})["ONEDNN_MAX_CPU_ISA"] == (
        "AVX512_CORE_VNNI"
    )
    assert cpu.cap_environment("sse4_2", environ={})["ATEN_CPU_CAPABILITY"] == "default"
    assert "NPY_DISABLE_CPU_FEATURES" not in cpu.cap_environment("amx", environ={})  # none above
    text = cpu.describe_cap("avx2")
    assert text.startswith("capped to AVX2 with ONEDNN_MAX_CPU_ISA=AVX2, ATEN_CPU_CAPABILITY=avx2")
    assert text.endswith(", XLA_FLAGS=--xla_cpu_max_isa=AVX2") and "\n" not in text
    # Every level maps to values that read back as that level.
    for level in cpu.LEVELS:
        env = cpu.cap_environment(level, environ={})
        assert cpu.cap_in_force({"ONEDNN_MAX_CPU_ISA": env["ONEDNN_MAX_CPU_ISA"]}) == level


def test_the_numpy_cap_turns_off_its_avx512_loops_and_keeps_avx2():
    numpy = pytest.importorskip("numpy")
    from numpy._core._multiarray_umath import __cpu_dispatch__

    code = (
        "import numpy\nfrom numpy._core._multiarray_umath import __cpu_features__ as f, "
        "__cpu_dispatch__ as d\nprint(' '.join(k for k in d if f[k]))"
    )
    env = {**os.environ, **cpu.cap_environment("avx2")}
    done = subprocess.run([sys.executable, "-W", "error::ImportWarning", "-c", code], env=env,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    enabled = set(done.stdout.split())
    assert not {g for g in enabled if "512" in g or g == "X86_V4"}, enabled
    if numpy.lib.NumpyVersion(numpy.__version__) >= "2.4.0" and "X86_V3" in __cpu_dispatch__:
        assert "X86_V3" in enabled or cpu.processor()["isa"] in ("sse4_2", "avx", "unknown")


def test_cap_keeps_other_xla_flags_and_replaces_an_earlier_cap():
    flags = "--xla_dump_to=/tmp/x --xla_cpu_max_isa=AVX512 --xla_cpu_enable_fast_math=false"
    env = cpu.cap_environment("avx", environ={"XLA_FLAGS": flags})
    assert env["XLA_FLAGS"] == (
        "--xla_dump_to=/tmp/x --xla_cpu_enable_fast_math=false --xla_cpu_max_isa=AVX"
    )


def test_unknown_level_is_one_line_naming_it():
    with pytest.raises(ValueError, match=r"^isa must be one of sse4_2, .*Received: isa='avx3'$"):
        cpu.cap_environment("avx3")
    with pytest.raises(ValueError, match="isa='neon'"):  # no cap exists on ARM
        cpu.apply_cap("neon")


def test_apply_cap_refuses_once_a_backend_is_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", sys)  # stands for an imported backend
    with pytest.raises(RuntimeError, match=r"^cannot cap .* to 'avx2': already imported: .*jax"):
        cpu.apply_cap("avx2")


def test_apply_cap_in_a_fresh_process_sets_the_environment():
    code = (
        "import os\nfrom ferzoo.runtime import cpu\n"
        "cpu.apply_cap('avx2')\n"
        "print(os.environ['ONEDNN_MAX_CPU_ISA'], cpu.processor()['cap'])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["AVX2", "avx2"]


def test_import_reads_and_sets_nothing():
    code = (
        "import os, sys, ferzoo\nbefore = dict(os.environ)\nimport ferzoo.runtime.cpu\n"
        "print(dict(os.environ) == before, 'keras' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["True", "False"]


def test_summary_is_one_line(machine, monkeypatch):
    monkeypatch.setenv("FERZOO_MAX_CPU_ISA", "avx2")
    text = cpu.summary(machine(ZEN4))
    assert "\n" not in text
    assert text.startswith("AMD EPYC 9R14, ") and "isa avx512_bf16" in text
    assert text.endswith("capped to avx2 (effective avx2)")
