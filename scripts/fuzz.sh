#!/usr/bin/env bash
# Schema-based fuzzing of Relevo's API with schemathesis, on SQLite and on PostgreSQL.
#
#   scripts/fuzz.sh                       # both backends, the committed openapi/openapi.json
#   FUZZ_OPENAPI=/tmp/new.json scripts/fuzz.sh sqlite
#
# For each backend: starts target/debug/relevo on a free port and a fresh database (PostgreSQL:
# a new database, dropped afterwards), seeds tenants, instances, users, sender tokens, Evolution
# servers and claims through the API (scripts/fuzz/seed.py), then runs schemathesis with every
# check, a fixed seed and a bounded number of examples. scripts/fuzz/hooks.py sends each
# operation the token of its role, points path parameters at the seeded rows most of the time
# and keeps destructive operations off the rows the run relies on. Nothing listens where the
# seeded Evolution servers point, so operations that call Evolution answer their documented
# 502 `evolution.*` (or, for messages, 502 `message.send_failed`). The run fails on any 5xx other than those, any response that breaks its
# schema or is not documented, any check failure, a Relevo panic or a Relevo that died.
#
# Environment:
#   FUZZ_OPENAPI        the document to test (default openapi/openapi.json)
#   FUZZ_BACKENDS       "sqlite postgres" (or the script's arguments)
#   FUZZ_SEED           20261129            FUZZ_MAX_EXAMPLES  25
#   FUZZ_WORKERS        2                   FUZZ_PG_URL        postgres://postgres@127.0.0.1:5432
#   FUZZ_REPORT_DIR     target/fuzz (schemathesis output, JUnit and NDJSON reports, Relevo's log)
#   FUZZ_VENV           .fuzz-venv (schemathesis, pinned by scripts/fuzz/requirements.txt)
#   FUZZ_PYTHON         python3             (the interpreter of that venv)
#   RELEVO_BIN          a relevo binary to use instead of building target/debug/relevo
#   FUZZ_ST_ARGS        more `st run` options, e.g. "--continue-on-failure" to report more than
#                       the first failure of each operation and check
set -euo pipefail
CALLER_DIR=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)

absolute() { case $1 in /*) echo "$1" ;; *) echo "$CALLER_DIR/$1" ;; esac; }
FUZZ_OPENAPI=$(absolute "${FUZZ_OPENAPI:-$ROOT/openapi/openapi.json}")
FUZZ_BACKENDS=${*:-${FUZZ_BACKENDS:-sqlite postgres}}
FUZZ_SEED=${FUZZ_SEED:-20261129}
FUZZ_MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-25}
FUZZ_WORKERS=${FUZZ_WORKERS:-2}
FUZZ_PG_URL=${FUZZ_PG_URL:-postgres://postgres@127.0.0.1:5432}
FUZZ_REPORT_DIR=$(absolute "${FUZZ_REPORT_DIR:-$ROOT/target/fuzz}")
FUZZ_VENV=$(absolute "${FUZZ_VENV:-$ROOT/.fuzz-venv}")
ADMIN_EMAIL=fuzz-admin@relevo.test
ADMIN_PASSWORD="Fuzz-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# shellcheck source=scripts/lib.sh
. scripts/lib.sh
[ -f "$FUZZ_OPENAPI" ] || { echo "error: FUZZ_OPENAPI: no file $FUZZ_OPENAPI" >&2; exit 2; }

# 1. schemathesis, exactly as pinned, in its own virtualenv (reinstalled when the pins change).
FUZZ_PYTHON=${FUZZ_PYTHON:-python3}
REQUIREMENTS=$ROOT/scripts/fuzz/requirements.txt
# The venv is rebuilt when the pins or the interpreter's version change.
WANTED=$(cat "$REQUIREMENTS"; "$FUZZ_PYTHON" -c 'import sys; print("# python %d.%d" % sys.version_info[:2])')
if [ "$WANTED" != "$(cat "$FUZZ_VENV/.installed-requirements" 2>/dev/null)" ]; then
    log "installing schemathesis into $FUZZ_VENV ($FUZZ_PYTHON)"
    rm -rf "$FUZZ_VENV"
    "$FUZZ_PYTHON" -m venv "$FUZZ_VENV"
    "$FUZZ_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
    printf '%s\n' "$WANTED" >"$FUZZ_VENV/.installed-requirements"
fi
PYTHON=$FUZZ_VENV/bin/python
ST=$FUZZ_VENV/bin/st

# 2. Relevo (debug build, as the tests use it).
if [ -z "${RELEVO_BIN:-}" ]; then
    log "building relevo"
    cargo build --locked --quiet --bin relevo
    RELEVO_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/debug/relevo
fi
RELEVO_BIN=$(absolute "$RELEVO_BIN")

WORK=$(mktemp -d)
RELEVO_PID="" PG_DB=""
stop_relevo() {
    [ -n "$RELEVO_PID" ] || return 0
    kill -TERM "$RELEVO_PID" 2>/dev/null || true
    wait "$RELEVO_PID" 2>/dev/null || true
    RELEVO_PID=""
}
drop_database() {
    [ -n "$PG_DB" ] || return 0
    psql -qAtX "$FUZZ_PG_URL/postgres" -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null || true
    PG_DB=""
}
cleanup() {
    local status=$?
    stop_relevo
    drop_database
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

# Starts Relevo for one backend on ADDR, logging to LOG; succeeds once it answers /ready.
start_relevo() {
    local backend=$1 db_url=$2 addr=$3 logfile=$4
    log "$backend: starting relevo on $addr"
    # English messages (hooks.py reads some), short Evolution timeouts (servers the fuzzer
    # creates may point anywhere), no per-tenant instance cap for provisioning to run into,
    # and loopback targets allowed (the seeded server and callbacks point at this machine;
    # the refusal of such targets has its own tests).
    env -i PATH="$PATH" HOME="${HOME:-/tmp}" \
        DATABASE_URL="$db_url" RELEVO_BIND="$addr" \
        RELEVO_JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
        RELEVO_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" \
        RELEVO_ADMIN_EMAIL="$ADMIN_EMAIL" RELEVO_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        RELEVO_LOCALE=en RUST_LOG=warn \
        EVOLUTION_API_CONNECT_TIMEOUT_MS=1000 EVOLUTION_API_REQUEST_TIMEOUT_MS=3000 \
        EVOLUTION_API_MAX_INSTANCES_PER_TENANT=100000 RELEVO_ALLOW_PRIVATE_TARGETS=1 \
        "$RELEVO_BIN" >"$logfile" 2>&1 &
    RELEVO_PID=$!
    for _ in $(seq 1 300); do
        curl -fsS -o /dev/null "http://$addr/ready" 2>/dev/null && return 0
        kill -0 "$RELEVO_PID" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# Runs one backend; returns non-zero when anything failed. (Called in an `||` list, where
# `set -e` does not apply: every step checks its own status.)
fuzz_backend() {
    local backend=$1 db_url addr attempt reports failed=0 status
    reports=$FUZZ_REPORT_DIR/$backend
    rm -rf "$reports"
    mkdir -p "$reports"
    case $backend in
    sqlite) db_url=$WORK/$backend/relevo.db; mkdir -p "$WORK/$backend" ;;
    postgres)
        PG_DB=relevo_fuzz_$$_$RANDOM
        db_url=$FUZZ_PG_URL/$PG_DB
        psql -qAtX "$FUZZ_PG_URL/postgres" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null || return 1 ;;
    *) echo "error: unknown backend $backend (sqlite or postgres)" >&2; return 1 ;;
    esac

    # A port can be taken between choosing and binding it: then start again on another.
    for attempt in 1 2 3; do
        addr=127.0.0.1:$(free_port)
        start_relevo "$backend" "$db_url" "$addr" "$reports/relevo.log" && break
        stop_relevo
        if [ "$attempt" = 3 ] || ! grep -q "Address already in use" "$reports/relevo.log"; then
            echo "error: $backend: relevo did not become ready; its log:" >&2
            cat "$reports/relevo.log" >&2
            return 1
        fi
        log "$backend: $addr was taken before Relevo bound it; trying another port"
    done

    log "$backend: seeding"
    "$PYTHON" "$ROOT/scripts/fuzz/seed.py" --base-url "http://$addr" --email "$ADMIN_EMAIL" \
        --password "$ADMIN_PASSWORD" --database-url "$db_url" \
        --evolution-url "http://127.0.0.1:$(free_port)" --out "$WORK/state-$backend.json" || return 1

    log "$backend: schemathesis on $FUZZ_OPENAPI (seed $FUZZ_SEED, at most $FUZZ_MAX_EXAMPLES examples per operation and phase)"
    status=0
    # shellcheck disable=SC2086 # FUZZ_ST_ARGS is a list of options
    (
        cd "$reports"
        RELEVO_FUZZ_STATE="$WORK/state-$backend.json" RELEVO_FUZZ_DROPPED="$reports/dropped.jsonl" \
            SCHEMATHESIS_HOOKS="$ROOT/scripts/fuzz/hooks.py" \
            "$ST" --config-file "$ROOT/scripts/fuzz/schemathesis.toml" --no-color run "$FUZZ_OPENAPI" \
            --origin "http://$addr" --checks all --seed "$FUZZ_SEED" --max-examples "$FUZZ_MAX_EXAMPLES" \
            --workers "$FUZZ_WORKERS" --report junit,ndjson --report-dir "$reports" ${FUZZ_ST_ARGS:-} 2>&1
    ) | tee "$reports/schemathesis.txt" || status=$?
    [ "$status" = 0 ] || { echo "!!! $backend: schemathesis found failures (exit $status)" >&2; failed=1; }
    if [ -s "$reports/dropped.jsonl" ]; then
        echo "$backend: failures hooks.py dropped as not the API's (count, operation, why, status, error_key):"
        "$PYTHON" - "$reports/dropped.jsonl" <<'PY'
import collections, json, sys
rows = collections.Counter()
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d["status"] == 422:
        detail = "; ".join(sorted({m for ms in (d["errors"] or {}).values() for m in ms}))
    elif d["status"] == 400:
        detail = f'{d["error_key"]}: {d.get("message")}'
    else:
        detail = d["error_key"]
    rows[(d["operation"], d["reason"], d["status"], detail)] += 1
for (operation, reason, status, detail), count in sorted(rows.items()):
    print(f"  {count:4} {operation}: {reason} ({status} {detail})")
PY
    fi

    if ! kill -0 "$RELEVO_PID" 2>/dev/null; then
        echo "!!! $backend: relevo died during the run; the end of its log:" >&2
        tail -n 50 "$reports/relevo.log" >&2
        failed=1
    fi
    if grep -q "panicked" "$reports/relevo.log"; then
        echo "!!! $backend: relevo panicked:" >&2
        grep -A 5 "panicked" "$reports/relevo.log" | head -n 40 >&2
        failed=1
    fi
    stop_relevo
    drop_database
    log "$backend: reports in $reports"
    return "$failed"
}

failures=""
for backend in $FUZZ_BACKENDS; do
    fuzz_backend "$backend" || failures="$failures $backend"
done
if [ -n "$failures" ]; then
    echo "!!! fuzzing failed on:$failures (reports in $FUZZ_REPORT_DIR)" >&2
    exit 1
fi
log "fuzzing passed on: $FUZZ_BACKENDS"
