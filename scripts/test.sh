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

status=0
summary=""
for backend in $BACKENDS; do
  if [ "$backend" = tensorflow ]; then
    marks=()
  else
    marks=(-m "not slow and not tf_only")
  fi
  echo "=== KERAS_BACKEND=$backend ==="
  start=$(date +%s)
  KERAS_BACKEND=$backend "$PY" -m pytest -q -p no:cacheprovider "${marks[@]}" "$@"
  rc=$?
  summary+="$backend: exit $rc in $(( $(date +%s) - start )) s"$'\n'
  [ $rc -ne 0 ] && status=1
done

[ $started_pg -eq 1 ] && bash scripts/postgres.sh stop >/dev/null 2>&1
echo "=== summary ==="
printf '%s' "$summary"
exit $status
