#!/usr/bin/env bash
# A private pgbouncer in transaction mode in front of a local PostgreSQL, for the tests
# (.ci/run) and the benchmark (scripts/bench-pooler.sh).
#
#   scripts/pgbouncer.sh start DIR   writes DIR/pgbouncer.ini, starts pgbouncer in the
#                                    background and waits until it answers; prints its URL
#   scripts/pgbouncer.sh stop DIR    stops the pgbouncer started in DIR
#
# Environment (all optional):
#   PGBOUNCER_PORT       6432        where it listens (127.0.0.1); when unset and 6432 is
#                                    taken (say, by the distribution's own pgbouncer
#                                    service), the next free port up to 6442
#   PGBOUNCER_POOL_SIZE  20          server connections per database and user (default_pool_size)
#   PGBOUNCER_PG_HOST    127.0.0.1   the PostgreSQL behind it
#   PGBOUNCER_PG_PORT    5432
#
# The settings are those of the README's "Scaling out": pool_mode = transaction,
# max_client_conn = 1000, a `*` database entry so that any database (the tests create one
# per test) is reached under its own name, and trust authentication of `postgres` (the
# tests' PostgreSQL trusts local TCP connections too). pgbouncer refuses to run as root;
# as root it is started as the `postgres` system user, who must be able to reach DIR (a
# `mktemp -d` of its own is fine, a directory inside one is not).
set -euo pipefail

command -v pgbouncer >/dev/null || {
    echo "error: pgbouncer is not installed (apt-get install pgbouncer)" >&2
    exit 1
}

action=${1:-}
dir=${2:-}
[ -n "$action" ] && [ -n "$dir" ] || {
    echo "usage: $0 start|stop DIR" >&2
    exit 2
}

PORT=${PGBOUNCER_PORT:-6432}
EXPLICIT_PORT=${PGBOUNCER_PORT:+yes}
POOL_SIZE=${PGBOUNCER_POOL_SIZE:-20}
PG_HOST=${PGBOUNCER_PG_HOST:-127.0.0.1}
PG_PORT=${PGBOUNCER_PG_PORT:-5432}

answers() { pg_isready -h 127.0.0.1 -p "$PORT" -d postgres -U postgres >/dev/null 2>&1; }
# Anything listening at all, pgbouncer or not.
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

case $action in
start)
    while taken; do
        if [ -n "$EXPLICIT_PORT" ] || [ "$PORT" -ge 6442 ]; then
            echo "error: something already listens on 127.0.0.1:$PORT (set PGBOUNCER_PORT)" >&2
            exit 1
        fi
        PORT=$((PORT + 1))
    done
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    cat >"$dir/userlist.txt" <<'EOF'
"postgres" ""
EOF
    cat >"$dir/pgbouncer.ini" <<EOF
[databases]
* = host=$PG_HOST port=$PG_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
pool_mode = transaction
default_pool_size = $POOL_SIZE
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 1000
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
    user_args=()
    if [ "$(id -u)" -eq 0 ]; then
        user_args=(-u postgres)
        chmod 0755 "$dir"
        chown postgres "$dir" "$dir"/*
    fi
    pgbouncer -d "${user_args[@]}" "$dir/pgbouncer.ini"
    for _ in $(seq 50); do
        answers && break
        sleep 0.1
    done
    if ! answers; then
        cat "$dir/pgbouncer.log" >&2 2>/dev/null || true
        echo "error: pgbouncer did not answer on 127.0.0.1:$PORT within 5 s" >&2
        exit 1
    fi
    echo "postgres://postgres@127.0.0.1:$PORT"
    ;;
stop)
    if [ -f "$dir/pgbouncer.pid" ]; then
        pid=$(cat "$dir/pgbouncer.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
