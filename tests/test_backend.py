"""ferzoo.runtime.backend: the backend ferzoo picks without KERAS_BACKEND, and the line it prints."""

import io
import os
import subprocess
import sys

import pytest

from ferzoo.runtime import backend


@pytest.mark.parametrize(
    ("environ", "available", "expected"),
    [
        ({"KERAS_BACKEND": "jax"}, ["tensorflow", "jax", "torch"], ("jax", "KERAS_BACKEND=jax")),
        ({}, ["tensorflow", "jax", "torch"], ("tensorflow", "KERAS_BACKEND unset; tensorflow installed")),
        ({}, ["torch", "jax"], ("jax", "KERAS_BACKEND unset; tensorflow not installed")),
        ({"KERAS_BACKEND": ""}, ["torch"], ("torch", "KERAS_BACKEND unset; tensorflow and jax not installed")),
    ],
)  # fmt: skip
def test_choose_follows_keras_backend_then_tensorflow_jax_torch(environ, available, expected):
    assert backend.choose(environ, available) == expected


def test_choose_with_nothing_installed_names_keras_default():
    name, reason = backend.choose({}, [])
    assert name == "tensorflow" and "none of tensorflow, jax, torch" in reason


def test_announce_prints_one_line_on_the_stream():
    out = io.StringIO()
    line = backend.announce("torch", stream=out)
    assert out.getvalue() == line + "\n" and line == "ferzoo: backend torch (--backend torch)"


@pytest.mark.slow
def test_import_ferzoo_sets_keras_backend_when_unset():
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    code = "import os, ferzoo, keras; print(os.environ['KERAS_BACKEND'], keras.backend.backend())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))  # fmt: skip
    first = backend.installed()[0]
    assert out.stdout.split() == [first, first]
