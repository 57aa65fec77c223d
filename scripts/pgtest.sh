#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the test suite (tests/journal/test_postgres.py).
#
#   scripts/pgtest.sh start      install Debian's postgresql if missing (root only), initdb
#                                and start a cluster, or reuse the one already running
#   scripts/pgtest.sh stop       stop it (a no-op when it is not running)
#   scripts/pgtest.sh dsn        print its DSN
#   scripts/pgtest.sh run CMD…   start, run CMD with WALLETLINK_TEST_PG_DSN set, exit with
#                                CMD's status; under CI=true the cluster is stopped afterwards
#
# One cluster per checkout, in /tmp (the postgres user must reach it when we are root), that
# listens on a unix socket only: no TCP port, so parallel checkouts never collide. initdb
# refuses to run as root, so as root the cluster belongs to the `postgres` user that Debian's
# package creates. An exported WALLETLINK_TEST_PG_DSN wins: then nothing is started.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ID=$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
DIR=${WALLETLINK_PGTEST_DIR:-/tmp/walletlink-pgtest-$ID}
DATA=$DIR/data
PORT=5432 # names the socket file only: listen_addresses is empty
DB=walletlink_test
DSN="host=$DIR port=$PORT user=postgres dbname=$DB"

log() { echo "pgtest: $*" >&2; }

bindir() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

install_postgres() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        log "PostgreSQL is not installed; install it (apt-get install postgresql) or export WALLETLINK_TEST_PG_DSN"
        return 1
    fi
    log "installing Debian's postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq postgresql >/dev/null
}

# Run a PostgreSQL tool as the cluster's owner, from a directory that owner can enter.
as_owner() {
    if [ "$(id -u)" = 0 ] && command -v runuser >/dev/null 2>&1; then
        (cd "$DIR" && runuser -u postgres -- "$@")
    elif [ "$(id -u)" = 0 ]; then
        (cd "$DIR" && su -s /bin/sh postgres -c "$(printf '%q ' "$@")")
    else
        (cd "$DIR" && "$@")
    fi
}

start() {
    local bin
    bin=$(bindir) || { install_postgres && bin=$(bindir); } || return 1
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$DIR"
    if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1 && ensure_db "$bin" 2>/dev/null; then
        return 0
    fi
    # Not running, or running but not answering (a killed postmaster): start it afresh.
    as_owner "$bin/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
    if [ ! -s "$DATA/PG_VERSION" ] || ! launch "$bin" 2>/dev/null; then
        # No cluster yet, or a broken one (a killed initdb, another major version): start over.
        rm -rf "$DATA"
        as_owner "$bin/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-locale >/dev/null
        launch "$bin" || { log "the server did not start; see $DIR/server.log"; return 1; }
    fi
    ensure_db "$bin"
}

launch() {
    as_owner "$1/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 \
        -o "-c listen_addresses='' -k $DIR -p $PORT -c max_connections=200" start >/dev/null
}

ensure_db() {
    local found
    found=$(as_owner "$1/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'")
    [ "$found" = 1 ] || as_owner "$1/createdb" -h "$DIR" -p "$PORT" -U postgres "$DB"
}

stop() {
    local bin
    bin=$(bindir) || return 0
    [ -d "$DATA" ] || return 0
    if as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
        as_owner "$bin/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    fi
}

case "${1:-}" in
start) start && log "PostgreSQL ready: $DSN" ;;
stop) stop ;;
dsn) echo "$DSN" ;;
run)
    shift
    if [ -z "${WALLETLINK_TEST_PG_DSN:-}" ]; then
        if start; then
            export WALLETLINK_TEST_PG_DSN=$DSN
        elif [ "${CI:-}" = true ]; then
            log "no PostgreSQL server: the PostgreSQL tests cannot run in CI"
            exit 1
        else
            log "no PostgreSQL server: the PostgreSQL tests will be skipped"
        fi
    fi
    status=0
    "$@" || status=$?
    if [ "${CI:-}" = true ]; then stop; fi
    exit "$status"
    ;;
*)
    echo "usage: $0 start|stop|dsn|run CMD..." >&2
    exit 2
    ;;
esac
