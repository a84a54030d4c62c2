"""`ferzoo env`: the processor line, and `--speed` (ferzoo.runtime.speed): each backend trained
in its own process as `ferzoo.train` would, a failed one a single line of the table."""

from __future__ import annotations

import json
import sys

import keras
import pytest

from ferzoo.cli import main
from ferzoo.commands import env
from ferzoo.runtime import cpu, devices, speed
from tests.testing import cli_error_line


@pytest.fixture
def no_device_lookup(monkeypatch):
    """`ferzoo env` without importing every installed backend into this test process."""
    monkeypatch.setattr(devices, "backend_devices", lambda name: [{"name": "x", "kind": "cpu"}])


@pytest.mark.backend_free
def test_env_prints_the_processor_line_and_json_has_it(capsys, no_device_lookup):
    assert main(["env"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("processor: ")]
    assert lines == [f"processor: {cpu.summary()}"]
    assert cpu.processor()["isa"] in lines[0]
    assert main(["env", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["processor"] == json.loads(json.dumps(cpu.processor()))
    assert "speed" not in info  # only with --speed


@pytest.mark.backend_free
@pytest.mark.parametrize(
    "args, named",
    [
        (["env", "--speed", "--max-isa", "avx3"], "Received: --max-isa='avx3'"),
        (["env", "--max-isa", "avx2"], "add --speed"),
        (["env", "--speed", "--speed-seconds", "0"], "--speed-seconds 0"),
        (["env", "--speed", "--speed-size", "8"], "--speed-size 8"),
    ],
)
def test_speed_mistakes_are_one_line(capsys, no_device_lookup, args, named):
    assert named in cli_error_line(capsys, args)


def test_speed_trains_the_current_backend_as_ferzoo_train_does():
    backend = keras.backend.backend()
    (record,) = speed.compare([backend], size=32, seconds=0.1)
    assert "error" not in record, record
    assert record["backend"] == backend and (record["size"], record["batch"]) == (32, 16)
    assert record["steps"] >= 2 and record["compile_s"] > 0
    assert record["images_per_s"] == pytest.approx(16 / record["step_s"])
    settings = record["settings"]  # read back from the compiled model in that process
    assert settings["data_format"] == "channels_last"
    assert settings["deterministic"] == (backend == "tensorflow")  # as ferzoo.train sets it
    assert settings["jit_compile"] == (backend == "jax")  # Keras: no XLA under determinism
    assert settings["fused_batch_norm"] == (0 if backend == "jax" else 20)
    assert settings["native_conv"] == (21 if backend == "torch" else 0)


@pytest.mark.backend_free
def test_a_failed_or_late_process_is_one_line_and_is_stopped():
    (failed,) = speed.compare(["nosuch"])  # refused by the process's own argument check
    assert failed["backend"] == "nosuch"
    assert "invalid choice: 'nosuch'" in failed["error"] and "\n" not in failed["error"]
    (late,) = speed.compare(["torch"], timeout=0.01)
    assert late == {"backend": "torch", "error": "timed out"}
    run = speed.Comparison(["tensorflow"]).start()
    run.stop()
    assert all(child.proc.poll() is not None for child in run.children)


@pytest.mark.backend_free
def test_the_speed_table_names_the_fastest_and_the_default(capsys):
    records = [
        {"backend": "tensorflow", "error": "ImportError: no module named tensorflow"},
        {"backend": "jax", "images_per_s": 90.0, "compile_s": 9.5, "settings": {
            "data_format": "channels_last", "jit_compile": True, "deterministic": False,
            "fused_batch_norm": 0, "native_conv": 0}},
        {"backend": "torch", "images_per_s": 120.0, "compile_s": 1.0, "settings": {
            "data_format": "channels_last", "jit_compile": False, "deterministic": False,
            "fused_batch_norm": 20, "native_conv": 21}},
    ]  # fmt: skip
    info = {"model": "resnet18", "size": 48, "batch": 16, "seconds": 2.0,
            "cap": cpu.describe_cap("avx2"), "results": records, "fastest": speed.fastest(records),
            "default": "tensorflow (KERAS_BACKEND unset)"}  # fmt: skip
    env.print_speed(info)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"  {cpu.describe_cap('avx2')}"
    assert lines[3].split() == ["tensorflow", "failed:", "ImportError:", "no", "module", "named",
                                "tensorflow"]  # fmt: skip
    assert lines[5].split()[:3] == ["torch", "120.0", "1.0"]
    assert "fused batch norm x20, native conv x21" in lines[5]
    assert lines[-1] == (
        "would pick: torch (fastest here); ferzoo uses tensorflow (KERAS_BACKEND unset)"
    )


@pytest.mark.backend_free
def test_speed_module_refuses_a_process_on_another_backend(monkeypatch):
    other = "jax" if keras.backend.backend() != "jax" else "torch"
    with pytest.raises(SystemExit, match=f"not {other}"):
        speed.main(["--backend", other, "--seconds", "0"])
    assert sys.modules["keras"] is keras
