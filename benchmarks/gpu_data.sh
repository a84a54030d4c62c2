#!/usr/bin/env bash
# Prepare, here (with TensorFlow), the data that benchmarks/gpu_check.sh trains on, for a GPU
# machine without TensorFlow (issue 11). TFDS writes a dataset's images with TensorFlow, so a
# machine without it cannot prepare one; it reads a prepared one through ferzoo's numpy reader
# (TFDS data sources on the ArrayRecord copy). This builds synthetic_faces (the `demo` study's
# dataset) into .gpu-data/ (git-ignored) and drops the TFRecord files, which only tf.data reads:
# about 18 MB instead of 36.
#
#   bash benchmarks/gpu_data.sh                     # .gpu-data/, with .venv/bin/python
#   PY=/path/to/python DATA=/tmp/d bash benchmarks/gpu_data.sh
#
# Then carry it: the device tool's `carry` names `.gpu-data` (and `.whl`, benchmarks/gpu_wheels.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-.gpu-data}
DATASETS=${DATASETS:-synthetic_faces}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} TF_CPP_MIN_LOG_LEVEL=3

for name in $DATASETS; do
  "$PY" -m ferzoo.cli data build "$name" --data-dir "$DATA" 2>&1 | tail -n 1
done
rm -rf "$DATA/downloads"
find "$DATA" -name '*.tfrecord-*' -delete
# The copy must read as it will there: with the numpy reader, from its new place.
for name in $DATASETS; do
  KERAS_BACKEND=${KERAS_BACKEND:-torch} "$PY" scripts/data_fingerprint.py "$name" \
    --data-dir "$DATA" --reader numpy | "$PY" -c \
    "import json, sys; d = json.load(sys.stdin); print('$name:', {k: len(v['ids']) for k, v in d.items()})"
done
echo "$DATA: $(du -sh "$DATA" | cut -f1)"
