#!/usr/bin/env bash
# Fail when the models and the migrations disagree: migrate a fresh SQLite database to head, then
# run `deskpilot db check` against it. Usage: scripts/check-migrations.sh [path/to/deskpilot]
set -euo pipefail

DESKPILOT=${1:-.venv/bin/deskpilot}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

export DESKPILOT_DATA_DIR=$tmp
unset DESKPILOT_DATABASE_URL DESKPILOT_REDIS_URL
"$DESKPILOT" db upgrade >/dev/null
"$DESKPILOT" db check
