"""Datasets in, batches out: protocols, pipelines and the one preprocessing of ferzoo.

    import ferzoo.data

    data = ferzoo.data.load("synthetic_faces", protocol="subject", fold=3, image_size=64)
    model.fit(data["train"], validation_data=data["validation"])
    data.class_names, data.sizes, data.subjects["test"]

The parts:

- `ferzoo.data.protocols`: the `paper` and `subject` protocols (pure NumPy on the label,
  subject and split columns; the per-dataset facts come from the builders).
- `ferzoo.data.sources`: the TFDS builders, preparation (`prepare`), class names (`info`),
  the split columns and `subjects`.
- `ferzoo.data.imaging`: crop to the face box, resize, RGB, [0, 1]: the same NumPy code
  for training (every pipeline), `ferzoo predict`, `ferzoo explain` and the exported models'
  users.
- `ferzoo.data.augment`: training-time augmentation, NumPy, the same on every pipeline.
- `ferzoo.data.reading`: the images of a prepared dataset, read once into memory, through
  tf.data or, without TensorFlow, TFDS's data source (`load(..., reader=)`).
- `ferzoo.data.array_records`: the ArrayRecord copy of a prepared dataset that the TensorFlow-
  free reader reads (written by `prepare`, `ferzoo data build`).
- `ferzoo.data.batching`: the batches: tf.data, or a NumPy `keras.utils.PyDataset`.

Importing `ferzoo.data` loads neither TensorFlow nor TFDS; they load when a dataset is read.
"""

from __future__ import annotations

from ferzoo.data.imaging import preprocess
from ferzoo.data.loaded import LoadedData
from ferzoo.data.loading import load
from ferzoo.data.protocols import (
    PARTS,
    PROTOCOLS,
    split_indices,
    stratified_split,
    subject_split,
)
from ferzoo.data.sources import DataInfo, DatasetNotReadyError, info, prepare, subjects

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
