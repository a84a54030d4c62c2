#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server on localhost, for the sweep tests and CI.
#
#   scripts/postgres.sh start   # prints the URL to export as FERZOO_TEST_POSTGRES_URL
#   scripts/postgres.sh url     # prints the URL again
#   scripts/postgres.sh running # exit code 0 when the server is up
#   scripts/postgres.sh stop    # stops the server and deletes its data directory
#
# Uses the Debian `postgresql` package's binaries (/usr/lib/postgresql/<version>/bin: initdb,
# pg_ctl); install them with `apt-get install -y postgresql`. PostgreSQL refuses to run as root,
# so when run as root the server runs as the `postgres` user the package creates.
# Settings (environment): FERZOO_PG_PORT (default 55432), FERZOO_PG_DIR (default
# /tmp/ferzoo-postgres), FERZOO_PG_DB (default ferzoo). Authentication is `trust` and the server
# listens on 127.0.0.1 only: for tests, never for data you care about.
set -euo pipefail

PORT="${FERZOO_PG_PORT:-55432}"
DIR="${FERZOO_PG_DIR:-/tmp/ferzoo-postgres}"
DB="${FERZOO_PG_DB:-ferzoo}"
PGUSER_NAME="ferzoo"
URL="postgresql://${PGUSER_NAME}@127.0.0.1:${PORT}/${DB}"

bindir() {
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -z "$d" || ! -x "$d/initdb" ]]; then
    echo "error: PostgreSQL binaries not found under /usr/lib/postgresql/*/bin;" \
      "install them with: apt-get install -y postgresql" >&2
    exit 1
  fi
  echo "$d"
}

# Run a command as a user PostgreSQL accepts (not root).
as_pg() {
  if [[ "$(id -u)" == "0" ]]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

running() {
  local bin
  bin="$(bindir)"
  [[ -f "$DIR/data/postmaster.pid" ]] && as_pg "$bin/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1
}

start() {
  local bin
  bin="$(bindir)"
  if running; then
    echo "$URL"
    return 0
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"
  if [[ "$(id -u)" == "0" ]]; then
    chown postgres: "$DIR"
  fi
  as_pg "$bin/initdb" -D "$DIR/data" --auth=trust --username="$PGUSER_NAME" \
    --encoding=UTF8 --no-locale >"$DIR/initdb.log" 2>&1 || {
    cat "$DIR/initdb.log" >&2
    exit 1
  }
  as_pg "$bin/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1" start >/dev/null || {
    cat "$DIR/server.log" >&2
    exit 1
  }
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$PORT" -U "$PGUSER_NAME" "$DB"
  echo "$URL"
}

stop() {
  local bin
  bin="$(bindir)"
  if [[ -d "$DIR/data" ]]; then
    as_pg "$bin/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  running) running ;;
  *)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
