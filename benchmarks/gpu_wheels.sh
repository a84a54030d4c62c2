#!/usr/bin/env bash
# Download, here (where PyPI is reachable), the wheels that ferzoo needs on a GPU machine that has
# Python 3.12, PyTorch, JAX and onnxruntime but no Keras, Optuna or TFDS and no network
# (issue 11). They go into .whl/ (git-ignored); benchmarks/gpu_check.sh installs them there.
#
#   bash benchmarks/gpu_wheels.sh            # into .whl/, then prints the bundle's size
#   WHL=/tmp/w bash benchmarks/gpu_wheels.sh
#
# The versions are those ferzoo is tested with here (the shared .venv, 2026-12). Every wheel is
# fetched with --no-deps, so the list names each dependency the GPU machine lacks (its package
# list: /work/.library/device/KINDS.md). Already there, and so not fetched: absl-py, numpy, rich,
# h5py, ml-dtypes, packaging (Keras); tqdm, PyYAML, MarkupSafe, typing-extensions (Optuna);
# protobuf, psutil, pyarrow, requests, wrapt, attrs, six, etils, fsspec, zipp (TFDS);
# opencv-python-headless, matplotlib, pillow, onnx, onnxruntime, pytest (ferzoo and its tests).
# FALLBACK wheels are of packages the machine has, carried in case its version is too old:
# gpu_check.sh installs them only when the imports fail without them (protobuf: the
# tensorflow-metadata 1.21 protos need protobuf >= 6.31; etils: TFDS 4.9.10 needs >= 1.9.1).
set -euo pipefail
cd "$(dirname "$0")/.."
WHL=${WHL:-.whl}
PY=${PY:-python3}
LIMIT_MIB=64  # what one call of the device tool carries, with the working tree

MISSING=(
  keras==3.15.1 namex==0.1.0 optree==0.20.0
  optuna==5.0.0 alembic==1.20.1 sqlalchemy==2.1.9 colorlog==6.12.0 mako==1.4.3
  tensorflow-datasets==4.9.10 array-record==0.8.6 dm-tree==0.1.10 immutabledict==4.3.1
  simple-parsing==0.1.9 docstring-parser==0.18.0 tensorflow-metadata==1.21.0
  googleapis-common-protos==1.76.0 termcolor==3.3.0 toml==0.10.2 importlib-resources==7.1.0
)
FALLBACK=(protobuf==7.36.2 etils==1.15.0)
SDIST_ONLY=(promise==2.3)  # TFDS imports it; PyPI has no wheel: built here (pure Python)

PLATFORMS=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
  manylinux1_x86_64; do
  PLATFORMS+=(--platform "$p")
done

mkdir -p "$WHL/fallback"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$WHL" "${MISSING[@]}"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${PLATFORMS[@]}" -d "$WHL/fallback" "${FALLBACK[@]}"
"$PY" -m pip wheel -q --no-deps -w "$WHL" "${SDIST_ONLY[@]}"

# One version of each: two wheels of one distribution stop the whole install there.
dupes=$(ls "$WHL"/*.whl | xargs -n1 basename | cut -d- -f1 | tr 'A-Z-' 'a-z_' | sort | uniq -d)
if [ -n "$dupes" ]; then
  echo "error: several wheels of: $dupes (remove the older from $WHL)" >&2
  exit 1
fi
ls -1 "$WHL"/*.whl "$WHL"/fallback/*.whl | xargs -n1 basename
size=$(du -sb "$WHL" | cut -f1)
echo "$WHL: $(ls "$WHL"/*.whl "$WHL"/fallback/*.whl | wc -l) wheels, $((size / 1024)) KiB"
if [ "$size" -gt $((LIMIT_MIB * 1024 * 1024 / 2)) ]; then
  echo "warning: over half of the $LIMIT_MIB MiB a device call carries (with the data)" >&2
fi
