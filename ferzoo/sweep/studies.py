"""The table of studies `sweeps/run.py --study NAME` knows: dataset, protocol, metric, defaults.

Every study maximises a metric measured on the validation part (`val_accuracy`); the test part is
used once, by the retrained best configuration, after the study. The protocols are those of
`ferzoo.data.load`. The studies use `"subject"` (subject-independent folds: no person is in two
parts) wherever the dataset has subject ids, so the search rewards designs that recognise the
expressions of people it has not seen; the papers' `"paper"` split shares subjects between the
parts and would reward memorising identities. FESR has no subject ids, so it uses `"paper"`.

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
            description="CK+ (manual download): the full design space of both papers.",
        ),
        StudyConfig(
            "jaffe",
            dataset="jaffe",
            protocol="subject",
            description="JAFFE (manual download): the full design space of both papers.",
        ),
        StudyConfig(
            "kdef",
            dataset="kdef",
            protocol="subject",
            description="KDEF (manual download): the full design space of both papers.",
        ),
        StudyConfig(
            "fesr",
            dataset="fesr",
            protocol="paper",
            description="FESR (manual download): the full design space of both papers.",
        ),
    )
}
