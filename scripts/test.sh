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

# The runs go side by side, FERZOO_TEST_JOBS at a time (default 2: one process rarely keeps
# two cores busy on these tiny inputs); each one's output is printed when it ends. Without
# arguments, TensorFlow runs tests/ and the TFDS builders (datasets/) in two processes: the
# builders' test cases pay a full garbage collection per test, seconds each in a process that
# has already built every model. The longest runs start first.
JOBS=${FERZOO_TEST_JOBS:-2}
LOGS=$(mktemp -d -t ferzoo-test.XXXXXX)
ARGS=("$@")
runs=()
if [ ${#ARGS[@]} -eq 0 ]; then
  for backend in $BACKENDS; do runs+=("$backend:tests"); done
  [[ " $BACKENDS " == *" tensorflow "* ]] && runs=("${runs[0]}" "${runs[@]:1:1}" \
    "tensorflow:datasets" "${runs[@]:2}")
else
  for backend in $BACKENDS; do runs+=("$backend:"); done
fi
run_one() {  # "backend:path" (an empty path: the arguments given)
  local backend=${1%%:*} path=${1#*:} marks=() name=${1/:/-}
  [ "$backend" = tensorflow ] || marks=(-m "not slow and not tf_only and not backend_free")
  local start=$(date +%s)
  KERAS_BACKEND=$backend "$PY" -m pytest -q -p no:cacheprovider --durations=15 "${marks[@]}" \
    ${path:+"$path"} "${ARGS[@]}" >"$LOGS/$name.log" 2>&1
  local rc=$?
  echo "$backend ${path:-(args)}: exit $rc in $(( $(date +%s) - start )) s" >"$LOGS/$name.rc"
  { echo "=== KERAS_BACKEND=$backend ${path} ==="; cat "$LOGS/$name.log"; }
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
