"""The table of studies `sweeps/run.py --study NAME` knows: dataset, protocol, metric, defaults.

Every study maximises a metric measured on the validation part (`val_accuracy`); the test part is
used once, by the retrained best configuration, after the study. The protocols are those of
`ferzoo.data.load`. The studies use `"subject"` (subject-independent folds: no person is in two
parts) wherever the dataset has subject ids, so the search rewards designs that recognise the
expressions of people it has not seen; the papers' `"paper"` split shares subjects between the
parts and would reward memorising identities. FESR, FER2013, RAF-DB and AffectNet have no subject ids, so
they use `"paper"`: the distributed splits (a stratified share of `train` held out as
validation where the distribution has none), as in their literature.

Adding a study is one line.
"""

from __future__ import annotations

from ferzoo.sweep.config import StudyConfig

STUDIES: dict[str, StudyConfig] = {
    s.name: s
    for s in (
        StudyConfig(
            "demo",
            dataset="synthetic_faces",
            protocol="subject",
            space="demo",
            n_trials=6,
            epochs=3,
            image_size=48,
            description="Synthetic faces (no download), a tiny ResNet: a CPU sweep in minutes.",
        ),
        StudyConfig(
            "ck_plus",
            dataset="ck_plus",
            protocol="subject",
            cv_folds=3,
            description="CK+ (manual download): the full design space of both papers.",
        ),
        StudyConfig(
            "jaffe",
            dataset="jaffe",
            protocol="subject",
            cv_folds=3,
            description="JAFFE (manual download): the full design space of both papers.",
        ),
        StudyConfig(
            "kdef",
            dataset="kdef",
            protocol="subject",
            cv_folds=3,
            description="KDEF (manual download): the full design space of both papers.",
        ),
        StudyConfig(
            "fesr",
            dataset="fesr",
            protocol="paper",
            description="FESR (manual download): the full design space of both papers.",
        ),
        # The in-the-wild sets below have no subject ids: their official splits ("paper").
        StudyConfig(
            "fer2013",
            dataset="fer2013",
            protocol="paper",
            image_size=48,  # the images are 48x48 grayscale
            description="FER2013 (manual download), 7 classes, official splits, 48 px.",
        ),
        StudyConfig(
            "fer2013_ferplus",
            dataset="fer2013/ferplus",
            protocol="paper",
            image_size=48,
            description="FER2013 with FERPlus labels (manual download), official splits, 48 px.",
        ),
        StudyConfig(
            "raf_db",
            dataset="raf_db",
            protocol="paper",
            image_size=100,  # the aligned faces are 100x100
            description="RAF-DB basic (manual download), aligned faces, official split, 100 px.",
        ),
        StudyConfig(
            "affectnet",
            dataset="affectnet",
            protocol="paper",
            description="AffectNet, 8 classes (manual download), validation set as test, 112 px.",
        ),
    )
}
