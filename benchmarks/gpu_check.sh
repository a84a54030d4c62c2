#!/usr/bin/env bash
# ferzoo's GPU checks in one go (issue 11), for a machine with an NVIDIA GPU, Python 3.12, PyTorch
# and JAX with CUDA, but no TensorFlow, Keras, Optuna or TFDS and no network.
#
#   bash benchmarks/gpu_check.sh                          # every step, results in results/gpu/
#   bash benchmarks/gpu_check.sh --steps install,env,precision,sweep   # the first half
#   bash benchmarks/gpu_check.sh --steps install,bench    # the second half
#   bash benchmarks/gpu_check.sh --no-install --quick     # a dry run on a CPU, tiny sizes
#
# Before, where PyPI is reachable (and TensorFlow installed):
#   bash benchmarks/gpu_wheels.sh     # .whl/: Keras, Optuna, TFDS and what they need (~18 MB)
#   bash benchmarks/gpu_data.sh       # .gpu-data/: synthetic_faces, prepared (~18 MB)
# and carry both (git-ignored) to the GPU machine with the checkout.
#
# Steps (--steps, comma-separated; default all, in this order):
#   install    the wheels of .whl/ that the machine lacks (pip --no-index --no-deps), then ferzoo
#              (pip install --no-deps -e .); .whl/fallback/ (protobuf, etils) only if the imports
#              fail without them. Skipped when Keras, Optuna, TFDS and ferzoo import already.
#   env        `ferzoo env` under KERAS_BACKEND=jax and torch (devices, precision `auto`).
#   precision  pytest tests/test_precision.py tests/test_models.py -k precision, on jax and torch.
#   bench      benchmarks/run.py: resnet18 and msc_wca_resnet18 at 112 px, float32 and
#              mixed_bfloat16, on jax and torch, against the PyTorch reference (AMP for bf16).
#   sweep      the demo study, 4 trials, --gpus 0 (KERAS_BACKEND=jax), nvidia-smi sampling the
#              GPU's utilisation meanwhile; the trials' device and precision are listed, with
#              where each trial's time went (data, build, compile, steps, validation, report,
#              scoring, artifacts, keeping, other), device busy and trials/hour.
#   sweepck    the same on a CK+-sized study (synthetic_faces' 1,008 images at 48 px, 3 folds
#              a trial and in the final stage, 12 epochs, 6 trials), once with one trial on the
#              GPU and once with --trials-per-device 2: device busy and trials/hour of each.
#   steploop   benchmarks/step_loop.py on jax and torch: one `ferzoo train` epoch of resnet18 at
#              48 and 112 px with the data on the host, on the device, and (jax) 16 steps per
#              call; step_loop.md.
# Results: $OUT/gpu/ when OUT is set (the device tool), else results/gpu/ (--dest DIR): summary.md
# (each step's status, time and findings), log.txt (all output), bench.md, bench.json,
# util_<step>.csv, and under $OUT every other file in details.tar.gz (8 files come back at most).
# Exit code: 0 when every step passed, 1 otherwise (every step runs even after a failure).
# Env: PY (python3), WHL (.whl), DATA (.gpu-data), SWEEP_BACKEND (jax), BENCH_BATCH (64).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-python3}
WHL=${WHL:-.whl}
DATA=${DATA:-.gpu-data}
SWEEP_BACKEND=${SWEEP_BACKEND:-jax}
BENCH_BATCH=${BENCH_BATCH:-64}
STEPS=install,env,precision,bench,sweep,sweepck,steploop
QUICK=0
DEADLINE=
DEST=${OUT:+$OUT/gpu}
DEST=${DEST:-results/gpu}

usage() { sed -n '2,/^[^#]/{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --steps) STEPS=$2; shift 2 ;;
    --no-install) STEPS=${STEPS//install/}; shift ;;
    --quick) QUICK=1; shift ;;
    --deadline) DEADLINE=$2; shift 2 ;;
    --dest) DEST=$2; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu_check.sh: error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
STEPS=$(echo "$STEPS" | tr -s ',' | sed 's/^,//; s/,$//')
for step in ${STEPS//,/ }; do
  case $step in install | env | precision | bench | sweep | sweepck | steploop) ;;
    *) echo "gpu_check.sh: error: unknown step $step (install, env, precision, bench, sweep, sweepck, steploop)" >&2
       exit 2 ;;
  esac
done

mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
DETAILS=$DEST/details
rm -rf "$DETAILS" && mkdir -p "$DETAILS"
SUMMARY=$DEST/summary.md
LOG=$DEST/log.txt
: >"$LOG"
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 PYTHONHASHSEED=0
export TF_CPP_MIN_LOG_LEVEL=3 MPLBACKEND=Agg
START=$(date +%s)
FAILED=()

if [ $QUICK = 1 ]; then  # a CPU dry run: every path, tiny work
  PRECISION_K="precision and (not test_models or cnn)"
  PYTEST_WORKERS=${PYTEST_WORKERS:-0}
  BENCH_ARGS=(--sizes 32 --steps 2 --warmup 0 --rounds 1 --batch 4 --timeout 300)
  SWEEP_ARGS=(--n-trials 2 --epochs 1 --image-size 32 --no-final)
  CK_ARGS=(--cv-folds 2 --final-folds 2 --epochs 1 --image-size 32 --n-trials 2)
  LOOP_ARGS=(--sizes 32 --repeats 1 --steps 2 --batch-size 8)
else
  PRECISION_K="precision"
  BENCH_ARGS=(--sizes 112 --steps 20 --warmup 3 --rounds 1 --batch "$BENCH_BATCH" --timeout 150)
  SWEEP_ARGS=(--n-trials 4)
  CK_ARGS=(--cv-folds 3 --final-folds 3 --epochs 12 --image-size 48 --n-trials 6)
  LOOP_ARGS=(--sizes 48,112 --repeats 1 --steps 16 --batch-size "$BENCH_BATCH")
fi

say() { echo "$*" | tee -a "$LOG" >>"$SUMMARY"; }
# limited LIMIT_S COMMAND...: the command (or a function of this script) in its own process
# group, ended with all its processes after LIMIT_S seconds (exit code 124 then).
limited() {
  local limit=$1 pid dog code t0
  shift
  t0=$(date +%s)
  set -m
  ("$@") &
  pid=$!
  (sleep "$limit" && kill -TERM -- -"$pid" 2>/dev/null && sleep 10 && kill -KILL -- -"$pid") \
    >/dev/null 2>&1 &
  dog=$!
  set +m
  wait "$pid"
  code=$?
  kill -- -"$dog" 2>/dev/null
  wait "$dog" 2>/dev/null
  if [ $code != 0 ] && [ $(($(date +%s) - t0)) -ge "$limit" ]; then
    code=124
  fi
  return $code
}
# run NAME LIMIT_S COMMAND...: time it, log it, record pass/fail in the summary. With --deadline,
# a step gets at most what is left of it (less 20 s to write the results), or is skipped.
run() {
  local name=$1 limit=$2 t0 code
  shift 2
  t0=$(date +%s)
  if [ -n "$DEADLINE" ]; then
    local left=$((DEADLINE - (t0 - START) - 20))
    if [ $left -lt 20 ]; then
      FAILED+=("$name")
      say "- $name: SKIPPED, $((DEADLINE - (t0 - START))) s left of --deadline $DEADLINE"
      return 1
    fi
    [ $left -lt "$limit" ] && limit=$left
  fi
  echo "=== $name: $* ($((t0 - START)) s)" >>"$LOG"
  limited "$limit" "$@" >>"$LOG" 2>&1
  code=$?
  local took=$(($(date +%s) - t0))
  if [ $code = 0 ]; then
    say "- $name: ok ($took s)"
  else
    FAILED+=("$name")
    say "- $name: FAILED, exit code $code$([ $code = 124 ] && echo ", over its $limit s") ($took s)"
  fi
  return $code
}
# sample NAME: nvidia-smi writes the GPU's utilisation to util_NAME.csv until unsample.
SAMPLER=
sample() {
  SAMPLER=
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=timestamp,utilization.gpu,utilization.memory,memory.used,power.draw \
    --format=csv,noheader,nounits -lms 500 >"$DEST/util_$1.csv" 2>/dev/null &
  SAMPLER=$!
}
unsample() {
  local name=$1
  [ -n "$SAMPLER" ] || return 0
  kill "$SAMPLER" 2>/dev/null
  wait "$SAMPLER" 2>/dev/null
  SAMPLER=
  awk -F', *' -v name="$name" 'NF >= 4 && $2 ~ /^[0-9]+$/ {
      n++; s += $2; if ($2 > m) m = $2; if ($2 >= 50) busy++; if ($4 > mem) mem = $4 }
    END { if (n) printf "  - GPU during %s: %d samples (0.5 s), utilisation mean %.0f %%, max %d %%, >= 50 %% in %.0f %% of samples; memory used max %d MiB\n",
      name, n, s / n, m, 100 * busy / n, mem }' "$DEST/util_$name.csv" | tee -a "$LOG" >>"$SUMMARY"
}
has() { [[ ",$STEPS," == *",$1,"* ]]; }
ferzoo() { "$PY" -m ferzoo.cli "$@"; }

{
  echo "# ferzoo GPU check"
  echo
  echo "    bash benchmarks/gpu_check.sh --steps $STEPS$([ $QUICK = 1 ] && echo ' --quick')"
  echo
  echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC'); host $(hostname); $(nproc) CPU cores"
  echo "- Python: $("$PY" --version 2>&1) ($(command -v "$PY"))"
  echo "- GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | paste -sd';' || true)"
  echo "- Commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo
} >"$SUMMARY"
command -v nvidia-smi >/dev/null && nvidia-smi >>"$LOG" 2>&1

# --- the steps ----------------------------------------------------------------------------------

IMPORTS="import ferzoo, keras, optuna, tensorflow_datasets, array_record, ferzoo.data, ferzoo.sweep"  # ferzoo first: it picks the backend (Keras alone would take TensorFlow)

imports_ok() {
  local err
  err=$("$PY" -c "$IMPORTS" 2>&1) && return 0
  echo "$err" | tail -n 3
  return 1
}

pip_install() {  # pip_install ARGS...: into the Python's environment, else a --target folder
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "$@" && return 0
  echo "pip could not install into $("$PY" -c 'import sys; print(sys.prefix)'); using /tmp/ferzoo-site"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/ferzoo-site "$@" || return 1
  export PYTHONPATH=$PYTHONPATH:/tmp/ferzoo-site
}

install_wheels() {
  if imports_ok >/dev/null; then
    echo "Keras, Optuna, TFDS and ferzoo import already: nothing to install"
    return 0
  fi
  [ -d "$WHL" ] || { echo "no $WHL/: run benchmarks/gpu_wheels.sh where PyPI is reachable"; return 1; }
  # The wheels of distributions this Python lacks (one version of each is carried).
  local missing
  missing=$("$PY" - "$WHL" <<'PYEOF'
import importlib.metadata as md, pathlib, re, sys
for wheel in sorted(pathlib.Path(sys.argv[1]).glob("*.whl")):
    name = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
    try:
        md.version(name)
    except md.PackageNotFoundError:
        print(wheel)
PYEOF
)
  echo "installing: $(echo $missing | xargs -n1 basename 2>/dev/null | tr '\n' ' ')"
  [ -z "$missing" ] || pip_install $missing || return 1
  "$PY" -m pip install -q --no-index --no-deps --no-build-isolation -e . ||
    echo "(pip install -e . failed: ferzoo is used from PYTHONPATH=$ROOT)"
  if ! imports_ok; then
    local fallback=("$WHL"/fallback/*.whl)
    [ -e "${fallback[0]}" ] || return 1
    echo "imports fail: installing $WHL/fallback/ (${fallback[*]##*/})"
    pip_install --upgrade "${fallback[@]}" && imports_ok || return 1
  fi
  "$PY" -m pip list 2>/dev/null | grep -iE '^(keras|optuna|tensorflow-datasets|array.record|protobuf|etils|jax|jaxlib|torch|numpy|ferzoo) ' || true
}

env_step() {
  local code=0
  for backend in jax torch; do
    echo "--- KERAS_BACKEND=$backend ferzoo env"
    KERAS_BACKEND=$backend ferzoo env || code=1
    KERAS_BACKEND=$backend ferzoo env --json >"$DETAILS/env_$backend.json" || code=1
  done
  grep -h '"auto"' "$DETAILS"/env_*.json | sed 's/^ */  - precision auto: /' >>"$SUMMARY"
  return $code
}

precision_step() {  # precision_step BACKEND
  # xdist workers share the GPU: JAX must not take 75 % of its memory in each.
  KERAS_BACKEND=$1 XLA_PYTHON_CLIENT_PREALLOCATE=false "$PY" -m pytest -q -p no:cacheprovider \
    -n "${PYTEST_WORKERS:-8}" tests/test_precision.py tests/test_models.py -k "$PRECISION_K" \
    --junitxml "$DETAILS/pytest_$1.xml" >"$DETAILS/pytest_$1.txt" 2>&1
  local code=$?
  tail -n 15 "$DETAILS/pytest_$1.txt"
  echo "  - $1: $(tail -n 1 "$DETAILS/pytest_$1.txt")" >>"$SUMMARY"
  return $code
}

bench_step() {
  local code=0 out=$DETAILS/bench
  # One run.py per (precision, model), merged into one report: what finished is kept if the
  # step is cut short.
  for policy in float32 mixed_bfloat16; do
    for model in resnet18 msc_wca_resnet18; do
      "$PY" benchmarks/run.py --backends jax,torch --models "$model" --precision "$policy" \
        --merge --output-dir "$out" "${BENCH_ARGS[@]}" || code=1
      [ -f "$out/bench.md" ] && cp "$out/bench.md" "$out/bench.json" "$DEST/"
    done
  done
  return $code
}

sweep_step() {  # [name [sweep arguments...]]: the demo study, or another run of it
  local name=${1:-sweep} out data=$DATA
  shift || true
  out=$DETAILS/$name
  mkdir -p "$out"
  # With TensorFlow here, ferzoo reads through tf.data, which needs the TFRecord files that
  # gpu_data.sh leaves out: then the sweep prepares its own copy (TensorFlow can).
  if "$PY" -c "import tensorflow" 2>/dev/null &&
    ! compgen -G "$DATA/synthetic_faces/*/*/*.tfrecord-*" >/dev/null; then
    data=$DETAILS/tfds
    echo "TensorFlow is installed and $DATA has no TFRecord files: preparing into $data"
  fi
  KERAS_BACKEND=$SWEEP_BACKEND "$PY" sweeps/run.py --study demo --gpus 0 --data-dir "$data" \
    --results-dir "$out" --storage "sqlite:///$out/optuna.db" --heartbeat 10 "${SWEEP_ARGS[@]}" \
    "$@"
  local code=$?
  "$PY" - "$out/optuna.db" <<'PYEOF' | tee -a "$SUMMARY"
import sys, optuna
optuna.logging.set_verbosity(optuna.logging.WARNING)
try:
    study = optuna.load_study(study_name="demo", storage=f"sqlite:///{sys.argv[1]}")
except KeyError:
    sys.exit("  - no study was created")
for t in study.trials:
    a = t.user_attrs
    value = "-" if t.value is None else f"{t.value:.3f}"
    print(f"  - trial {t.number}: {t.state.name}, value {value}, {a.get('model')}, "
          f"device {a.get('device')!r}, precision {a.get('precision')}, "
          f"CUDA_VISIBLE_DEVICES={a.get('cuda_visible_devices')!r}, "
          f"{(t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else 0:.0f} s")
from ferzoo.sweep import timesheet  # where each trial's time went, device busy, trials/hour
for line in timesheet.markdown(study)[2:]:
    print(f"    {line}" if line else "")
PYEOF
  return $code
}

sweepck_step() {  # a CK+-sized study, one trial on the GPU, then two at once (issue 30)
  local code=0
  say "  - one trial at a time:"
  sweep_step sweepck1 "${CK_ARGS[@]}" || code=1
  say "  - --trials-per-device 2:"
  sweep_step sweepck2 "${CK_ARGS[@]}" --trials-per-device 2 || code=1
  return $code
}

steploop_step() {  # data on the host or the device, steps per call (issue 18, items 3 and 4)
  local code=0 append=
  for backend in jax torch; do
    KERAS_BACKEND=$backend "$PY" benchmarks/step_loop.py --data-dir "$DATA" \
      --output "$DEST/step_loop.md" $append "${LOOP_ARGS[@]}" || code=1
    append=--append
  done
  [ -f "$DEST/step_loop.md" ] && grep '^|' "$DEST/step_loop.md" | sed 's/^/  /' >>"$SUMMARY"
  return $code
}

if has install; then run install 180 install_wheels; fi
[ -d /tmp/ferzoo-site ] && export PYTHONPATH=$PYTHONPATH:/tmp/ferzoo-site  # pip's fallback
if ! imports_ok >/dev/null; then
  say "- Keras, Optuna or TFDS do not import ($IMPORTS); the other steps are skipped."
  STEPS=
fi
if has env; then run env 120 env_step; fi
if has precision; then
  for backend in jax torch; do run "precision ($backend)" 240 precision_step "$backend"; done
fi
if has bench; then
  sample bench
  run bench 360 bench_step
  unsample bench
  if [ -f "$DEST/bench.md" ]; then  # the headline: the ferzoo / reference ratio tables
    awk '/^## ferzoo \/ hand-written/ {p = 1} /^## Training/ {p = 0} p && /^(\||Precision)/' \
      "$DEST/bench.md" | sed 's/^/  /' >>"$SUMMARY"
  fi
fi
if has sweep; then
  if [ ! -d "$DATA/synthetic_faces" ] && ! "$PY" -c "import tensorflow" 2>/dev/null; then
    say "- sweep: skipped: no prepared synthetic_faces in $DATA (run benchmarks/gpu_data.sh here)"
    FAILED+=(sweep)
  else
    sample sweep
    run sweep 300 sweep_step
    unsample sweep
  fi
fi
if has sweepck; then
  if [ ! -d "$DATA/synthetic_faces" ] && ! "$PY" -c "import tensorflow" 2>/dev/null; then
    say "- sweepck: skipped: no prepared synthetic_faces in $DATA (run benchmarks/gpu_data.sh here)"
    FAILED+=(sweepck)
  else
    sample sweepck
    run sweepck 480 sweepck_step
    unsample sweepck
  fi
fi

if has steploop; then run steploop 300 steploop_step; fi

say ""
say "Total: $(($(date +%s) - START)) s; $([ ${#FAILED[@]} = 0 ] && echo 'every step passed' || echo "failed: ${FAILED[*]}")."
if [ -n "${OUT:-}" ]; then  # the device tool brings back 8 files at most: the rest in one archive
  tar -czf "$DEST/details.tar.gz" -C "$DEST" details && rm -rf "$DETAILS"
fi
echo "wrote $DEST: $(ls "$DEST" | tr '\n' ' ')"
[ ${#FAILED[@]} = 0 ]
