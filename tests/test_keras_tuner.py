"""The KerasTuner HyperModel (`sweeps/keras_tuner_model.py`) searches the Optuna sweeps' space."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

keras_tuner = pytest.importorskip("keras_tuner")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sweeps"))

from keras_tuner_model import FerHyperModel  # noqa: E402

from ferzoo.sweep import space  # noqa: E402


def _defaults(param, values):
    # KerasTuner's defaults: the first choice, the low end of a range.
    return param.choices[0] if param.choices is not None else param.low


@pytest.mark.parametrize("space_name", sorted(space.SPACES))
def test_hyperparameters_mirror_the_optuna_space(space_name):
    hp = keras_tuner.HyperParameters()
    values = FerHyperModel(space_name, dataset=None).params(hp)
    expected = space.sample(space_name, _defaults, exclude=("augment",))
    assert values == expected
    assert {h.name for h in hp.space} == set(expected)


def test_conditional_hyperparameters_follow_their_parents():
    hp = keras_tuner.HyperParameters()
    hp.Choice("backbone", list(space.BACKBONES), ordered=False)
    hp.values["backbone"] = "resnet34"
    hp.Choice("stem", ["conv", "msc"], ordered=False)
    hp.values["stem"] = "msc"
    hp.Choice("mf", [False, True], ordered=False)
    hp.values["mf"] = True
    values = FerHyperModel("full").params(hp)
    assert values["msc_kernels"] == "3,5,7" and values["mf_kernels"] == "1,7,5,3"
    kernels = {h.name: h for h in hp.space}["mf_kernels"]
    assert {c.name for c in kernels.conditions} == {"backbone", "mf"}
    name, overrides, _ = space.to_build(values, "full")
    assert name == "resnet34" and overrides["msc_kernels"] == (3, 5, 7)
    assert overrides["fusion"] == "mf" and "routings" not in values


@pytest.mark.slow
@pytest.mark.tf_only
def test_random_search_runs_two_trials_on_tiny_synthetic_faces(tmp_path):
    from ferzoo import synthetic

    images, labels, _ = synthetic.generate_arrays(num_subjects=3, images_per_class=1, size=32)
    x, y = images.astype("float32") / 255.0, labels.astype("int32")
    hypermodel = FerHyperModel("demo", num_classes=7, image_size=32, fixed={"batch_size": 8})
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_accuracy",
        max_trials=2,
        seed=1,  # draws one plain stem and one MsC stem
        directory=str(tmp_path),
        project_name="demo",
    )
    tuner.search(x, y, validation_data=(x, y), epochs=1, verbose=0)

    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    assert all(0.0 <= t.score <= 1.0 for t in trials)
    stems = set()
    for trial in trials:
        hp = trial.hyperparameters
        stems.add(hp.get("stem"))
        model = hypermodel.build(hp)  # the model each trial trained
        layer_names = {layer.name for layer in model.layers}
        assert ("stem_msc" in layer_names) == (hp.get("stem") == "msc")
        assert ("msc_kernels" in hp.values) == (hp.get("stem") == "msc")
    assert stems == {"conv", "msc"}
    best = tuner.get_best_models(1)[0]
    assert best.predict(x[:2], verbose=0).shape == (2, 7)
    np.testing.assert_allclose(best.predict(x[:2], verbose=0).sum(axis=1), 1.0, rtol=1e-4)
