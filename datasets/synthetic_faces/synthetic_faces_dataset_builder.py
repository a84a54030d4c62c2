"""synthetic_faces: procedurally drawn faces with seven expressions (no download).

Build it with `tfds build datasets/synthetic_faces` (add `--config tiny` for the test size), or
through `ferzoo.data.load("synthetic_faces")`, which prepares it on first use.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from ferzoo import face, synthetic
from ferzoo.datasets import facts, manual


@dataclasses.dataclass
class SyntheticFacesConfig(tfds.core.BuilderConfig):
    """Size of the generated set (the only thing that changes the files written)."""

    num_subjects: int = 24
    images_per_class: int = 6
    image_size: int = 96
    seed: int = 0


class Builder(tfds.core.GeneratorBasedBuilder):
    """DatasetBuilder for synthetic_faces."""

    VERSION = tfds.core.Version("1.2.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release.",
        "1.1.0": "Stronger expression cues (bigger brow, eye and mouth changes, thicker lips and "
        "brows), intensity floor 0.55 -> 0.65, occlusion in 20 % of images (was 25 %).",
        "1.2.0": "face_landmarks (five points, (y, x) in [0, 1], all -1 where none) beside "
        "face_box; faces found by YuNet unless built with --detector haar; the detector and "
        "its version in the metadata.",
    }
    BUILDER_CONFIGS = [
        SyntheticFacesConfig(
            name="default",
            description="24 subjects x 7 classes x 6 images, 96x96 RGB (1,008 images).",
        ),
        SyntheticFacesConfig(
            name="tiny",
            description="10 subjects x 7 classes x 2 images, 48x48 RGB (140 images), for tests.",
            num_subjects=10,
            images_per_class=2,
            image_size=48,
        ),
    ]
    DEFAULT_CONFIG_NAME = "default"
    PROTOCOL_FACTS = facts.ProtocolFacts(
        fractions=(0.8, 0.1, 0.1), has_subjects=True, source="ferzoo's choice: 8:1:1"
    )

    def _info(self) -> tfds.core.DatasetInfo:
        size = self.builder_config.image_size
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 3), encoding_format="png"),
                    "label": tfds.features.ClassLabel(names=list(synthetic.CLASS_NAMES)),
                    "subject_id": tfds.features.Text(),
                    "face_box": tfds.features.BBoxFeature(),
                    "face_landmarks": tfds.features.Tensor(shape=(5, 2), dtype=np.float32),
                    "filename": tfds.features.Text(),
                }
            ),
            supervised_keys=("image", "label"),
            metadata=manual.face_metadata(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        del dl_manager  # nothing to download
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        config = self.builder_config
        for item in synthetic.generate(
            num_subjects=config.num_subjects,
            images_per_class=config.images_per_class,
            size=config.image_size,
            seed=config.seed,
        ):
            found = face.largest_face(item["image"])
            yield (
                item["filename"],
                {
                    "image": item["image"],
                    "label": item["label"],
                    "subject_id": item["subject_id"],
                    "face_box": tfds.features.BBox(*found.box.tolist()),
                    "face_landmarks": found.landmarks,
                    "filename": item["filename"],
                },
            )
