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
  if url=$(bash scripts/postgres.sh start); then
    export FERZOO_TEST_POSTGRES_URL=$url
    started_pg=1
  fi
fi

# The backends run side by side, FERZOO_TEST_JOBS at a time (default 2: one process rarely
# keeps two cores busy on these tiny inputs); each one's output is printed when it ends.
JOBS=${FERZOO_TEST_JOBS:-2}
LOGS=$(mktemp -d -t ferzoo-test.XXXXXX)
run_backend() {
  local backend=$1 marks=()
  [ "$backend" = tensorflow ] || marks=(-m "not slow and not tf_only and not backend_free")
  local start=$(date +%s)
  KERAS_BACKEND=$backend "$PY" -m pytest -q -p no:cacheprovider "${marks[@]}" "${ARGS[@]}" \
    >"$LOGS/$backend.log" 2>&1
  local rc=$?
  echo "$backend: exit $rc in $(( $(date +%s) - start )) s" >"$LOGS/$backend.rc"
  { echo "=== KERAS_BACKEND=$backend ==="; cat "$LOGS/$backend.log"; } 
  return $rc
}
ARGS=("$@")
running=0
for backend in $BACKENDS; do
  if [ "$running" -ge "$JOBS" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_backend "$backend" &
  running=$((running + 1))
done
wait
status=0
summary=""
for backend in $BACKENDS; do
  line=$(cat "$LOGS/$backend.rc" 2>/dev/null || echo "$backend: did not finish")
  summary+="$line"$'\n'
  case "$line" in *"exit 0 "*) ;; *) status=1 ;; esac
done
rm -rf "$LOGS"

[ $started_pg -eq 1 ] && bash scripts/postgres.sh stop >/dev/null 2>&1
echo "=== summary ==="
printf '%s' "$summary"
exit $status
