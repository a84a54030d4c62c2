"""The `ferzoo` command line as a user meets it: mistakes are one line and exit code 2, runs
write only where they are told, and logs carry ferzoo's messages, not the backends' noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import ferzoo
from ferzoo.cli import main
from tests.testing import cli_error_line

# A ResNet18 cut down to one block per stage and narrow stages: trains in seconds at 32 px.
SMALL_SET = ["--set", "depths=(1,1,1,1)", "--set", "widths=(16,16,16,16)"]
NOISE = ("Traceback", "E0000", "WARNING:tensorflow", "is deprecated", "oneDNN")


@pytest.fixture(scope="module")
def data_dir(tiny_data_dir):
    """synthetic_faces/tiny, prepared once per process (conftest.py)."""
    return tiny_data_dir


@pytest.mark.parametrize(
    "args, named",
    [
        (["train", "--model", "resnet19"], "name='resnet19'"),
        (["train", "--model", "resnet18", "--image-size", "8"], "image_size 8 is too small"),
        (["train", "--model", "resnet18", "--epochs", "0"], "epochs=0"),
        (["train", "--model", "resnet18", "--fold", "10", "--num-folds", "10"], "fold=10"),
        (["train", "--model", "resnet18", "--set", "msc_kernels=(2,4)"], "msc_kernels=(2, 4)"),
        (["train", "--model", "resnet18", "--set", "attention_kwargs={'ratio': 0}"],
         "attention_kwargs"),
        (["train", "--model", "resnet18", "--min-epochs", "soon"], "--min-epochs soon"),
        (["cv", "--model", "resnet18", "--folds", "12"], "--folds 12"),
        (["ablate", "--family", "resnet18", "--image-size", "20", "--grid", "wamf"],
         "image_size 20 is too small"),
        (["evaluate", "/nowhere/model.keras"], "/nowhere/model.keras"),
    ],
)  # fmt: skip
def test_user_errors_are_one_line_before_any_work(capsys, tmp_path, args, named):
    os.chdir(tmp_path)
    assert named in cli_error_line(capsys, args)
    assert os.listdir(tmp_path) == []  # nothing was written before the check


def test_a_missing_manual_dir_says_where_to_get_the_data(capsys, tmp_path):
    args = ["train", "--model", "resnet18", "--dataset", "jaffe", "--data-dir", str(tmp_path)]
    line = cli_error_line(capsys, args)
    assert "'jaffe' is not prepared" in line


def test_a_seven_class_model_on_a_five_class_dataset(capsys, tmp_path):
    path = tmp_path / "run" / "model.keras"
    path.parent.mkdir()
    ferzoo.build("resnet18", input_shape=(32, 32, 3), depths=(1, 1, 1, 1),
                 widths=(8, 8, 8, 8)).save(path)  # fmt: skip
    names = ["anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise"]
    (path.parent / "config.json").write_text(json.dumps({"class_names": names, "image_size": 32}))
    line = cli_error_line(capsys, ["evaluate", str(path), "--dataset", "fesr"])
    assert "trained on 7 classes" in line and "fesr has 5" in line


def test_debug_shows_the_traceback(capsys):
    with pytest.raises(ValueError, match="resnet19"):
        main(["--debug", "train", "--model", "resnet19"])


@pytest.mark.slow
def test_ablate_writes_only_below_its_output(data_dir, tmp_path, capsys):
    work = tmp_path / "empty"
    work.mkdir()
    os.chdir(work)
    out = work / "ablation"
    args = ["ablate", "--family", "resnet18", "--dataset", "synthetic_faces/tiny",
            "--image-size", "32", "--epochs", "1", "--data-dir", data_dir, "--output", str(out),
            "--verbose", "0", *SMALL_SET]  # fmt: skip
    assert main(args) == 0
    assert os.listdir(work) == ["ablation"]
    assert sorted(os.listdir(out)) == sorted(
        ["ablation.json", "ablation.md", "ablation.png", "msc_resnet18", "msc_wca_resnet18",
         "resnet18", "wca_resnet18"]
    )  # fmt: skip
    rows = json.loads((out / "ablation.json").read_text())["rows"]
    assert [r["output_dir"] for r in rows] == [str(out / r["model"]) for r in rows]


@pytest.mark.slow
def test_cv_reports_folds_chance_and_subjects(data_dir, tmp_path, capsys):
    out = tmp_path / "cv"
    args = ["cv", "--model", "resnet18", "--dataset", "synthetic_faces/tiny", "--protocol",
            "subject", "--num-folds", "5", "--folds", "0", "3", "--image-size", "32",
            "--epochs", "1", "--data-dir", data_dir, "--output", str(out), "--verbose", "0",
            *SMALL_SET]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((out / "cv.json").read_text())
    assert [r["fold"] for r in summary["folds"]] == [0, 3]
    for row in summary["folds"]:
        assert row["subjects"] == {"train": 6, "validation": 2, "test": 2}
        assert row["chance"]["uniform"] == pytest.approx(1 / 7)
    table = (out / "cv.md").read_text()
    assert "| 3 |" in table and "6/2/2" in table and "mean ± std" in table
    assert "val_accuracy" in table  # the subject protocol's selection rule is stated


@pytest.mark.slow
def test_a_training_log_has_no_backend_noise(data_dir, tmp_path):
    cmd = [sys.executable, "-m", "ferzoo.cli", "train", "--model", "resnet18", "--dataset",
           "synthetic_faces/tiny", "--image-size", "32", "--epochs", "1", "--data-dir",
           data_dir, "--output", str(tmp_path / "run"), *SMALL_SET]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_CPP", "FERZOO_DEBUG"))}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    assert "7/7" in log and "kept epoch 1" in log  # Keras' progress bar, ferzoo's summary
    # Where the run's time went, printed and in timings.json: its parts add up to the wall.
    assert "time (s): data " in log and "; wall " in log
    split = json.loads((tmp_path / "run" / "timings.json").read_text())
    from ferzoo.training.timing import PARTS  # data, build, compile, steps, validation, ...

    assert sum(split[k] for k in PARTS) == pytest.approx(split["wall"]) and split["compile"] > 0
    for noise in NOISE:
        assert noise not in log, noise


@pytest.mark.backend_free
def test_a_closed_pipe_ends_quietly():
    read, write = os.pipe()
    os.close(read)  # `ferzoo models | head` once head has gone
    done = subprocess.run([sys.executable, "-m", "ferzoo.cli", "models"], stdout=write,
                          stderr=subprocess.PIPE, text=True, timeout=300)  # fmt: skip
    os.close(write)
    assert done.returncode == 141, done.stderr
    assert "error" not in done.stderr and "Traceback" not in done.stderr, done.stderr


@pytest.mark.backend_free
def test_ferzoo_sweep_takes_the_options_of_sweeps_run_py():
    from ferzoo.cli import build_parser
    from ferzoo.commands import sweep as sweep_cli

    ours = build_parser()._subparsers._group_actions[0].choices["sweep"]
    options = {a.dest: a.option_strings for a in sweep_cli.build_parser()._actions}
    assert {a.dest: a.option_strings for a in ours._actions} == options
    argv = ["--study", "demo", "--n-trials", "2", "--workers", "2"]
    assert vars(ours.parse_args(argv)) | {"func": None} == vars(
        sweep_cli.build_parser().parse_args(argv)
    ) | {"func": None}


@pytest.mark.slow
def test_ctrl_c_in_a_sweep_is_one_line_and_exit_130(data_dir, tmp_path):
    import signal
    import time

    cmd = [sys.executable, "-m", "ferzoo.cli", "sweep", "--study", "demo", "--dataset",
           "synthetic_faces/tiny", "--n-trials", "2", "--epochs", "3", "--image-size", "32",
           "--data-dir", data_dir, "--storage", f"sqlite:///{tmp_path}/s.db",
           "--results-dir", str(tmp_path / "sweeps")]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("FERZOO_DEBUG")}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)  # fmt: skip
    deadline = time.monotonic() + 300
    lines = []
    for line in proc.stderr:  # wait until the first trial trains
        lines.append(line)
        if "report and trial files in" in line or time.monotonic() > deadline:
            break
    time.sleep(8)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    err = "".join(lines) + err
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err[-3000:]
    assert sum(line.startswith("interrupted") for line in err.splitlines()) == 1, err[-3000:]


@pytest.mark.backend_free
def test_data_command_mistakes_are_one_line(capsys):
    for args in (["data", "build", "nosuch"], ["data", "info", "nosuch"]):
        assert "name='nosuch'" in cli_error_line(capsys, args)
