#!/usr/bin/env bash
# The real Evolution API 2.3.6 for the tests' real-Evolution leg (tests/api/real_evolution.rs,
# README "Tests"), around shared/evolution-real/start.sh, which builds it offline and runs it.
#
#   scripts/real-evolution.sh prepare      install and build it in RELEVO_EVO_WORK (minutes the
#                                          first time, nothing afterwards: the build is kept)
#   scripts/real-evolution.sh start        prepare if needed, then start it on a free port with a
#                                          fresh database of its own; prints `export` lines (its
#                                          URL, key, port and log file):
#                                            eval "$(scripts/real-evolution.sh start)"
#   scripts/real-evolution.sh stop [PORT]  stop the one started on PORT (default: $RELEVO_EVO_PORT,
#                                          then the last one started) and drop its database
#
# Environment (all optional):
#   RELEVO_EVO_START    the upstream script      (shared/evolution-real/start.sh beside the checkout)
#   RELEVO_EVO_WORK     build, logs, pid files   ($HOME/.cache/relevo/evolution-real: kept between
#                                                 runs, so CI installs the npm packages once)
#   RELEVO_EVO_PORT     where it listens         (a free port below the ephemeral range)
#   RELEVO_EVO_KEY      its global API key       (relevo-real-evolution-key)
#   RELEVO_EVO_PG_URL   the PostgreSQL server for its database, without a database name
#                                                (postgresql://postgres@127.0.0.1:5432)
#
# Its database is `relevo_real_evolution_<port>`: created fresh on start (Evolution reconnects
# every instance it has stored, so leftovers of an earlier run would loop for ever) and dropped on
# stop. Needs node >= 20 and npm, psql, python3, curl and flock.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

START=${RELEVO_EVO_START:-}
if [ -z "$START" ]; then
    for candidate in ../shared/evolution-real/start.sh /work/shared/evolution-real/start.sh; do
        if [ -f "$candidate" ]; then
            START=$(cd "$(dirname "$candidate")" && pwd)/start.sh
            break
        fi
    done
fi
[ -n "$START" ] && [ -f "$START" ] ||
    die "shared/evolution-real/start.sh not found beside the checkout (set RELEVO_EVO_START)"

WORK=${RELEVO_EVO_WORK:-${HOME:-/tmp}/.cache/relevo/evolution-real}
KEY=${RELEVO_EVO_KEY:-relevo-real-evolution-key}
PG_URL=${RELEVO_EVO_PG_URL:-postgresql://postgres@127.0.0.1:5432}
PG_URL=${PG_URL%/}
LAST_PORT_FILE=$WORK/relevo-last-port
mkdir -p "$WORK"

database_of() { echo "relevo_real_evolution_$1"; }

drop_database() {
    PGOPTIONS="-c client_min_messages=warning" psql -X -q -w "$PG_URL/postgres" -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$(database_of "$1")\" WITH (FORCE)" >/dev/null
}

# Builds are serialised: start.sh prepare starts by removing a half-built tree.
prepare() {
    flock -o "$WORK/prepare.lock" env EVO_WORK="$WORK" "$START" prepare
}

case ${1:-} in
prepare)
    prepare
    ;;
start)
    prepare
    # One start at a time in this work folder, so that two runs never pick the same port. The
    # server does not inherit the lock's descriptor (9>&-), so it is released here.
    exec 9>"$WORK/start.lock"
    flock 9
    port=${RELEVO_EVO_PORT:-$(free_port)}
    db=$(database_of "$port")
    drop_database "$port"
    log "starting Evolution on 127.0.0.1:$port (database $db, work folder $WORK)"
    if ! EVO_WORK="$WORK" EVO_PORT="$port" EVO_API_KEY="$KEY" EVO_CLIENT_NAME=relevo_tests \
        EVO_DB_URL="$PG_URL/$db" "$START" start >/dev/null 9>&-; then
        # start.sh may give up waiting on a server that still runs.
        EVO_WORK="$WORK" EVO_PORT="$port" "$START" stop || true
        drop_database "$port" || true
        die "Evolution did not start on port $port: see $WORK/logs/evolution-$port.log"
    fi
    echo "$port" >"$LAST_PORT_FILE"
    flock -u 9
    echo "export RELEVO_TEST_REAL_EVOLUTION_URL=http://127.0.0.1:$port"
    echo "export RELEVO_TEST_REAL_EVOLUTION_KEY=$KEY"
    echo "export RELEVO_EVO_PORT=$port"
    echo "export RELEVO_TEST_REAL_EVOLUTION_LOG=$WORK/logs/evolution-$port.log"
    ;;
stop)
    port=${2:-${RELEVO_EVO_PORT:-$(cat "$LAST_PORT_FILE" 2>/dev/null || true)}}
    [ -n "$port" ] || die "no port given and none started from $WORK"
    EVO_WORK="$WORK" EVO_PORT="$port" "$START" stop
    drop_database "$port" || warn "could not drop $(database_of "$port")"
    if [ "$(cat "$LAST_PORT_FILE" 2>/dev/null || true)" = "$port" ]; then
        rm -f "$LAST_PORT_FILE"
    fi
    ;;
*)
    echo "usage: $0 prepare|start|stop [PORT]" >&2
    exit 2
    ;;
esac
