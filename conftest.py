import atexit
import gc
import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ferzoo  # noqa: E402, F401  (picks the backend when KERAS_BACKEND is unset)

# isort: split
import keras  # noqa: E402
import pytest  # noqa: E402


def _share_compiled_programs() -> None:
    """On JAX, one compilation cache for the whole run (and the processes its tests start),
    empty at the start and removed at the end: the tests build the same small models at the
    same sizes again and again, and a program compiled once (resnet-style steps: 10 s each on
    a 2-core CPU) is loaded from the cache in a fraction of that. A cache the caller names
    (JAX_COMPILATION_CACHE_DIR) is left as it is."""
    if keras.backend.backend() != "jax" or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    from ferzoo.training.reuse import persistent_cache

    folder = tempfile.mkdtemp(prefix="ferzoo-test-jax-cache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    persistent_cache(folder)


_share_compiled_programs()

# What the imports made lives as long as the process: out of the collector's sight, so that
# its full passes only walk what tests make.
gc.freeze()


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    # TensorFlow-only tests (tf.data paths, TFDS builders) are skipped on the other backends.
    if keras.backend.backend() == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"needs the tensorflow backend, not {keras.backend.backend()}")
    for item in items:
        if "tf_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory):
    """synthetic_faces/tiny (140 images, 48 px) prepared once per test process, with its
    ArrayRecord copy, for every module that reads it (each prepared its own before). Tests read
    it and damage copies only. FERZOO_TEST_DATA_DIR names a folder to prepare into (or reuse)."""
    from ferzoo import data

    path = os.environ.get("FERZOO_TEST_DATA_DIR") or str(tmp_path_factory.mktemp("tfds"))
    data.prepare("synthetic_faces/tiny", data_dir=path)
    return path


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    # Keras' global state (names, policy, TensorFlow's graph and kernel caches) reset before
    # each test, without a full garbage collection: that walked every object the backends
    # keep (TensorFlow keeps each traced graph) and reached 2 s per test late in a run; the
    # collector's own passes free the cycles as usual.
    keras.backend.clear_session(free_memory=False)
    yield
