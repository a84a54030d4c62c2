import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import ferzoo  # noqa: E402, F401  (picks the backend when KERAS_BACKEND is unset)

# isort: split
import keras  # noqa: E402
import pytest  # noqa: E402


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


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    keras.backend.clear_session()
    yield
