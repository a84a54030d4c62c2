"""ferzoo.datasets.facts: every builder declares its protocol facts, and they agree with the
tables ferzoo.data uses today."""

import numpy as np
import pytest

import ferzoo.datasets
from ferzoo import data
from ferzoo.datasets import facts
from ferzoo.datasets.facts import ProtocolFacts

# Backend-independent: run once, on TensorFlow (scripts/test.sh).
pytestmark = pytest.mark.backend_free


@pytest.mark.parametrize("name", ferzoo.datasets.BUILDER_NAMES)
def test_every_builder_declares_facts(name):
    found = facts.of(ferzoo.datasets.builder_class(name))
    assert isinstance(found, ProtocolFacts) and found.source
    assert sum(found.fractions) == pytest.approx(1.0)


def test_facts_match_the_papers_and_distributions():
    of = {
        name: facts.of(ferzoo.datasets.builder_class(name))
        for name in ferzoo.datasets.BUILDER_NAMES
    }
    assert of["kdef"].fractions == of["synthetic_faces"].fractions == (0.8, 0.1, 0.1)
    assert of["ck_plus"].fractions == of["jaffe"].fractions == (0.63, 0.07, 0.30)
    with_subjects = {n for n, f in of.items() if f.has_subjects}
    assert with_subjects == {"ck_plus", "jaffe", "kdef", "synthetic_faces"}
    official = {n for n, f in of.items() if f.official_splits}
    assert official == {"fesr", "fer2013", "raf_db", "affectnet", "image_folder"}
    assert of["fesr"].carve_validation is None
    assert {of[n].carve_validation for n in ("fer2013", "raf_db", "affectnet")} == {0.1}
    kdef = of["kdef"]
    assert [kdef.group(s) for s in ("F01", "AF01", "BF01", "M35", "BM35")] == [
        "F01", "F01", "F01", "M35", "M35"
    ]  # fmt: skip
    assert data.protocols.dataset_facts("kdef/1.0.0") is kdef
    assert of["jaffe"].group("KA") == "KA"


def test_parts_rule():
    carve = ProtocolFacts(official_splits=True, carve_validation=0.1)
    assert carve.parts_rule({"train", "validation", "test"}) == "official"
    assert carve.parts_rule({"train", "test"}) == "carve"
    assert carve.parts_rule({"train"}) == "random"
    fesr = ProtocolFacts(official_splits=True)  # no carving: a partial split is split at random
    assert fesr.parts_rule({"train", "test"}) == "random"
    assert ProtocolFacts().parts_rule({"train", "validation", "test"}) == "random"


def test_bad_facts_are_refused():
    with pytest.raises(ValueError, match="fractions="):
        ProtocolFacts(fractions=(0.8, 0.1, 0.2))
    with pytest.raises(ValueError, match="carve_validation="):
        ProtocolFacts(carve_validation=1.0)
    with pytest.raises(ValueError, match="PROTOCOL_FACTS"):
        facts.of(object())
    assert ProtocolFacts(fractions=np.array([0.5, 0.25, 0.25])).fractions == (0.5, 0.25, 0.25)
