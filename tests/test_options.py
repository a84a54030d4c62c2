"""Training options are declared once (`ferzoo.training.options`): the command line, the
keywords of `ferzoo.train`, the configuration, the run's identity and a sweep's workers all
follow the table (issue 32)."""

from __future__ import annotations

import dataclasses
import inspect
import json

import pytest

from ferzoo.cli import build_parser
from ferzoo.commands import common
from ferzoo.commands import sweep as sweep_cli
from ferzoo.training import options, trainer
from tests.sweep_testing import sent_to_worker
from tests.test_cli import data_dir  # noqa: F401, F811  (the fixture: synthetic_faces/tiny)
from tests.test_imports import import_graph

pytestmark = pytest.mark.backend_free

MADE_UP = options.Option(
    "made_up_strength", "training", 0.5, "a made-up option, declared only by this test",
    parse=float, sweep="pin",
)  # fmt: skip


def _help(capsys, command: list[str]) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    return capsys.readouterr().out


def test_every_option_reaches_the_help_the_signature_and_the_spec(capsys):
    text = _help(capsys, ["train"])
    for option in options.OPTIONS:
        if option.on_command_line:
            assert (option.flags or (f"--{option.name.replace('_', '-')}",))[0] in text
    signature = inspect.signature(trainer.train).parameters
    names = [o.name for o in options.OPTIONS]
    assert [name for name in signature if name in names] == names
    run_fields = [f.name for f in dataclasses.fields(trainer.Spec)][1:]
    assert run_fields == [o.name for o in options.of_part("run")]
    assert "made_up_strength" not in text


def test_a_made_up_option_declared_once_is_everywhere(monkeypatch, capsys, tmp_path, data_dir):  # noqa: F811
    monkeypatch.setattr(options, "OPTIONS", (*options.OPTIONS, MADE_UP))
    # The command line: its flag, and the keyword it becomes.
    assert "--made-up-strength" in _help(capsys, ["train"])
    args = build_parser().parse_args(["train", "--model", "resnet18", "--made-up-strength", "0.25"])
    assert common.train_kwargs(args)["made_up_strength"] == 0.25
    # A sweep: its flag, the settings its workers are sent, pinned with the study.
    sweep_args = ["--study", "demo", "--made-up-strength", "0.75"]
    settings = sweep_cli.settings_from_args(sweep_cli.build_parser().parse_args(sweep_args))
    assert sent_to_worker(settings, 1).training.options["made_up_strength"] == 0.75
    assert settings.train_keywords({"learning_rate": 1e-3})["made_up_strength"] == 0.75
    # ferzoo.train takes it, and the run records it in config.json and its identity.
    from ferzoo import train

    out = tmp_path / "run"
    result = train("resnet18", "synthetic_faces/tiny", made_up_strength=0.25, data_dir=data_dir,
                   image_size=32, epochs=1, model_overrides={"depths": (1, 1, 1, 1),
                   "widths": (8, 8, 8, 8)}, output_dir=str(out), evaluate_test=False,
                   checkpoint=False, outputs="summary", verbose=0)  # fmt: skip
    recorded = json.loads((out / "config.json").read_text())["config"]
    assert recorded["training"]["made_up_strength"] == 0.25
    assert result.identity["made_up_strength"] == 0.25
    with pytest.raises(TypeError, match="made_up_strengh"):
        train("resnet18", "synthetic_faces/tiny", made_up_strengh=0.25)


def test_the_sweep_package_imports_nothing_from_the_commands():
    upward = {module: sorted(t for t in targets if t.startswith("ferzoo.commands"))
              for module, targets in import_graph().items() if module.startswith("ferzoo.sweep")}  # fmt: skip
    assert not {module: targets for module, targets in upward.items() if targets}
