"""ferzoo export: ONNX (every backend), TFLite and SavedModel (TensorFlow) give the Keras model's
outputs with a free batch dimension and the metadata a user needs; a failed check writes
nothing; an .onnx model serves without Keras or any backend."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import ferzoo
from ferzoo.cli import main
from ferzoo.serving import export as ex
from ferzoo.serving.engines import load_model
from tests.serving_testing import CLASSES, SIZE, drawn_face, save_run, small_model, write_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NORM = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """One small model and its saved run for the module (building and saving it each time cost
    more than most tests' own work); a test gets a copy of the run folder, below."""
    model = small_model()
    return model, save_run(model, tmp_path_factory.mktemp("saved") / "run", normalization=NORM)


@pytest.fixture
def run(saved_run, tmp_path):
    model, path = saved_run
    shutil.copytree(os.path.dirname(path), tmp_path / "run")
    return model, str(tmp_path / "run" / os.path.basename(path))


@pytest.fixture(scope="module")
def exported_run(saved_run, tmp_path_factory):
    """The run's model exported to ONNX once, with its metadata, for the tests that serve or
    compare an .onnx file (the export itself is checked by the tests that call it)."""
    model, path = saved_run
    out = str(tmp_path_factory.mktemp("onnx") / "m.onnx")
    ex.export_model(model, out, "onnx", info=load_model(path)[1])
    return out


def _ort(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session, session.run(None, {"image": x})[0]


def test_onnx_export_matches_keras_with_free_batch_and_metadata(run, tmp_path, capsys):
    model, path = run
    out = tmp_path / "m.onnx"
    assert main(["export", path, "--format", "onnx", "--output", str(out)]) == 0
    assert "max |export - keras|" in capsys.readouterr().out
    x = np.random.default_rng(5).random((5, SIZE, SIZE, 3)).astype(np.float32)
    session, got = _ort(str(out), x)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(reloaded(x)), atol=1e-4)
    assert session.get_inputs()[0].shape == ["batch", SIZE, SIZE, 3]
    assert session.get_outputs()[0].name == "scores"
    meta = ex.read_onnx_metadata(str(out))
    assert meta["class_names"] == CLASSES and meta["input_size"] == SIZE
    assert meta["preprocessing"]["crop_margin"] == 0.1
    assert meta["preprocessing"]["scale"] == "x / 255" and meta["normalization"] == NORM
    assert (meta["model"], meta["dataset"], meta["protocol"], meta["fold"]) == (
        "resnet18",
        "synthetic_faces",
        "subject",
        2,
    )
    assert meta["metrics"]["accuracy"] == 0.875 and meta["scores"] == "softmax"
    assert meta["ferzoo_version"] == ferzoo.__version__
    assert meta["exported_from"] == keras.backend.backend()
    assert sorted(os.listdir(tmp_path)) == ["m.onnx", "run"]  # no temporary file left


def test_a_failed_check_writes_nothing_and_says_by_how_much(run, tmp_path, monkeypatch, capsys):
    _, path = run
    real = ex._run_onnx
    monkeypatch.setattr(ex, "_run_onnx", lambda p, xs: [y + 0.01 for y in real(p, xs)])
    out = tmp_path / "out"
    out.mkdir()
    assert main(["export", path, "--output", str(out / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "differs from the Keras model by 0.01" in err and "nothing was written" in err
    assert os.listdir(out) == []


def test_export_mistakes(run, tmp_path, capsys):
    _, path = run
    assert main(["export", path, "--output", str(tmp_path / "m.pb")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert main(["export", path, "--format", "coreml", "--output", "x"]) == 2
    assert "--format must be one of onnx, tflite, savedmodel, keras" in capsys.readouterr().err
    if keras.backend.backend() != "tensorflow":
        assert (
            main(["export", path, "--format", "tflite", "--output", str(tmp_path / "m.tflite")])
            == 2
        )
        assert "needs the tensorflow backend" in capsys.readouterr().err


def test_capsule_head_exports(tmp_path):
    model = small_model(name="resnet18_caps", primary_capsules=4, primary_dim=4, capsule_dim=4)
    out = str(tmp_path / "caps.onnx")
    diff = ex.export_model(model, out, "onnx")
    assert diff <= 1e-4 and ex.read_onnx_metadata(out)["scores"] == "capsule_lengths"


def test_onnx_serves_without_keras_or_any_backend(run, exported_run, tmp_path):
    _, path = run
    out = exported_run
    picture = write_image(tmp_path / "face.png", drawn_face())
    code = (
        "import sys, time, json\n"
        "t = time.perf_counter()\n"
        "import ferzoo\n"
        "light = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        f"faces = ferzoo.Predictor({out!r}, detect=False).predict({picture!r})\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "print(json.dumps([light, heavy, faces[0]['scores'], time.perf_counter() - t]))\n"
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    light, heavy, scores, _ = json.loads(done.stdout.strip().splitlines()[-1])
    assert light == [] and heavy == []
    in_keras = ferzoo.Predictor(path, detect=False).predict(picture)[0]["scores"]
    assert scores == pytest.approx(in_keras, abs=1e-4)
    # The command line too: `ferzoo predict m.onnx face.png` loads no Keras and no backend.
    cli = (
        "import json, sys\n"
        "from ferzoo import cli\n"
        f"code = cli.main(['predict', {out!r}, {picture!r}, '--no-detect'])\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "print(json.dumps([code, heavy]))\n"
    )
    done = subprocess.run([sys.executable, "-c", cli], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [0, []]


@pytest.mark.tf_only
def test_the_msc_alexnet_style_models_export_to_tflite(tmp_path):
    """mcnn's 3x3 branch at stride 4: written as a "valid" conv, LiteRT (with its default
    XNNPACK delegate) gives Keras' scores; as a "same" conv it was 8e-3 off (issue 22)."""
    keras.utils.set_random_seed(0)
    model = ferzoo.build("mcnn", num_classes=7, input_shape=(64, 64, 3), fc_units=16)
    path = str(tmp_path / "mcnn.keras")
    model.save(path)
    out = tmp_path / "mcnn.tflite"
    assert main(["export", path, "--format", "tflite", "--output", str(out)]) == 0
    x = np.random.default_rng(1).random((2, 64, 64, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(ex._run_tflite(str(out), [x])[0], expected, atol=1e-5)


@pytest.mark.tf_only
def test_tflite_and_savedmodel_exports(run, tmp_path):
    import tensorflow as tf

    model, path = run
    x = np.random.default_rng(1).random((3, SIZE, SIZE, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(model(x))
    out = tmp_path / "m.tflite"
    assert main(["export", path, "--format", "tflite", "--output", str(out)]) == 0
    got = ex._run_tflite(str(out), [x])[0]
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert json.loads((tmp_path / "m.ferzoo.json").read_text())["class_names"] == CLASSES
    served_dir = tmp_path / "serving"
    assert main(["export", path, "--format", "savedmodel", "--output", str(served_dir)]) == 0
    served = tf.saved_model.load(str(served_dir))
    np.testing.assert_allclose(np.asarray(served.serve(x)), expected, atol=1e-5)
    assert json.loads((served_dir / "ferzoo.json").read_text())["class_names"] == CLASSES


def test_keras_export_round_trip(run, tmp_path):
    model, _ = run
    assert ex.export_model(model, str(tmp_path / "copy" / "m.keras"), "keras") < 1e-6


PAPER_MODELS = {  # the named models, at small inputs (the CNN's FC layers shrunk)
    "resnet18": dict(size=64),
    "wamf_resnet18": dict(size=64),
    "msc_wca_resnet18": dict(size=64),
    "wca_mcnn": dict(size=96, fc_units=256),
}


@pytest.mark.parametrize("name", list(PAPER_MODELS))
def test_paper_models_export_and_match_load_model(name, tmp_path):
    """The four papers' models at full width, exported from TensorFlow, PyTorch and JAX: ONNX
    Runtime within 1e-4 of Keras, and OpenVINO and OpenCV DNN (where installed) within their
    tolerances, with the same output shape, at batch 1 and then 3 in one net (issue 22)."""
    kwargs = dict(PAPER_MODELS[name])
    size = kwargs.pop("size")
    keras.utils.set_random_seed(0)
    model = ferzoo.build(name, num_classes=7, input_shape=(size, size, 3), **kwargs)
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    out = str(tmp_path / f"{name}.onnx")
    assert main(["export", path, "--format", "onnx", "--output", out]) == 0
    x = np.random.default_rng(2).random((2, size, size, 3)).astype(np.float32)
    reference = keras.ops.convert_to_numpy(keras.saving.load_model(path)(x, training=False))
    np.testing.assert_allclose(_ort(out, x)[1], reference, atol=1e-4)
    model = keras.saving.load_model(path)
    for row in ex.check_runtimes(model, out, repeats=0):  # OpenVINO, OpenCV where installed
        assert row.loads and row.same_shape and row.max_diff <= TOLERANCE[row.runtime], row


def test_msc_stem_is_rewritten_and_still_matches(tmp_path):
    import onnx

    model = small_model(name="msc_wca_resnet18", stem_filters=8, msc_kernels=(3, 5))
    out = str(tmp_path / "msc.onnx")
    assert ex.export_model(model, out, "onnx") <= 1e-4
    ops = [n.op_type for n in onnx.load(out).graph.node]
    if keras.backend.backend() == "tensorflow":  # tf2onnx's NCHW graph: both rewrites apply
        assert "Pad" not in ops and ops.count("MaxPool") == 2


RUNTIME_MODELS = {  # shrunk; between them: the capsule head, WA, MF, the MsC stem and WCA
    "wamf_resnet18": dict(
        attention_kwargs={"reduction": 4}, primary_capsules=4, primary_dim=4, capsule_dim=4
    ),
    "msc_wca_resnet18": dict(stem_filters=8, msc_kernels=(3, 5)),
}
TOLERANCE = {"onnxruntime": 1e-4, "openvino": 1e-4, "opencv": 1e-3}


def _spread_capsules(model) -> None:
    """Scale the capsule kernels up: at random initialisation every capsule length is ~0."""
    for layer in model.layers:
        if type(layer).__name__ in ("PrimaryCapsule", "Capsule"):
            for weight in layer.trainable_weights:
                weight.assign(weight * 30.0)


@pytest.mark.parametrize("name", list(RUNTIME_MODELS))
def test_every_installed_runtime_matches_keras(name, tmp_path):
    from ferzoo.serving import runtimes

    model = small_model(name=name, **RUNTIME_MODELS[name])
    _spread_capsules(model)
    out = str(tmp_path / f"{name}.onnx")
    ex.export_model(model, out, "onnx")
    rows = {r.runtime: r for r in ex.check_runtimes(model, out, repeats=0)}
    spread = np.ptp(keras.ops.convert_to_numpy(model(ex._face_batch(model, None))))
    assert spread > 0.01  # the outputs differ between faces: the comparison means something
    for runtime in [r for r in runtimes.RUNTIMES if runtimes.installed(r)]:
        row = rows[runtime]
        assert row.loads, f"{runtime}: {row.error}"
        assert row.same_shape and row.max_diff <= TOLERANCE[runtime], row


def test_an_alexnet_style_model_at_64_px_runs_where_no_note_says_otherwise(tmp_path):
    """cnn at 64 px (its last map is 1x1 before the 6x6 pool: PyTorch's Expand, tf2onnx's
    rank-5 Tile and jax2onnx's Expand to a computed shape, each rewritten as a rank-4 Tile; and
    jax2onnx's rank-6 window sums, rewritten as pools): every installed runtime that
    `known_limits` does not name matches Keras, every one it names does fail (the notes are
    neither missing nor stale), and it names none on any backend."""
    from ferzoo.serving import runtimes

    keras.utils.set_random_seed(0)
    model = ferzoo.build("cnn", num_classes=7, input_shape=(64, 64, 3), fc_units=16)
    out = str(tmp_path / "cnn.onnx")
    ex.export_model(model, out, "onnx")
    limits = runtimes.known_limits(out)
    for row in ex.check_runtimes(model, out, repeats=0):
        works = row.loads and row.same_shape and row.max_diff <= TOLERANCE[row.runtime]
        assert works != (row.runtime in limits), (row, limits)
    assert limits == {}


def test_check_runtimes_prints_a_table(run, tmp_path, capsys):
    _, path = run
    out = str(tmp_path / "m.onnx")
    assert main(["export", path, "--output", out, "--check-runtimes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("| runtime | loads | max abs diff vs Keras")
    row = next(line for line in lines if line.startswith("| onnxruntime |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "yes" and float(cells[2]) <= 1e-4 and float(cells[4]) > 0
    assert not [line for line in lines if line.startswith("note: ")]  # none, on every backend
    assert main(["export", path, "--format", "keras", "--output", out + ".keras",
                 "--check-runtimes"]) == 2  # fmt: skip
    assert "--check-runtimes works on .onnx files only" in capsys.readouterr().err


def test_predict_on_openvino_gives_onnx_runtimes_rows(run, exported_run, tmp_path, capsys):
    pytest.importorskip("openvino")
    import csv

    _, path = run
    out = exported_run
    pictures = [write_image(tmp_path / f"{i}.png", drawn_face(seed=i)) for i in (0, 9)]
    tables = {}
    for engine in ("onnxruntime", "openvino"):
        csv_path = tmp_path / f"{engine}.csv"
        assert main(["predict", out, *pictures, "--output", str(csv_path), "--quiet",
                     "--engine", engine]) == 0  # fmt: skip
        with open(csv_path) as f:
            tables[engine] = list(csv.DictReader(f))
    ort_rows, ov_rows = tables["onnxruntime"], tables["openvino"]
    assert len(ort_rows) == len(ov_rows) >= 2 and ort_rows[0].keys() == ov_rows[0].keys()
    for a, b in zip(ort_rows, ov_rows, strict=True):
        assert (a["file"], a["face"], a["label"]) == (b["file"], b["face"], b["label"])
        for name in ["score", *(f"score_{c}" for c in CLASSES)]:
            assert float(a[name]) == pytest.approx(float(b[name]), abs=1e-4)
    assert main(["predict", path, pictures[0], "--engine", "openvino"]) == 2
    assert "--engine openvino runs .onnx files only" in capsys.readouterr().err


def test_without_openvino_the_engine_says_which_extra_and_the_table_leaves_it_out(
    run, exported_run, tmp_path, monkeypatch, capsys
):
    from ferzoo.serving import runtimes

    model, _ = run
    out = exported_run
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now fails
    real_find = runtimes.importlib.util.find_spec
    monkeypatch.setattr(
        runtimes.importlib.util, "find_spec", lambda n: None if n == "openvino" else real_find(n)
    )
    checked = [r.runtime for r in ex.check_runtimes(model, out, repeats=0)]
    assert checked[0] == "onnxruntime" and "openvino" not in checked
    picture = write_image(tmp_path / "face.png", drawn_face())
    assert main(["predict", out, picture, "--engine", "openvino"]) == 2
    assert "pip install 'ferzoo[openvino]'" in capsys.readouterr().err


def _graph(tmp_path, nodes, initializers=(), producer="tf2onnx"):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.asarray(v), name) for name, v in initializers],
    )  # fmt: skip
    path = str(tmp_path / f"{len(list(tmp_path.iterdir()))}.onnx")
    onnx.save(helper.make_model(graph, producer_name=producer), path)
    return path


def test_known_runtime_limits_are_read_from_the_graph(tmp_path):
    """`ferzoo export` names the runtimes known to fail on a file (issue 22): QDQ int8 and
    PyTorch's Expand and an Expand to a computed shape for OpenCV, a multi-axis Unsqueeze
    (OpenCV) and a rank-6 Conv (OpenVINO and OpenCV); a plain graph has none."""
    from onnx import helper

    from ferzoo.serving.runtimes import LIMITS, known_limits

    node = helper.make_node
    conv = [node("Conv", ["x", "w"], ["y"])]
    assert known_limits(_graph(tmp_path, conv, [("w", np.ones((2, 3, 3, 3), np.float32))])) == {}
    quantized = [node("QuantizeLinear", ["x", "s"], ["q"]), node("Relu", ["q"], ["y"])]
    path = _graph(tmp_path, quantized, [("s", np.float32(0.1))])
    assert known_limits(path) == {"opencv": LIMITS["int8"]}
    expand = [node("Expand", ["x", "shape"], ["y"])]
    path = _graph(tmp_path, expand, [("shape", np.array([1, 3], np.int64))], producer="pytorch")
    assert known_limits(path) == {"opencv": LIMITS["expand"]}
    path = _graph(tmp_path, expand, [("shape", np.array([1, 3], np.int64))])
    assert known_limits(path) == {}  # an Expand from another exporter is fine
    unsqueeze = [node("Unsqueeze", ["x", "axes"], ["y"])]
    path = _graph(tmp_path, unsqueeze, [("axes", np.array([0, 1], np.int64))])
    assert known_limits(path) == {"opencv": LIMITS["unsqueeze"]}
    path = _graph(tmp_path, unsqueeze, [("axes", np.array([0], np.int64))])
    assert known_limits(path) == {}
    path = _graph(tmp_path, conv, [("w", np.ones((1, 1, 1, 2, 1, 1), np.float32))])
    assert known_limits(path) == {"openvino": LIMITS["conv6"], "opencv": LIMITS["conv6"]}
    computed = [node("Shape", ["x"], ["shape"]), *expand]  # jax2onnx's broadcast
    assert known_limits(_graph(tmp_path, computed, producer="jax2onnx")) == {
        "opencv": LIMITS["expand"]
    }
    path = _graph(tmp_path, [node("Relu", ["x"], ["y"])], producer="jax2onnx")
    assert known_limits(path) == {}  # a jax2onnx graph as such runs everywhere
