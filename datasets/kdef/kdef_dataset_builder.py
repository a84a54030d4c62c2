"""The Karolinska Directed Emotional Faces (KDEF), read from a manual download.

4,900 colour 562x762 JPEGs: 70 amateur actors (35 female, 35 male), each photographed in two
sessions (A and B) posing 7 expressions from 5 angles. The download (`KDEF_and_AKDEF.zip`) holds
`KDEF_and_AKDEF/KDEF/<code>/<code><expression><view>.JPG`, e.g. `KDEF/AF01/AF01ANS.JPG`:

    A F 01 AN S
    | | |  |  +-- view: FL full left, HL half left, S straight, HR half right, FR full right
    | | |  +----- expression: AF afraid, AN angry, DI disgusted, HA happy, NE neutral, SA sad,
    | | |        SU surprised
    | | +-------- person 01-35
    | +---------- F female, M male
    +------------ session A or B

"S" is one letter and the other views two (AF01ANS, AF01ANHL). The extension's case varies
(.JPG/.jpg). AF01 and BF01 are the same person in two sessions, so `subject_id` is gender + number
("F01") and the session is metadata: a subject split keeps both sessions of a person together.

Features: the ferzoo set (docs/design.md): `image` (uint8 RGB, full frame), `label` (the KDEF
names afraid, angry, disgusted, happy, neutral, sad, surprised), `subject_id`, `face_box` (Haar
detector or the center-crop fallback), `filename`, plus `session` ("A"/"B") and `view`. Configs:
`all` (every view, 4,900 images; default) and `frontal` (view S only, 980 images). One `train`
split; ferzoo.data makes the protocols.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import tensorflow_datasets as tfds

from ferzoo.datasets import facts, manual

EMOTION_CODES = ("AF", "AN", "DI", "HA", "NE", "SA", "SU")
CLASS_NAMES = ("afraid", "angry", "disgusted", "happy", "neutral", "sad", "surprised")
VIEWS = ("FL", "HL", "S", "HR", "FR")
# Session folder (AF01) and file (AF01ANS.JPG, AF01ANHL.jpg) names.
FOLDER_PATTERN = re.compile(r"^[AB][FM]\d{2}$", re.IGNORECASE)
FILE_PATTERN = re.compile(
    r"^([AB])([FM])(\d{2})(AF|AN|DI|HA|NE|SA|SU)(FL|HL|HR|FR|S)\.jpe?g$", re.IGNORECASE
)
EXPECTED = (
    "the KDEF folder (usually `KDEF_and_AKDEF/KDEF/`) holding one folder per session and person "
    "(AF01 ... BM35) of JPEGs named like `AF01ANS.JPG`"
)


def is_kdef_folder(tree: manual.Tree, folder: Path) -> bool:
    """True for a folder with session/person sub-folders (AF01, ...) of KDEF-named JPEGs."""
    return any(
        FOLDER_PATTERN.match(sub.name) and any(FILE_PATTERN.match(f.name) for f in tree.files(sub))
        for sub in tree.dirs(folder)
    )


def person_of(subject_id: str) -> str:
    """The person a KDEF subject id stands for: "F01" for "F01", and for "AF01"/"BF01" (an id that
    kept the session letter), so that both sessions of a person are folded together."""
    match = re.fullmatch(r"[AB]([FM]\d\d)", subject_id, re.IGNORECASE)
    return match.group(1).upper() if match else subject_id


@dataclasses.dataclass
class KdefConfig(tfds.core.BuilderConfig):
    """Which views to keep (the files written differ, hence a config)."""

    views: tuple[str, ...] = VIEWS


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for KDEF (manual download)."""

    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "face_landmarks (five points, (y, x) in [0, 1], all -1 where none) beside "
        "face_box; faces found by YuNet unless built with --detector haar; the detector and "
        "its version in the metadata.",
    }
    BUILDER_CONFIGS = [
        KdefConfig(name="all", description="All five views (FL, HL, S, HR, FR).", views=VIEWS),
        KdefConfig(name="frontal", description="The straight view (S) only.", views=("S",)),
    ]
    DEFAULT_BUILDER_CONFIG_NAME = "all"
    PROTOCOL_FACTS = facts.ProtocolFacts(
        fractions=(0.8, 0.1, 0.1),
        has_subjects=True,
        subject_group=person_of,
        source="the MsC/wCA paper: a random 8:1:1 split; AF01 and BF01 are one person",
    )
    MANUAL_DOWNLOAD_INSTRUCTIONS = """
    KDEF is free for non-commercial research; request it at https://www.kdef.se (formerly
    https://www.emotionlab.se/resources/kdef; Karolinska Institutet). Put the archive as you receive it (`KDEF_and_AKDEF.zip`) or its extracted folder
    anywhere in manual_dir. The builder looks for the `KDEF/` folder of session/person folders
    (AF01 ... BM35) holding JPEGs named like `AF01ANS.JPG` (either extension case); the AKDEF
    (averaged faces) folder beside it is ignored.
    """

    def _info(self) -> tfds.core.DatasetInfo:
        metadata = {"session": tfds.features.Text(), "view": tfds.features.Text()}
        return manual.dataset_info(
            self, CLASS_NAMES, channels=3, metadata=metadata, homepage="https://www.kdef.se"
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        data = manual.ManualData.of(self, dl_manager)
        folder = data.find(is_kdef_folder, expected=EXPECTED)
        tree = data.tree_for(folder)
        files = [f for sub in tree.dirs(folder) for f in tree.files(sub)]
        return {"train": self._generate_examples(files)}

    def _generate_examples(self, files: list[Path]):
        report = manual.SkipReport(self.name)
        views = set(self.builder_config.views)
        for path in manual.sorted_images(files):
            match = FILE_PATTERN.match(path.name)
            if match is None:
                report.skip(path.name, "name does not follow the KDEF code (e.g. AF01ANS.JPG)")
                continue
            session, gender, person, code, view = (g.upper() for g in match.groups()[:5])
            if view not in views:
                continue
            decoded = report.read(path, channels=3)
            if decoded is None:
                continue
            yield (
                path.name,
                manual.example(
                    decoded,
                    label=CLASS_NAMES[EMOTION_CODES.index(code)],
                    filename=path.name,
                    subject_id=f"{gender}{person}",
                    face_box="detect",
                    session=session,
                    view=view,
                ),
            )
        report.summarize()
