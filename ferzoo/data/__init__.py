"""Datasets in, batches out: protocols, pipelines and the one preprocessing of ferzoo.

    import ferzoo.data

    data = ferzoo.data.load("synthetic_faces", protocol="subject", fold=3, image_size=64)
    model.fit(data["train"], validation_data=data["validation"])  # float32 [0, 1], unaugmented
    data.class_names, data.sizes, data.subjects["test"]

The modules, from the bottom floor up (each imports only from the floors below it):

- `ferzoo.data.base`: a prepared dataset's names, folder and errors (`DatasetNotReadyError`,
  `damaged`), and `Columns`, the per-example columns the protocols split on.
- `ferzoo.data.protocols`: the `paper` and `subject` protocols (pure NumPy on the label,
  subject and split columns; the per-dataset facts come from the builders).
- `ferzoo.data.imaging`: crop to the face box, resize, RGB, [0, 1]: the same NumPy code
  for training (every pipeline), `ferzoo predict`, `ferzoo explain` and the exported models'
  users.
- `ferzoo.data.augment`: the training augmentation's recipe and constants, and its NumPy
  reference (training applies `ferzoo.layers.FaceAugment` in the step, on the device).
- `ferzoo.data.shards`: the shard files of a prepared dataset, the TFRecord framing, the
  example ids.
- `ferzoo.data.tfrecord_reader`, `ferzoo.data.array_record_reader`: the two readers, one per
  storage format (tf.data on the TFRecord shards; TFDS's data source on the ArrayRecord copy,
  no TensorFlow), each with `read_columns` and `read_images`.
- `ferzoo.data.readers`: `READERS`, the table of the two by name (`load(..., reader=)`), and
  the reads through it: the split columns (`columns_of`) and the images, read once into memory.
- `ferzoo.data.preparation`: the TFDS builders, preparation (`prepare`) and its ArrayRecord
  copy, class names (`info`).
- `ferzoo.data.batching`: the batches: tf.data, or a NumPy `keras.utils.PyDataset`; float32
  in [0, 1] for users, uint8 for `ferzoo.train`; neither augments.
- `ferzoo.data.parts`: `Part` and `LoadedData`, the loaded parts and their batches.
- `ferzoo.data.loader`: `load` and `subjects`.

Importing `ferzoo.data` loads neither TensorFlow nor TFDS; they load when a dataset is read.
"""

from __future__ import annotations

from ferzoo.data.base import DatasetNotReadyError
from ferzoo.data.imaging import preprocess
from ferzoo.data.loader import load, subjects
from ferzoo.data.parts import LoadedData
from ferzoo.data.preparation import DataInfo, info, prepare
from ferzoo.data.protocols import (
    PARTS,
    PROTOCOLS,
    split_indices,
    stratified_split,
    subject_split,
)

__all__ = [
    "PARTS",
    "PROTOCOLS",
    "DataInfo",
    "DatasetNotReadyError",
    "LoadedData",
    "info",
    "load",
    "prepare",
    "preprocess",
    "split_indices",
    "stratified_split",
    "subject_split",
    "subjects",
]
