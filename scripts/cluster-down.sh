#!/usr/bin/env bash
# Stop what scripts/cluster-up.sh started (the data stays in STATE_DIR for the next cluster-up).
#   scripts/cluster-down.sh [STATE_DIR]
set -uo pipefail
STATE=$(realpath -m "${1:-cluster}")
if [ -s "$STATE/mlflow.pid" ]; then
    pid=$(cat "$STATE/mlflow.pid")
    pkill -TERM -P "$pid" 2>/dev/null  # gunicorn workers first
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null
    rm -f "$STATE/mlflow.pid"
fi
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$BIN" ] || BIN=$(dirname "$(command -v pg_ctl)")
if [ -s "$STATE/postgres/PG_VERSION" ]; then
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$BIN/pg_ctl" -D "$STATE/postgres" -m fast -w stop >/dev/null 2>&1
    else
        "$BIN/pg_ctl" -D "$STATE/postgres" -m fast -w stop >/dev/null 2>&1
    fi
fi
echo "cluster-down: stopped servers of $STATE"
