"""Issue 19, items 1 and 2: the space samples only what can be built at the study's image size,
and a fresh study starts from the papers' models."""

from __future__ import annotations

import dataclasses

import optuna
import pytest

import ferzoo
from ferzoo import registry
from ferzoo.models import InfeasibleSizeError
from ferzoo.sweep import space
from ferzoo.sweep.session import enqueue_paper_models
from ferzoo.sweep.studies import STUDIES
from tests.sweep_testing import settings

pytestmark = pytest.mark.backend_free

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def cnn_demo(monkeypatch):
    """The demo space with the `cnn` backbone drawn first (it needs 57-95 px)."""

    def make():
        demo = space.get_space("demo")
        backbone = space.Param("backbone", choices=("cnn", "resnet18"))
        defaults = {k: v for k, v in demo.defaults.items() if k != "backbone"}
        return dataclasses.replace(demo, params=(backbone, *demo.params), defaults=defaults)

    monkeypatch.setitem(space._Spaces._MAKERS, "cnn_demo", make)
    return "cnn_demo"


def _draw(space_name: str, image_size: int | None, n: int = 24) -> list[tuple[str, dict]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = []
    for _ in range(n):
        trial = study.ask()
        model, overrides, _ = space.suggest(trial, space_name, image_size=image_size)
        drawn.append((model, overrides))
        study.tell(trial, 0.5)
    return drawn


def test_a_choice_that_cannot_be_built_is_never_drawn(cnn_demo):
    # The same sampler draws cnn when the space is not narrowed to what 48 px can build...
    assert any(model == "cnn" for model, _ in _draw(cnn_demo, None))
    # ... and never once it is: every drawn configuration builds at 48 px.
    drawn = _draw(cnn_demo, 48)
    assert {model for model, _ in drawn} == {"resnet18"}
    for model, overrides in drawn:
        registry.check(model, 48, **overrides)
    assert space.left_out(cnn_demo, 48) == ["backbone=cnn"]
    assert space.still_infeasible(cnn_demo, 48) == []
    with pytest.raises(InfeasibleSizeError):  # what the trials would have met
        registry.check("cnn", 48)


def test_the_full_space_at_48_px_leaves_the_cnn_out_and_keeps_the_rest():
    narrowed = {p.name: p.choices for p in space.feasible("full", 48).params}
    assert "cnn" not in narrowed["backbone"] and "resnet18" in narrowed["backbone"]
    assert narrowed["head"] == ("dense", "capsule")  # the ResNets take both at 48 px
    # At 64 px the cnn fits with a dense head only: kept, and that combination is listed.
    assert space.left_out("full", 64) == []
    assert space.still_infeasible("full", 64) == [
        "cnn, conv stem, capsule head",
        "cnn, msc stem, capsule head",
    ]


def test_a_fresh_study_starts_with_the_papers_models(tmp_path):
    study_config = dataclasses.replace(STUDIES["demo"], space="full", image_size=64)
    run = settings(tmp_path, study=study_config, image_size=64)
    study = optuna.create_study(direction="maximize")
    assert enqueue_paper_models(study, run) == ["resnet18", "msc_wca_resnet18", "wamf_resnet18"]
    for name in ("resnet18", "msc_wca_resnet18", "wamf_resnet18"):
        trial = study.ask()
        assert trial.user_attrs["paper_model"] == name
        model, overrides, train = space.suggest(trial, study_config, image_size=64)
        assert (train["learning_rate"], train["batch_size"]) == (1e-3, 16)
        # The drawn configuration is the registered model: same parameter count.
        drawn = ferzoo.build(model, input_shape=(64, 64, 3), **overrides)
        paper = ferzoo.build(name, input_shape=(64, 64, 3))
        assert drawn.count_params() == paper.count_params(), name
        study.tell(trial, 0.5)
    assert enqueue_paper_models(study, run) == []  # only a fresh study


def test_the_demo_space_starts_with_the_paper_models_it_can_draw(tmp_path):
    # No capsule head in the demo space: WAMF's ResNet is not among its first trials.
    assert list(space.paper_trials("demo", 48)) == ["resnet18", "msc_wca_resnet18"]
