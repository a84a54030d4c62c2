#!/usr/bin/env bash
# CI job (issue 11): ferzoo in a fresh virtual environment WITHOUT TensorFlow.
#
#   bash scripts/test_no_tensorflow.sh        # after `make setup` (.venv has TensorFlow)
#
# 1. The main .venv (with TensorFlow) prepares synthetic_faces/tiny (140 images: the install is
#    under test, not the data's size) into a temporary DIR, with the
#    ArrayRecord copy, and prints what its tf.data reader reads (ids, labels, pixel hash).
# 2. A fresh venv gets `pip install torch==2.13.0` then `pip install -e ".[torch,test]"`; the
#    job fails if `import tensorflow` works there.
# 3. In it: the numpy reader reads exactly what tf.data read; `ferzoo train` (1 epoch,
#    KERAS_BACKEND=torch) and a 2-trial sweep (KERAS_BACKEND unset: ferzoo picks torch) run on
#    DIR; a few test files that need no TensorFlow pass.
# Env: PY_TF (the Python with TensorFlow, default .venv/bin/python), NOTF_VENV (where to build
# the venv, default a temporary folder, removed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
step() { echo "=== $* ($(($(date +%s) - start)) s)"; }

PY_TF=${PY_TF:-.venv/bin/python}
WORK=$(mktemp -d -t ferzoo-notf.XXXXXX)
VENV=${NOTF_VENV:-$WORK/venv}
trap 'rm -rf "$WORK"' EXIT
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONHASHSEED=0 MPLBACKEND=Agg
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # this checkout's ferzoo, in both Pythons
DIR=$WORK/data

step "prepare synthetic_faces/tiny into $DIR with TensorFlow ($PY_TF)"
"$PY_TF" -m ferzoo.cli data build synthetic_faces/tiny --data-dir "$DIR" 2>&1 | tail -n 1
"$PY_TF" scripts/data_fingerprint.py synthetic_faces/tiny --data-dir "$DIR" --reader tf.data \
  >"$WORK/tf.json"

step "fresh venv without TensorFlow: $VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q -e ".[torch,test]"
if "$VENV/bin/python" -c "import tensorflow" 2>/dev/null; then
  echo "error: tensorflow is importable in the venv that must not have it" >&2
  exit 1
fi
echo "ok: import tensorflow fails in $VENV"
PY=$VENV/bin/python

step "numpy reader (TFDS data source, ArrayRecord) against tf.data"
env -u KERAS_BACKEND "$PY" scripts/data_fingerprint.py synthetic_faces/tiny --data-dir "$DIR" \
  --reader numpy >"$WORK/numpy.json"
"$PY" - "$WORK/tf.json" "$WORK/numpy.json" <<'PYEOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a == b, "the numpy reader read other examples, ids or pixels than tf.data"
print("ok: same ids, labels and pixels in " + ", ".join(f"{k} ({len(v['ids'])})" for k, v in a.items()))
PYEOF

step "ferzoo train, KERAS_BACKEND=torch"
KERAS_BACKEND=torch "$VENV/bin/ferzoo" train --model resnet18 --dataset synthetic_faces/tiny \
  --image-size 32 --epochs 1 --data-dir "$DIR" --output "$WORK/train" --verbose 0

step "sweeps/run.py, KERAS_BACKEND unset"
env -u KERAS_BACKEND "$PY" sweeps/run.py --study demo --dataset synthetic_faces/tiny --n-trials 2 \
  --epochs 1 --image-size 32 \
  --data-dir "$DIR" --results-dir "$WORK/sweep" --storage "sqlite:///$WORK/o.db" \
  --no-baselines  # the papers' comparison runs in the wheel job and in tests/

step "pytest without TensorFlow (KERAS_BACKEND=torch)"
# (tests/layers and the rest run on torch in `make test` already; these are the ones whose
# point is the missing TensorFlow: the backend choice, the readers, a model file's imports.)
KERAS_BACKEND=torch "$PY" -m pytest -q -p no:cacheprovider -m "not tf_only" \
  tests/test_backend.py tests/test_data_readers.py
KERAS_BACKEND=torch "$PY" -m pytest -q -p no:cacheprovider tests/test_models.py -k resnet18

step "no-TensorFlow job passed"
