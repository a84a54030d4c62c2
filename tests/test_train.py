"""ferzoo.train and `ferzoo train`: end to end on synthetic_faces, determinism, SIGKILL resume,
and the class-count check."""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.cli import main
from ferzoo.commands.common import parse_overrides
from ferzoo.evaluation.experiments import ablation_grid, ablation_table
from ferzoo.training import train

# A ResNet18 cut down to one block per stage and narrow stages: trains in seconds at 32 px.
SMALL = {"depths": (1, 1, 1, 1), "widths": (16, 32, 32, 64)}
SMALL_SET = ["--set", "depths=(1,1,1,1)", "--set", "widths=(16,32,32,64)"]


def _prepare(name: str, data_dir: str) -> None:
    import tensorflow_datasets as tfds

    import ferzoo.datasets  # noqa: F401  (registers the builders)

    tfds.builder(name, data_dir=data_dir).download_and_prepare()


@pytest.fixture(scope="module")
def data_dir(tiny_data_dir):
    """synthetic_faces/tiny (140 images, 48 px), prepared once per process (conftest.py)."""
    return tiny_data_dir


def _read_history(path):
    return list(csv.DictReader(open(os.path.join(path, "history.csv"))))


def test_cli_train_one_epoch_every_backend(data_dir, tmp_path):
    """The smoke test run on each backend: the CLI trains one epoch in mixed_float16 (loss
    scaling, float16 layers) and writes every file; the saved model outputs float32."""
    out = tmp_path / "run"
    args = [
        "train",
        "--model",
        "resnet18",
        "--dataset",
        "synthetic_faces/tiny",
        "--image-size",
        "32",
    ]
    args += ["--epochs", "1", "--batch-size", "16", "--data-dir", data_dir, "--output", str(out)]
    args += ["--verbose", "0", "--precision", "mixed_float16", *SMALL_SET]
    assert main(args) == 0
    for name in (
        "metrics.json",
        "metrics.csv",
        "confusion_matrix.csv",
        "confusion_matrix.png",
        "curves.png",
        "history.csv",
        "config.json",
        "model.keras",
    ):
        assert (out / name).exists(), name
    history = _read_history(str(out))
    assert len(history) == 1 and math.isfinite(float(history[0]["loss"]))
    config = json.loads((out / "config.json").read_text())
    assert config["backend"] == keras.backend.backend()
    assert config["model_overrides"] == {"depths": [1, 1, 1, 1], "widths": [16, 32, 32, 64]}
    assert config["class_names"][3] == "happiness" and config["learning_rate"] == 1e-3
    assert config["precision"] == "mixed_float16"
    # How it computed: the speed settings asked and in effect, and the processor.
    from ferzoo.runtime import cpu, performance

    speed = config["performance"]
    assert speed["settings"] == performance.resolve()
    assert speed["processor"] == json.loads(json.dumps(cpu.processor()))
    applied = speed["in_effect"]
    assert applied["data_format"] == "channels_last"
    assert applied["deterministic"] == (keras.backend.backend() == "tensorflow")
    assert applied["jit_compile"] == (keras.backend.backend() == "jax")  # no XLA under determinism
    assert applied["fused_batch_norm"] == applied["native_conv"] == 0  # float16 layers: Keras' path
    metrics = json.loads((out / "metrics.json").read_text())
    assert sum(map(sum, metrics["confusion_matrix"])) == metrics["num_examples"] == 14
    # The saved model loads with its class names and gives the metrics' predictions' shape.
    from ferzoo.serving.engines import load_model

    model, info = load_model(str(out / "model.keras"))
    assert info["class_names"] == config["class_names"] and model.outputs[0].shape[-1] == 7
    assert model.layers[1].dtype_policy.name == "mixed_float16"
    probs = model.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    assert probs.dtype == np.float32 and np.allclose(probs.sum(-1), 1, atol=1e-3)


def test_cli_trains_on_an_image_folder_with_subject_folds(tmp_path):
    """`ferzoo train --dataset image_folder`: a three-class folder of four people, their ids
    read from the file names, split into subject folds (one person tests, one validates); the
    folder's class names and the protocol are recorded, and no person is in two parts."""
    from ferzoo.datasets import dummy

    classes = ["angry", "happy", "sad"]
    names = [f"{c}/P0{p}_{k}.png" for c in classes for p in range(1, 5) for k in range(2)]
    names += ["happy/P03_2.jpg", "sad/P03_3.jpg"]  # JPEG too; P03 has 8 images, the others 6
    manual = dummy.write_layout(tmp_path / "faces", names, (40, 36, 3), np.random.default_rng(0))
    out = tmp_path / "run"
    args = ["train", "--model", "resnet18", "--dataset", "image_folder"]
    args += ["--manual-dir", str(manual), "--protocol", "subject", "--num-folds", "4"]
    args += ["--subject-pattern", "^(P[0-9]+)_", "--image-size", "32", "--epochs", "1"]
    args += ["--batch-size", "6", "--data-dir", str(tmp_path / "tfds"), "--output", str(out)]
    assert main([*args, "--verbose", "0", *SMALL_SET]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["class_names"] == classes
    assert config["dataset"].startswith("image_folder-faces-")  # the folder's own config
    assert (config["protocol"], config["num_folds"], config["fold"]) == ("subject", 4, 0)
    assert config["manual_dir"] == str(manual)
    assert sum(config["data_sizes"].values()) == len(names)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["subjects"] == {"train": 2, "validation": 1, "test": 1}
    assert metrics["num_examples"] == config["data_sizes"]["test"] in (6, 8)


def test_precision_is_checked_and_auto_is_float32_on_a_cpu():
    with pytest.raises(ValueError, match="Received: precision='fp8'"):
        train("resnet18", "synthetic_faces/tiny", epochs=1, precision="fp8")
    from ferzoo.runtime import precision

    assert precision.resolve("auto") == "float32" or precision.gpus()


@pytest.mark.slow
def test_same_seed_same_metrics(data_dir, tmp_path):
    kwargs = dict(
        image_size=32,
        epochs=2,
        batch_size=16,
        seed=3,
        data_dir=data_dir,
        model_overrides=SMALL,
        verbose=0,
    )
    a = train("resnet18", "synthetic_faces/tiny", output_dir=str(tmp_path / "a"), **kwargs)
    keras.backend.clear_session(free_memory=False)
    b = train("resnet18", "synthetic_faces/tiny", output_dir=str(tmp_path / "b"), **kwargs)
    assert a.history["loss"] == b.history["loss"]
    assert a.history["val_loss"] == b.history["val_loss"]
    assert a.test["confusion_matrix"] == b.test["confusion_matrix"]


@pytest.mark.slow
@pytest.mark.tf_only
def test_end_to_end_above_chance(tmp_path_factory, tmp_path):
    """synthetic_faces (1,008 images) at 32 px: the test part is clearly above chance (1/7)."""
    data = os.environ.get("FERZOO_TEST_DATA_DIR") or str(tmp_path_factory.mktemp("tfds_full"))
    _prepare("synthetic_faces", data)
    result = train(
        "resnet18",
        "synthetic_faces",
        image_size=32,
        epochs=10,
        batch_size=16,
        data_dir=data,
        output_dir=str(tmp_path / "run"),
        model_overrides=SMALL,
        verbose=0,
    )
    assert result.test["num_examples"] == 98
    assert result.test["accuracy"] > 0.35, result.test["accuracy"]  # chance: 0.143
    assert result.best_epoch == int(np.argmin(result.history["val_loss"]))
    assert result.val_loss == min(result.history["val_loss"])
    trainable = sum(int(np.prod(w.shape)) for w in result.model.trainable_weights)
    assert result.profile["trainable_params"] == trainable


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume(data_dir, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "ferzoo.cli", "train", "--model", "resnet18"]
    cmd += ["--dataset", "synthetic_faces/tiny", "--image-size", "32", "--epochs", "4"]
    cmd += ["--batch-size", "2", "--data-dir", data_dir, "--output", str(out), "--verbose", "2"]
    cmd += SMALL_SET
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    state_file = out / "checkpoints" / "state.json"
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        for line in proc.stdout:  # "Epoch 2/4" is printed when the second epoch begins
            if line.startswith("Epoch 2/"):
                break
        assert state_file.exists(), "the first epoch's checkpoint must exist when epoch 2 starts"
        time.sleep(0.5)  # well inside epoch 2 (56 steps)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    done = json.loads(state_file.read_text())["epochs_done"]
    assert done >= 1
    assert not (out / "metrics.json").exists()  # the run did not finish

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
    assert f"Epoch {done + 1}/4" in rerun.stdout and "Epoch 1/4" not in rerun.stdout
    history = _read_history(str(out))
    assert [int(r["epoch"]) for r in history] == [1, 2, 3, 4]  # each epoch exactly once
    config = json.loads((out / "config.json").read_text())
    assert config["resumed_from_epoch"] == done
    assert json.loads(state_file.read_text())["epochs_done"] == 4
    assert (out / "metrics.json").exists()


@pytest.mark.slow
def test_resume_refuses_other_arguments(data_dir, tmp_path):
    kwargs = dict(
        image_size=32, epochs=1, batch_size=16, data_dir=data_dir, model_overrides=SMALL, verbose=0
    )
    out = str(tmp_path / "run")
    train("resnet18", "synthetic_faces/tiny", output_dir=out, evaluate_test=False, **kwargs)
    with pytest.raises(
        ValueError, match=r"other training arguments \(learning_rate: 0.001 -> 0.01\)"
    ):
        train("resnet18", "synthetic_faces/tiny", output_dir=out, learning_rate=0.01, **kwargs)


def test_seven_class_model_on_five_class_data_fails_clearly(data_dir):
    from ferzoo import data as fdata

    loaded = fdata.load("synthetic_faces/tiny", image_size=32, data_dir=data_dir)
    five = loaded.select([0, 1, 2, 3, 4], list(loaded.class_names[:5]), "synthetic_faces-5")
    assert five.num_classes == 5 and sum(five.sizes.values()) == 100
    model7 = ferzoo.build("resnet18", num_classes=7, input_shape=(32, 32, 3), **SMALL)
    with pytest.raises(ValueError, match="model outputs 7 classes but the dataset has 5"):
        train(model7, five, epochs=1, output_dir="/nonexistent/never-written")


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="epochs must be a positive int. Received: epochs=0"):
        train("resnet18", "synthetic_faces/tiny", epochs=0)
    with pytest.raises(ValueError, match="--set takes key=value"):
        parse_overrides(["depths"])
    assert parse_overrides(["attention=wca", "msc_kernels=(3,5)"]) == {
        "attention": "wca",
        "msc_kernels": (3, 5),
    }


def test_ablation_grids_are_registered_and_tabulated():
    names = ferzoo.list_models()
    assert ablation_grid("cnn", "msc_wca", names) == [
        "cnn",
        "mcnn",
        "wca_cnn",
        "wca_mcnn",
        "wse_mcnn",
    ]
    assert ablation_grid("resnet34", "wamf", names)[-1] == "wamf_resnet34"
    with pytest.raises(ValueError, match="has no cnn family"):
        ablation_grid("cnn", "wamf", names)
    row = dict(
        model="resnet18", macro_precision=0.5, macro_recall=0.25, macro_f1=0.3, accuracy=0.75
    )
    table = ablation_table([{**row, "params": 11_180_000, "macs": 1_820_000_000}], "t")
    assert "| resnet18 | 50.000 | 25.000 | 0.300000 | 75.000 | 11.1800 | 1.8200 |" in table


def test_checkpoints_hold_at_most_four_and_a_half_weight_sizes(data_dir, tmp_path):
    """One weights+optimizer file for the last epoch and the kept weights once: <= 4.5x the
    float32 weights after a 2-epoch run (it was 8x per epoch)."""
    result = train("resnet18", "synthetic_faces/tiny", image_size=32, epochs=2, batch_size=16,
                   data_dir=data_dir, output_dir=str(tmp_path / "run"), model_overrides=SMALL,
                   evaluate_test=False, verbose=0)  # fmt: skip
    ckpt = tmp_path / "run" / "checkpoints"
    names = sorted(p.name for p in ckpt.iterdir())
    assert names[-1] == "state.json" and names[0].startswith("best-")
    assert "epoch-0002.weights.h5" in names and not any(n.endswith(".npz") and "epoch" in n
                                                         for n in names)  # fmt: skip
    weights = 4 * sum(int(np.prod(w.shape)) for w in result.model.weights)
    total = sum(p.stat().st_size for p in ckpt.iterdir())
    assert total <= 4.5 * weights, (total / weights, names)


def test_model_keras_holds_the_weights_and_config_only(data_dir, tmp_path):
    """model.keras is for serving: no optimizer state, no compile config (it was 3x the weights
    with Adam's slots). Bound: 1.05x the float32 weights + 64 KiB for the zip's entries and
    config.json (ResNet18: 1.006x, 45.0 MB for 44.8 MB of weights). It loads with
    keras.saving.load_model and no custom_objects, uncompiled, holding the kept weights."""
    import io
    import zipfile

    import h5py

    out = tmp_path / "run"
    result = train("resnet18", "synthetic_faces/tiny", image_size=32, epochs=1, batch_size=16,
                   data_dir=data_dir, output_dir=str(out), evaluate_test=False,
                   checkpoint=False, verbose=0)  # fmt: skip
    path = out / "model.keras"
    weights = result.model.get_weights()
    float32_bytes = sum(w.size * 4 for w in weights)
    size = path.stat().st_size
    assert size <= 1.05 * float32_bytes + 64 * 1024, (size, float32_bytes)
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
        with h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as stored:
            assert "optimizer" not in stored and "layers" in stored
    assert not config.get("compile_config")  # {} when not compiled

    import ferzoo.layers  # noqa: F401  (registers ferzoo's layers with Keras)

    loaded = keras.saving.load_model(str(path))
    assert not loaded.compiled
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), weights, strict=True))
    x = np.random.default_rng(0).random((3, 32, 32, 3), np.float32)
    expected = result.model.predict(x, verbose=0)  # the trained model, fused batch norm on TF
    assert np.allclose(loaded.predict(x, verbose=0), expected, atol=1e-5)


def test_a_sweep_trial_writes_no_checkpoint(data_dir, tmp_path):
    result = train("resnet18", "synthetic_faces/tiny", image_size=32, epochs=2, batch_size=16,
                   data_dir=data_dir, output_dir=str(tmp_path / "trial"), model_overrides=SMALL,
                   evaluate_test=False, checkpoint=False, resume=False, verbose=0)  # fmt: skip
    assert not (tmp_path / "trial" / "checkpoints").exists()
    assert result.best_epoch in (0, 1) and len(result.history["loss"]) == 2


def test_training_fits_uint8_batches_through_face_augment(data_dir, tmp_path):
    """Issue 18: `fit` gets uint8 pixels and augments them in the step (FaceAugment at the
    run's strength); the kept network, model.keras and the metrics know nothing of it: the
    validation loss in the history is the network's own loss on the unaugmented images."""
    from ferzoo import data as fdata
    from ferzoo.layers import FaceAugment

    seen = {}

    class Look(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            seen["input"] = self.model.inputs[0].dtype
            seen["augment"] = [layer.strength for layer in self.model.layers
                               if isinstance(layer, FaceAugment)]  # fmt: skip

    out = tmp_path / "run"
    result = train("resnet18", "synthetic_faces/tiny", image_size=32, epochs=1, batch_size=16,
                   augment=0.5, data_dir=data_dir, output_dir=str(out), model_overrides=SMALL,
                   evaluate_test=False, checkpoint=False, callbacks=[Look()], verbose=0,
                   data_on_device="off")  # fmt: skip
    assert seen == {"input": "uint8", "augment": [0.5]}
    saved = keras.saving.load_model(str(out / "model.keras"))
    for model in (result.model, saved):
        assert model.inputs[0].dtype == "float32"
        assert not any(isinstance(layer, FaceAugment) for layer in model._flatten_layers())
    assert [w.path for w in saved.weights] == [w.path for w in result.model.weights]
    loaded = fdata.load("synthetic_faces/tiny", image_size=32, batch_size=16, seed=0,
                        data_dir=data_dir)  # fmt: skip
    metrics = result.model.evaluate(loaded["validation"], return_dict=True, verbose=0)
    assert metrics["loss"] == pytest.approx(result.val_loss, rel=1e-4, abs=1e-5)


def test_data_on_device_gives_the_same_history_as_host_batches(data_dir, tmp_path, monkeypatch):
    """Issue 18: a seeded 2-epoch run with the images on the device (`fit` gets int32 rows,
    the step gathers them from an ImageTable) has the history of the run on host uint8
    batches. On TensorFlow and JAX the device run also takes the "auto" steps-per-execution
    path a GPU takes (one step per call in the first epoch, then several per call), forced
    here on the CPU: the history is still the same, epoch by epoch."""
    from ferzoo.training import step_loop

    monkeypatch.setattr(step_loop, "tunes", lambda value, backend, device: backend != "torch")
    monkeypatch.setattr(step_loop, "FAST_STEP_S", 1e9)  # every step counts as short
    monkeypatch.setattr(step_loop, "TARGET_S", 1e9)  # and a call takes the whole epoch
    inputs, runs = {}, {}

    class Look(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            inputs.setdefault(self.model.inputs[0].dtype, 0)

    for where in ("off", "on"):
        runs[where] = train("resnet18", "synthetic_faces/tiny", image_size=32, epochs=2,
                            batch_size=16, seed=3, data_dir=data_dir, model_overrides=SMALL,
                            output_dir=str(tmp_path / where), evaluate_test=False,
                            checkpoint=False, callbacks=[Look()], verbose=0,
                            data_on_device=where, steps_per_execution="auto")  # fmt: skip
    assert set(inputs) == {"uint8", "int32"}
    off, on = (runs[k].history for k in ("off", "on"))
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(on[key], off[key], rtol=1e-5, atol=1e-6, err_msg=key)
    with open(tmp_path / "on" / "config.json") as f:
        placed = json.load(f)["data_on_device"]
    assert placed["choice"] == "on" and placed["on"] and placed["bytes"] > 0
    steps = runs["on"].timings["steps_per_execution"]
    assert steps == (1 if keras.backend.backend() == "torch" else 7)  # 112 images / 16


def test_bad_step_options_are_named_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="data_on_device=.sometimes."):
        train("resnet18", "no_such_dataset", data_on_device="sometimes",
              output_dir=str(tmp_path))  # fmt: skip
    with pytest.raises(ValueError, match="steps_per_execution=0"):
        train("resnet18", "no_such_dataset", steps_per_execution=0, output_dir=str(tmp_path))
    if keras.backend.backend() == "torch":
        with pytest.raises(ValueError, match="PyTorch backend.*steps_per_execution=4"):
            train("resnet18", "no_such_dataset", steps_per_execution=4, output_dir=str(tmp_path))
