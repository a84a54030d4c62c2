"""Every damaged file a user can meet is one line naming it, what is wrong and the fix; never a
traceback, and nothing is read with allow_pickle.

The files: a run's resume state (state.json, the weights-and-optimizer .weights.h5, the kept
weights' .npz), a model.keras given to evaluate / predict / explain / export / --weights, and a
prepared TFDS folder (dataset_info.json, features.json, a TFRecord or ArrayRecord shard).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest

from ferzoo.files import DamagedFileError
from tests.testing import cli_error_line, error_lines

SMALL = {"depths": (1, 1, 1, 1), "widths": (16, 16, 16, 16)}
SMALL_SET = ["--set", "depths=(1,1,1,1)", "--set", "widths=(16,16,16,16)"]
DATASET = "synthetic_faces/tiny"
VERSION = os.path.join("synthetic_faces", "tiny", "1.2.0")  # the prepared folder in a data dir
TFRECORD = "synthetic_faces-train.tfrecord-00000-of-00001"
ARRAY_RECORD = "synthetic_faces-train.array_record-00000-of-00001"


@pytest.fixture(scope="module")
def data_dir(tiny_data_dir):
    """synthetic_faces/tiny prepared once per process, with its ArrayRecord copy (conftest.py);
    tests damage copies."""
    return tiny_data_dir


@pytest.fixture(scope="module")
def run(data_dir, tmp_path_factory):
    """A finished one-epoch run: model.keras, config.json and checkpoints/ (state.json, the
    last epoch's .weights.h5 and the kept weights' .npz)."""
    from ferzoo.training import train

    out = str(tmp_path_factory.mktemp("run") / "run")
    train("resnet18", DATASET, image_size=32, epochs=1, batch_size=16, data_dir=data_dir,
          output_dir=out, model_overrides=SMALL, evaluate_test=False, verbose=0)  # fmt: skip
    return out


def _truncate(path: str, keep: float = 0.5) -> None:
    with open(path, "r+b") as f:
        f.truncate(int(os.path.getsize(path) * keep))


def _one(folder: str, pattern: str) -> str:
    (path,) = glob.glob(os.path.join(folder, pattern))
    return path


def _train_args(data_dir: str, out: str, *extra: str) -> list[str]:
    return ["train", "--model", "resnet18", "--dataset", DATASET, "--image-size", "32",
            "--epochs", "2", "--data-dir", data_dir, "--output", out, "--verbose", "0",
            *SMALL_SET, *extra]  # fmt: skip


# --- resume state ---------------------------------------------------------------------------


def _garbage(path: str) -> None:
    with open(path, "wb") as f:
        f.write(b"not an npz archive, and not a pickle either")


@pytest.mark.parametrize(
    "pattern, damage, problem",
    [
        ("state.json", _truncate, "is damaged (not valid JSON: "),
        ("epoch-*.weights.h5", _truncate, "is damaged (OSError: "),
        ("epoch-*.weights.h5", os.remove, "is missing (named by state.json)"),
        ("best-*.npz", _truncate, "is damaged (BadZipFile: "),
        ("best-*.npz", _garbage, "is damaged (not an .npz archive of numeric arrays)"),
    ],
)
def test_damaged_resume_state_is_one_line(
    run, data_dir, tmp_path, capsys, pattern, damage, problem
):
    out = str(tmp_path / "run")
    shutil.copytree(run, out)
    path = _one(os.path.join(out, "checkpoints"), pattern)
    damage(path)
    line = cli_error_line(capsys, _train_args(data_dir, out), alone=True)
    assert f"{path} {problem}" in line
    assert "rerun with --no-resume" in line and "allow_pickle" not in line
    assert not os.path.exists(os.path.join(out, "metrics.json"))  # it stopped before training


@pytest.mark.slow
def test_no_resume_recovers_from_a_damaged_state(run, data_dir, tmp_path):
    """The real command: one line on stderr, no traceback; then --no-resume starts afresh."""
    out = str(tmp_path / "run")
    shutil.copytree(run, out)
    _truncate(os.path.join(out, "checkpoints", "state.json"))
    cmd = [sys.executable, "-m", "ferzoo.cli", *_train_args(data_dir, out)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "FERZOO_DEBUG"))}
    failed = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert failed.returncode == 2 and "Traceback" not in failed.stderr, failed.stderr[-3000:]
    lines = error_lines(failed.stderr)
    state = os.path.join(out, "checkpoints", "state.json")
    assert len(lines) == 1, failed.stderr[-3000:]
    assert lines[0].startswith(f"ferzoo: error: {state} is damaged (not valid JSON: ")
    rerun = subprocess.run([*cmd, "--no-resume"], capture_output=True, text=True, env=env,
                           timeout=600)  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert os.path.exists(os.path.join(out, "checkpoints", "epoch-0002.weights.h5"))


@pytest.mark.backend_free  # NumPy's np.load on a file; no model, no Keras op
def test_the_kept_weights_are_read_without_pickle(tmp_path):
    """A pickled object array in the .npz is refused, not unpickled."""
    import numpy as np

    from ferzoo.training import checkpoints

    path = str(tmp_path / "best-0001.npz")
    np.savez(path, np.array([{"evil": 1}], dtype=object))
    with pytest.raises(
        DamagedFileError, match=r"best-0001.npz is damaged \(not an .npz archive of"
    ) as info:
        checkpoints.read_weights(path, "fix")
    assert "allow_pickle" not in str(info.value) and "\n" not in str(info.value)


# --- model files ----------------------------------------------------------------------------


def _model_files(run: str, folder) -> dict[str, str]:
    """A truncated model.keras, one with a flipped byte, a text file named .keras, a .h5 that
    is not a model; config.json beside them, as a run has it."""
    shutil.copy(os.path.join(run, "config.json"), folder / "config.json")
    data = open(os.path.join(run, "model.keras"), "rb").read()
    middle = len(data) // 2
    files = {
        "truncated.keras": data[:middle],
        "flipped.keras": data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :],
        "notes.keras": b"these are my notes\n",
        "foo.h5": b"not hdf5 either\n",
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return {name: str(folder / name) for name in files}


@pytest.mark.parametrize(
    "name, problem",
    [
        ("truncated.keras", "is damaged (a truncated or broken zip archive"),
        ("flipped.keras", "is damaged (model.weights.h5 in its zip archive fails its CRC check)"),
        ("notes.keras", "is not a Keras model file (not a zip archive)"),
        ("foo.h5", "is not a Keras model file (expected a .keras file)"),
    ],
)
def test_a_damaged_or_wrong_model_file_is_one_line(run, data_dir, tmp_path, capsys, name, problem):
    path = _model_files(run, tmp_path)[name]
    face = tmp_path / "face.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(face), np.full((40, 40, 3), 128, np.uint8))
    commands = [["evaluate", path, "--dataset", DATASET, "--data-dir", data_dir]]
    if name.endswith(".keras"):  # the others stop at the commands' own suffix check
        commands += [
            ["predict", path, str(face), "--no-detect", "--quiet"],
            ["explain", path, str(face), "--no-detect", "--output", str(tmp_path / "cam")],
            ["export", path, "--output", str(tmp_path / "m.onnx")],
        ]
    for args in commands:
        line = cli_error_line(capsys, args, alone=True)
        assert line.startswith(f"ferzoo: error: {path} {problem}"), (args[0], line)
        assert "File not found" not in line


def test_a_damaged_model_keras_given_as_weights_is_one_line(run, data_dir, tmp_path, capsys):
    path = _model_files(run, tmp_path)["truncated.keras"]
    line = cli_error_line(
        capsys, [*_train_args(data_dir, str(tmp_path / "out")), "--weights", path], alone=True
    )
    assert line.startswith(f"ferzoo: error: {path} is damaged (a truncated or broken zip archive")


def test_a_whole_model_file_still_loads(run):
    """The checks pass a good file: model.keras loads through the serving path."""
    from ferzoo.serving.engines import load_model

    model, info = load_model(os.path.join(run, "model.keras"))
    assert info["image_size"] == 32 and model.outputs[0].shape[-1] == 7


# --- prepared datasets ----------------------------------------------------------------------


def _damaged_data(data_dir: str, tmp_path, damage) -> tuple[str, str]:
    """A copy of the prepared data dir, damaged: (the copy, its prepared folder)."""
    root = str(tmp_path / "tfds")
    shutil.copytree(data_dir, root)
    folder = os.path.join(root, VERSION)
    damage(folder)
    return root, folder


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda f: _truncate(os.path.join(f, "dataset_info.json")), "(dataset_info.json: "),
        (lambda f: _truncate(os.path.join(f, TFRECORD)), f"(its shard {TFRECORD} is truncated)"),
        (lambda f: os.remove(os.path.join(f, TFRECORD)), f"(its shard {TFRECORD} is missing)"),
    ],
    ids=["dataset_info", "truncated_shard", "missing_shard"],
)
def test_a_damaged_dataset_is_one_line_naming_its_folder(data_dir, tmp_path, capsys, damage,
                                                         problem):  # fmt: skip
    root, folder = _damaged_data(data_dir, tmp_path, damage)
    line = cli_error_line(capsys, _train_args(root, str(tmp_path / "out")), alone=True)
    assert line.startswith(f"ferzoo: error: {folder} is a damaged prepared dataset {problem}")
    assert line.endswith(f"rebuild it with `ferzoo data build {DATASET} --data-dir {root}`")


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda f: _truncate(os.path.join(f, "dataset_info.json")), "dataset_info.json: "),
        (lambda f: _truncate(os.path.join(f, "features.json")), "features.json: "),
        (lambda f: _truncate(os.path.join(f, ARRAY_RECORD)), "its ArrayRecord copy: "),
        (lambda f: os.remove(os.path.join(f, ARRAY_RECORD)), f"{ARRAY_RECORD} is missing"),
    ],
    ids=["dataset_info", "features", "truncated_shard", "missing_shard"],
)
@pytest.mark.backend_free  # the NumPy reader and pipeline, named: no Keras backend in the path
def test_the_numpy_reader_names_a_damaged_dataset(data_dir, tmp_path, damage, problem):
    from ferzoo import data

    root, folder = _damaged_data(data_dir, tmp_path, damage)
    with pytest.raises(DamagedFileError) as info:
        data.load(DATASET, image_size=32, data_dir=root, reader="numpy", pipeline="numpy")
    message = str(info.value)
    assert message.startswith(f"{folder} is a damaged prepared dataset (") and "\n" not in message
    assert problem in message and f"ferzoo data build {DATASET} --data-dir {root}" in message
