"""ferzoo.runtime.precision: the policy names, `auto`, GPU detection, and the Keras facts it relies on.

The models and layers under each policy are tested in tests/test_models.py and tests/layers/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from ferzoo.runtime import precision
from ferzoo.runtime.precision import Gpu

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True)
def _restore_policy():
    saved = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(saved)


@pytest.mark.parametrize("name", precision.POLICIES)
def test_a_policy_resolves_to_itself_and_applies(name):
    assert precision.resolve(name) == name
    assert precision.apply(name) == name
    assert keras.config.dtype_policy().name == name == precision.current()
    # Recordable as it is in a run's config.json.
    assert json.loads(json.dumps({"precision": name})) == {"precision": name}


@pytest.mark.parametrize("bad", ["fp16", "mixed_float32", "", None, 16, "AUTO"])
def test_a_bad_name_is_named_in_the_error(bad):
    with pytest.raises(ValueError, match=f"Received: precision={bad!r}"):
        precision.resolve(bad)
    with pytest.raises(ValueError, match="mixed_bfloat16"):  # the message lists the choices
        precision.apply(bad)


def test_a_bad_backend_is_named():
    with pytest.raises(ValueError, match="backend='numpy'"):
        precision.gpus("numpy")


@pytest.mark.parametrize(
    "found, expected",
    [
        ([], "float32"),
        ([Gpu("NVIDIA H100 80GB HBM3", (9, 0))], "mixed_bfloat16"),
        ([Gpu("NVIDIA A100-SXM4-40GB", (8, 0))], "mixed_bfloat16"),
        ([Gpu("Tesla T4", (7, 5))], "mixed_float16"),
        ([Gpu("Tesla V100-SXM2-16GB", (7, 0))], "mixed_float16"),
        ([Gpu("some GPU", None)], "mixed_float16"),  # capability unknown: float16 runs anywhere
        ([Gpu("Tesla T4", (7, 5)), Gpu("NVIDIA L4", (8, 9))], "mixed_float16"),  # the first
    ],
)
def test_auto_picks_by_the_first_gpu(monkeypatch, found, expected):
    monkeypatch.setattr(precision, "gpus", lambda backend=None: found)
    assert precision.resolve("auto") == expected
    assert precision.apply("auto") == expected
    assert keras.config.dtype_policy().name == expected


def test_capabilities_parse_from_each_backend_format():
    assert precision._capability("8.6") == (8, 6)  # JAX: a string
    assert precision._capability((9, 0)) == (9, 0)  # TensorFlow: a tuple
    assert precision._capability("9") == (9, 0)
    assert precision._capability(None) is None
    assert precision._capability("gfx90a") is None
    assert Gpu("x", (8, 0)).supports_bfloat16 and not Gpu("x", (7, 5)).supports_bfloat16


def _gpu_count_from_the_framework() -> int:
    name = keras.backend.backend()
    if name == "torch":
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name == "jax":
        import jax

        return sum(d.platform == "gpu" for d in jax.devices())
    import tensorflow as tf

    return len(tf.config.list_physical_devices("GPU"))


def test_detection_agrees_with_the_framework_and_auto_follows_it():
    found = precision.gpus()
    assert all(isinstance(g, Gpu) and g.name for g in found)
    assert len(found) == _gpu_count_from_the_framework()
    if not found:  # this CPU machine
        assert precision.resolve("auto") == "float32"
    else:
        assert precision.resolve("auto") in ("mixed_float16", "mixed_bfloat16")


def _frameworks_after(code: str, backend: str) -> str:
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    code += "; print(sorted(m for m in ('tensorflow', 'jax', 'torch') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", "import sys; " + code, backend],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def test_detection_imports_no_framework_beyond_the_backend_asked_for():
    # TensorFlow itself imports JAX where it is installed; ferzoo must add nothing to that.
    backend = keras.backend.backend()
    alone = _frameworks_after("__import__(sys.argv[1])", backend)
    detected = _frameworks_after(
        "from ferzoo import precision; precision.gpus(sys.argv[1])", backend
    )
    assert detected == alone
    assert backend in detected


def test_scope_restores_the_previous_policy():
    precision.apply("mixed_bfloat16")
    with precision.scope("mixed_float16") as name:
        assert name == "mixed_float16" == precision.current()
        layer = keras.layers.Dense(2)
    assert precision.current() == "mixed_bfloat16"
    assert layer.dtype_policy.name == "mixed_float16"
    with pytest.raises(RuntimeError), precision.scope("float32"):
        raise RuntimeError("the policy is restored on errors too")
    assert precision.current() == "mixed_bfloat16"


def test_clear_session_resets_the_policy():
    # Why a run calls apply() after clear_session(), right before building its model.
    precision.apply("mixed_float16")
    keras.backend.clear_session(free_memory=False)
    assert precision.current() == "float32"


def _tiny_model():
    inputs = keras.Input((4,))
    return keras.Model(
        inputs, keras.layers.Dense(3, dtype="float32")(keras.layers.Dense(8)(inputs))
    )


@pytest.mark.parametrize("policy", precision.POLICIES)
def test_loss_scaling_only_for_float16_by_compile_and_by_optimizer_for(policy):
    with precision.scope(policy):
        model = _tiny_model()
    # Keras' compile wraps on its own when the model's policy is mixed_float16 (every backend).
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == (policy == "mixed_float16")
    # optimizer_for wraps regardless of the model, once; compile does not wrap it again.
    optimizer = precision.optimizer_for(keras.optimizers.SGD(0.1), policy)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == scaled
    assert precision.optimizer_for(optimizer, policy) is optimizer
    model.compile(optimizer=optimizer, loss="mse")
    assert model.optimizer is optimizer
    x = np.ones((2, 4), "float32")
    history = model.fit(x, np.zeros((2, 3), "float32"), epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_optimizer_for_wants_a_resolved_policy():
    with pytest.raises(ValueError, match="policy='auto'"):
        precision.optimizer_for(keras.optimizers.SGD(), "auto")
    with pytest.raises(ValueError, match="policy='half'"):
        precision.optimizer_for(keras.optimizers.SGD(), "half")
