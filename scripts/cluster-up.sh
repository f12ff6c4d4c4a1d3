#!/usr/bin/env bash
# Start what many sweep workers share: PostgreSQL (the Optuna study and MLflow's backend store)
# and an MLflow tracking server (artifacts proxied to one folder), then print each worker's command.
#
#   PGPASSWORD=<secret> scripts/cluster-up.sh [STATE_DIR]        (default STATE_DIR: ./cluster)
#
# Settings (environment):
#   PGPASSWORD              required: the password of the database role (never written to a file
#                           or a command line; libpq reads it from the environment)
#   SWEEPCAST_BIND          address both servers listen on (default 127.0.0.1; a LAN address for
#                           other machines; the MLflow server has no authentication of its own)
#   SWEEPCAST_ALLOW_CIDR    with a LAN address: the workers' network allowed to log in (e.g. 10.0.0.0/24)
#   SWEEPCAST_PG_MAX_CONNECTIONS  default 300 (each worker process holds up to three)
#   SWEEPCAST_PG_PORT       PostgreSQL port (default 5432)
#   SWEEPCAST_MLFLOW_PORT   MLflow server port (default 5000)
#   SWEEPCAST_DB_USER       the workers' database role (default sweepcast): owns the optuna and
#                           mlflow databases, not a superuser (the superuser logs in by socket only)
#   SWEEPCAST_ARTIFACTS     where the MLflow server stores artifacts (default STATE_DIR/artifacts)
#
# Stop with scripts/cluster-down.sh [STATE_DIR]. Re-running with the same STATE_DIR restarts the
# servers on the data already there.
set -euo pipefail

STATE=$(realpath -m "${1:-cluster}")
BIND=${SWEEPCAST_BIND:-127.0.0.1}
PG_PORT=${SWEEPCAST_PG_PORT:-5432}
ML_PORT=${SWEEPCAST_MLFLOW_PORT:-5000}
DB_USER=${SWEEPCAST_DB_USER:-sweepcast}
ARTIFACTS=$(realpath -m "${SWEEPCAST_ARTIFACTS:-$STATE/artifacts}")
ALLOW_CIDR=${SWEEPCAST_ALLOW_CIDR:-}
MAX_CONNECTIONS=${SWEEPCAST_PG_MAX_CONNECTIONS:-300}
HERE=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${SWEEPCAST_PYTHON:-$HERE/.venv/bin/python}

die() { echo "cluster-up: $*" >&2; exit 1; }
[ -n "${PGPASSWORD:-}" ] || die "set PGPASSWORD (the database password; it is read from the environment only)"
[ -x "$PYTHON" ] || die "no Python at $PYTHON (create .venv as in the README, or set SWEEPCAST_PYTHON)"
case "$BIND" in
    127.0.0.1|localhost|::1) ;;
    *) [ -n "$ALLOW_CIDR" ] || die "SWEEPCAST_BIND=$BIND: also set SWEEPCAST_ALLOW_CIDR to the workers' network (e.g. 10.0.0.0/24)";;
esac

pg_bin() {  # Debian keeps the server binaries outside PATH
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$found" ] || found=$(dirname "$(command -v initdb 2>/dev/null || true)")
    [ -x "$found/initdb" ] || die "PostgreSQL server binaries not found: apt-get install postgresql"
    echo "$found"
}
BIN=$(pg_bin)

# PostgreSQL refuses to run as root: as root, the server runs as the 'postgres' system user.
as_db_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

mkdir -p "$STATE" "$ARTIFACTS"
DATA="$STATE/postgres"
SOCKETS="$STATE/sockets"
mkdir -p "$SOCKETS"
if [ "$(id -u)" = 0 ]; then
    chown postgres "$STATE" "$SOCKETS"
    runuser -u postgres -- test -w "$STATE" \
        || die "the postgres user cannot reach $STATE (a parent folder is private): pick a STATE_DIR under /tmp or /srv"
fi
if [ ! -s "$DATA/PG_VERSION" ]; then
    mkdir -p "$DATA"
    if [ "$(id -u)" = 0 ]; then chown postgres "$DATA"; fi
    # The superuser is the OS user that runs the server, reachable only through the local socket
    # (peer authentication, no password); workers log in over TCP as a plain role that owns the
    # two databases and nothing else.
    as_db_owner "$BIN/initdb" -D "$DATA" --auth-local=peer --auth-host=scram-sha-256 >/dev/null
fi
if [ -n "$ALLOW_CIDR" ] && ! grep -qF "sweepcast-workers $ALLOW_CIDR" "$DATA/pg_hba.conf"; then
    printf 'host\toptuna,mlflow\t%s\t%s\tscram-sha-256\t# sweepcast-workers %s\n' \
        "$DB_USER" "$ALLOW_CIDR" "$ALLOW_CIDR" >> "$DATA/pg_hba.conf"
fi
SERVER_OPTIONS="-c listen_addresses=$BIND -p $PG_PORT -k $SOCKETS -c max_connections=$MAX_CONNECTIONS \
-c tcp_keepalives_idle=60 -c tcp_keepalives_interval=10 -c tcp_keepalives_count=6"
if as_db_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_db_owner "$BIN/pg_ctl" -D "$DATA" reload >/dev/null  # picks up a new pg_hba.conf line
else
    as_db_owner "$BIN/pg_ctl" -D "$DATA" -l "$STATE/postgres.log" -w start -o "$SERVER_OPTIONS" >/dev/null
fi
# role and databases, as the superuser over the socket; the password comes from the environment
# through psql's \getenv, so it is on no command line
as_db_owner "$BIN/psql" -h "$SOCKETS" -p "$PG_PORT" -d postgres -v ON_ERROR_STOP=1 -qtA >/dev/null <<SQL
\getenv pw PGPASSWORD
SELECT format('CREATE ROLE %I LOGIN', '$DB_USER') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', '$DB_USER', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', name, '$DB_USER') FROM (VALUES ('optuna'), ('mlflow')) AS wanted(name)
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = name) \gexec
SQL

if [ -s "$STATE/mlflow.pid" ] && kill -0 "$(cat "$STATE/mlflow.pid")" 2>/dev/null; then
    echo "cluster-up: MLflow server already running (pid $(cat "$STATE/mlflow.pid"))"
else
    # the backend URL names no password: psycopg reads PGPASSWORD like psql does
    nohup "$PYTHON" -m mlflow server --host "$BIND" --port "$ML_PORT" --workers 2 \
        --backend-store-uri "postgresql+psycopg://$DB_USER@$BIND:$PG_PORT/mlflow" \
        --artifacts-destination "$ARTIFACTS" --serve-artifacts \
        > "$STATE/mlflow.log" 2>&1 &
    echo $! > "$STATE/mlflow.pid"
    for _ in $(seq 120); do
        if "$PYTHON" -c "import urllib.request,sys; urllib.request.urlopen('http://$BIND:$ML_PORT/health', timeout=2)" 2>/dev/null; then
            break
        fi
        kill -0 "$(cat "$STATE/mlflow.pid")" 2>/dev/null || die "MLflow server exited; see $STATE/mlflow.log"
        sleep 1
    done
    "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://$BIND:$ML_PORT/health', timeout=2)" \
        || die "MLflow server did not answer on $BIND:$ML_PORT; see $STATE/mlflow.log"
fi

cat <<INFO
PostgreSQL on $BIND:$PG_PORT (data $DATA), MLflow server on http://$BIND:$ML_PORT (artifacts $ARTIFACTS).
On each worker machine (same code and data paths), with the same password in its environment:
  export PGPASSWORD=...   # from your secret store, never in a config
  export SWEEPCAST_OPTUNA_STORAGE=postgresql+psycopg://$DB_USER@$BIND:$PG_PORT/optuna
  export MLFLOW_TRACKING_URI=http://$BIND:$ML_PORT
  python train.py -m cluster=postgres hydra.sweeper.n_jobs=4 <the same sweep on every machine>
INFO
