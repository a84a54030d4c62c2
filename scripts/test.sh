#!/usr/bin/env bash
# Runs the test suite once per Keras backend. TensorFlow runs everything; JAX and PyTorch run the
# layer, model, loss and smoke tests (the slow integration tests and the TFDS builders are
# backend-independent or need tf.data's TF backend, so one run of them is enough).
# Fails if any backend fails; pytest's exit code 5 (no tests collected) is a failure too.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-python}
BACKENDS=${FERZOO_TEST_BACKENDS:-"tensorflow jax torch"}
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0

started_pg=0
# A throwaway PostgreSQL on localhost for the multi-machine sweep test, when Debian's server
# binaries are installed (.ci/run installs them); otherwise that one test skips with a reason.
if [ -z "${FERZOO_TEST_POSTGRES_URL:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  # Another run's server (a second `make test` at the same time) is used and left running.
  bash scripts/postgres.sh running 2>/dev/null || started_pg=1
  if url=$(bash scripts/postgres.sh start); then
    export FERZOO_TEST_POSTGRES_URL=$url
  else
    started_pg=0
  fi
fi

# The runs go side by side, FERZOO_TEST_JOBS at a time (default 2, the project machine's
# cores); each one's output is printed when it ends. Without arguments, TensorFlow's share is
# split in two processes, the sweeps, the command line and the TFDS builders (datasets/) in
# one, the rest of tests/ in the other, so that two slots finish close together; the runs
# start longest first (seconds on the 2-core machine, 2026-12-07: JAX 580, TensorFlow's rest
# 450, PyTorch 450, TensorFlow's sweeps 300).
JOBS=${FERZOO_TEST_JOBS:-2}
FAST_XLA="--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
LOGS=$(mktemp -d -t ferzoo-test.XXXXXX)
ARGS=("$@")
TF_SWEEPS=(tests/test_sweep*.py tests/test_cli.py tests/test_keras_tuner.py datasets)
runs=()
if [ ${#ARGS[@]} -eq 0 ]; then
  for backend in jax tensorflow torch; do
    [[ " $BACKENDS " == *" $backend "* ]] || continue
    if [ "$backend" = tensorflow ]; then
      runs+=("tensorflow:rest")
    else
      runs+=("$backend:tests")
    fi
  done
  [[ " $BACKENDS " == *" tensorflow "* ]] && runs+=("tensorflow:sweeps")
else
  for backend in $BACKENDS; do runs+=("$backend:"); done
fi
paths_of() {  # a run's part: tests, rest, sweeps or empty (the arguments given)
  case $1 in
    rest) echo tests; for p in "${TF_SWEEPS[@]}"; do [ "$p" = datasets ] || echo "--ignore=$p"; done ;;
    sweeps) printf '%s\n' "${TF_SWEEPS[@]}" ;;
    *) [ -n "$1" ] && echo "$1" ;;
  esac
}
run_one() {  # "backend:part"
  local backend=${1%%:*} part=${1#*:} marks=() name=${1/:/-} paths=()
  [ "$backend" = tensorflow ] || marks=(-m "not slow and not tf_only and not backend_free")
  mapfile -t paths < <(paths_of "$part")
  local start=$(date +%s) xla=${XLA_FLAGS:-}
  # JAX's run is mostly XLA compiling each test's small programs: LLVM's optimisation of the
  # generated code is skipped there (the programs run for milliseconds; what is checked is
  # ferzoo's behaviour, not XLA's code generation): the papers' models' export tests 90 -> 62 s
  # on the 2-core machine (results/ci_time.md). FERZOO_TEST_XLA_FLAGS= (empty) keeps XLA's own.
  [ "$backend" = jax ] && xla+=" ${FERZOO_TEST_XLA_FLAGS-$FAST_XLA}"
  XLA_FLAGS=${xla# } KERAS_BACKEND=$backend "$PY" -m pytest -q -p no:cacheprovider --durations=15 "${marks[@]}" \
    "${paths[@]}" "${ARGS[@]}" >"$LOGS/$name.log" 2>&1
  local rc=$?
  echo "$backend ${part:-(args)}: exit $rc in $(( $(date +%s) - start )) s" >"$LOGS/$name.rc"
  { echo "=== KERAS_BACKEND=$backend ${part} ==="; cat "$LOGS/$name.log"; }
  return $rc
}
running=0
for run in "${runs[@]}"; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$run" &
  running=$((running + 1))
done
wait
status=0
summary=""
for run in "${runs[@]}"; do
  line=$(cat "$LOGS/${run/:/-}.rc" 2>/dev/null || echo "$run: did not finish")
  summary+="$line"$'\n'
  case "$line" in *"exit 0 "*) ;; *) status=1 ;; esac
done
rm -rf "$LOGS"

[ $started_pg -eq 1 ] && bash scripts/postgres.sh stop >/dev/null 2>&1
echo "=== summary ==="
printf '%s' "$summary"
exit $status
