#!/usr/bin/env bash
# Make sure the PostgreSQL database and Redis server the test suite uses are reachable, starting
# local servers that are installed but stopped. Usage: scripts/services.sh [PG_URL] [REDIS_URL]
set -euo pipefail

PG_URL=${1:-postgresql://postgres@127.0.0.1:5432/test}
REDIS_URL=${2:-redis://127.0.0.1:6379/15}
WAIT_SECONDS=30

say() { echo "services: $*" >&2; }

wait_for() {
  local what=$1
  shift
  for _ in $(seq "$WAIT_SECONDS"); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  say "$what did not come up within ${WAIT_SECONDS}s"
  return 1
}

ensure_postgres() {
  command -v pg_isready >/dev/null || { say "pg_isready not found: install the PostgreSQL client"; exit 1; }
  if ! pg_isready -q -d "$PG_URL"; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      local version
      version=$(ls /etc/postgresql | sort -V | tail -n 1)
      say "starting PostgreSQL $version"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    fi
    wait_for "PostgreSQL at $PG_URL" pg_isready -q -d "$PG_URL"
  fi
  # The server is up; create the test database if it does not exist yet.
  if ! psql "$PG_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; then
    local base=${PG_URL%%\?*}
    local name=${base##*/}
    say "creating database $name"
    psql "${base%/*}/postgres" -qc "CREATE DATABASE \"$name\"" >/dev/null
  fi
}

ensure_redis() {
  command -v redis-cli >/dev/null || { say "redis-cli not found: install Redis"; exit 1; }
  if ! redis-cli -u "$REDIS_URL" ping >/dev/null 2>&1; then
    if command -v redis-server >/dev/null; then
      say "starting Redis"
      redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
    fi
    wait_for "Redis at $REDIS_URL" redis-cli -u "$REDIS_URL" ping
  fi
}

ensure_postgres
ensure_redis
say "PostgreSQL and Redis are up"
