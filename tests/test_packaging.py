"""What a user of the installed package relies on: every package in the wheel, and `.keras`
files that load after `import ferzoo` alone (the wheel itself is installed and run by
scripts/test_wheel.sh in CI)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import keras
import numpy as np
import pytest

import ferzoo
import ferzoo.datasets

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.backend_free
def test_pyproject_lists_every_package_and_maps_every_builder():
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "ferzoo").rglob("__init__.py")
    }
    builders = {f"ferzoo.datasets.builders.{n}" for n in ferzoo.datasets.BUILDER_NAMES}
    assert set(tool["packages"]) == found | builders
    assert {k: v for k, v in tool["package-dir"].items()} == {
        f"ferzoo.datasets.builders.{n}": f"datasets/{n}" for n in ferzoo.datasets.BUILDER_NAMES
    }
    for name in ferzoo.datasets.BUILDER_NAMES:  # and the builders load from there in a checkout
        module = ferzoo.datasets.builder_class(name).__module__
        assert module == f"ferzoo.datasets.builders.{name}.{name}_dataset_builder"


LOAD = """
import json, sys
import numpy as np
import ferzoo
assert "keras" not in sys.modules  # import ferzoo loads no Keras
import keras
out = {}
for path in sys.argv[2:]:
    model = keras.saving.load_model(path)
    out[path] = model.predict(np.load(sys.argv[1]), verbose=0).tolist()
print(json.dumps(out))
"""


def test_keras_files_load_after_import_ferzoo_alone(tmp_path):
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    expected = {}
    # Narrowed (every layer kind of the three stays): the loading is the test, not the width.
    narrow = dict(widths=(32, 32, 32, 32), depths=(1, 1, 1, 1))
    sizes = {"wamf_resnet18": narrow, "msc_wca_resnet18": narrow, "wca_mcnn": {"fc_units": 16}}
    for name, kwargs in sizes.items():
        keras.utils.set_random_seed(0)
        model = ferzoo.build(name, num_classes=7, input_shape=(64, 64, 3), **kwargs)
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        expected[path] = model.predict(x, verbose=0)
    env = {**os.environ, "KERAS_BACKEND": keras.backend.backend(), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", LOAD, str(tmp_path / "x.npy"), *expected],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    for path, want in expected.items():
        np.testing.assert_allclose(loaded[path], want, atol=1e-5, err_msg=path)


@pytest.mark.backend_free
@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_written_files_follow_the_umask(tmp_path, mask):
    from ferzoo import files

    old = os.umask(mask)
    try:
        files.write_json(tmp_path / "config.json", {"a": 1})
        with files.atomic_path(tmp_path / "model.keras") as tmp:
            Path(tmp).write_bytes(b"x")
    finally:
        os.umask(old)
    for name in ("config.json", "model.keras"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name
