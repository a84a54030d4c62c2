"""What an instruction-set cap really changes: resnet18's training steps per backend, capped or not.

    python benchmarks/isa_check.py                       # each backend as it is
    python benchmarks/isa_check.py --max-isa avx2        # each backend capped to AVX2
    python benchmarks/isa_check.py --max-isa avx2 --backends jax --json

Each backend runs in its own process (`ferzoo.runtime.cpu.cap_environment` in its environment
with `--max-isa`), builds and compiles resnet18 as `ferzoo.train` does
(`ferzoo.runtime.speed`), and trains it for `--seconds`. Three witnesses say which vector
instructions ran:

- oneDNN's own log (`ONEDNN_VERBOSE=1`, TensorFlow and PyTorch): the instruction set it
  dispatches to ("isa:") and the implementation of every primitive it ran (e.g.
  `brg_conv_fwd:avx2`, `jit:avx512_core`);
- Linux's `/proc/<pid>/task/<tid>/arch_status` (x86 with AVX-512): `AVX512_elapsed_ms`, the
  time since a thread last held AVX-512 state (zmm registers, or the EVEX-only ymm16-31) when
  it was switched out. A thread that ran AVX-512 code during the timed steps reads less than
  their duration. glibc's own string functions use EVEX registers on such machines, so the
  process runs with `GLIBC_TUNABLES` hiding AVX-512 from glibc; any AVX-512 left is the
  frameworks'. It is sampled at context switches: a count above 0 proves AVX-512 ran, 0 is
  strong evidence (the steps run for seconds) but not a proof;
- on JAX, the code XLA generated (`--xla_dump_to`, disassembled with objdump): instructions
  on zmm against ymm registers. PyTorch also reports `torch.backends.cpu.get_cpu_capability()`.

results/cpu_isa.md gives what these said on the project's AMD EPYC (Zen 4) machine.
"""

from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "torch")
MARK = "isa-check "
# glibc picks EVEX (AVX-512VL) string functions on an AVX-512 machine: hide those from it.
GLIBC_NO_AVX512 = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"


def _avx512_threads(since_ms: float) -> tuple[list[str], int]:
    """(the names of this process's threads that held AVX-512 state in the last `since_ms`,
    the number of threads)."""
    recent, total = [], 0
    for path in glob.glob(f"/proc/{os.getpid()}/task/*/arch_status"):
        try:
            with open(path) as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            with open(os.path.join(os.path.dirname(path), "comm")) as f:
                name = f.read().strip()
        except OSError:
            continue
        total += 1
        elapsed = int(fields.get("AVX512_elapsed_ms", "-1"))
        if 0 <= elapsed <= since_ms:
            recent.append(name)
    return sorted(recent), total


def child(size: int, seconds: float) -> dict:
    """Train resnet18 here: the first step, a pause, then `seconds` of steps, watched."""
    sys.path.insert(0, ROOT)
    from ferzoo.runtime import cpu, logs, speed

    logs.quiet_backends(load_tensorflow=os.environ.get("KERAS_BACKEND") != "jax")
    import keras

    model, images, labels = speed._prepare(size, 16)
    model.train_on_batch(images, labels)
    time.sleep(3.0)  # what ran while loading and compiling is then older than the steps
    started = time.monotonic()
    steps = 0
    while steps < 2 or time.monotonic() - started < seconds:
        model.train_on_batch(images, labels)
        steps += 1
    recent, total = _avx512_threads(1000 * (time.monotonic() - started))
    record = {"backend": keras.backend.backend(), "steps": steps, "cap": cpu.cap_in_force()}
    record.update(avx512_threads=recent, threads=total)
    if record["backend"] == "torch":
        import torch

        record["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    return record


def _onednn(lines: list[str]) -> dict:
    """oneDNN's dispatch ("isa:") and its primitives' implementations, from its verbose log."""
    isa = None
    used: collections.Counter = collections.Counter()
    for line in lines:
        fields = line.split(",")
        if len(fields) > 4 and fields[2] == "info" and fields[4].startswith("isa:"):
            isa = fields[4][4:]
        elif len(fields) > 6 and fields[2] == "primitive" and fields[3] == "exec":
            used[f"{fields[5]} {fields[6]}"] += 1
    return {"onednn_isa": isa, "onednn_kernels": dict(used.most_common(8))}


def _registers(dump: str) -> dict | None:
    """zmm and ymm instructions in the object code XLA dumped, or None without objdump."""
    objects = glob.glob(os.path.join(dump, "*.o"))
    if not objects or shutil.which("objdump") is None:
        return None
    text = subprocess.run(
        ["objdump", "-d", *objects], capture_output=True, text=True, check=False
    ).stdout
    lines = text.splitlines()
    return {
        "objects": len(objects),
        "zmm": sum("zmm" in line for line in lines),
        "ymm": sum("ymm" in line for line in lines),
    }


def check(backend: str, max_isa: str | None, size: int, seconds: float) -> dict:
    """One backend's process, capped to `max_isa` (or not), and what the witnesses said."""
    from ferzoo.runtime import cpu

    env = dict(os.environ, KERAS_BACKEND=backend, ONEDNN_VERBOSE="1", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    env["GLIBC_TUNABLES"] = GLIBC_NO_AVX512
    if max_isa:
        env.update(cpu.cap_environment(max_isa, environ=env))
    dump = tempfile.mkdtemp(prefix="ferzoo-isa-")
    try:
        if backend == "jax":
            env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_dump_to={dump}".strip()
        command = [sys.executable, __file__, "--child", "--size", str(size)]
        done = subprocess.run(
            [*command, "--seconds", str(seconds)],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        lines = done.stdout.splitlines()
        found = [line[len(MARK) :] for line in lines if line.startswith(MARK)]
        if not found:
            tail = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            return {"backend": backend, "error": tail[0]}
        record = json.loads(found[-1])
        record.update(_onednn([line for line in lines if line.startswith("onednn_verbose")]))
        record["xla_code"] = _registers(dump) if backend == "jax" else None
        return record
    finally:
        shutil.rmtree(dump, ignore_errors=True)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--max-isa", default=None, help="avx2, avx512, ... (none: uncapped)")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0, help="timed training per backend")
    parser.add_argument("--json", action="store_true", help="print the records as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(MARK + json.dumps(child(args.size, args.seconds)), flush=True)
        return []
    records = []
    for backend in (b for b in args.backends.split(",") if b):
        record = check(backend, args.max_isa, args.size, args.seconds)
        records.append(record)
        if not args.json:
            print(json.dumps(record), flush=True)
    if args.json:
        print(json.dumps(records, indent=1))
    return records


if __name__ == "__main__":
    main()
