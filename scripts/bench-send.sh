#!/usr/bin/env bash
# Benchmark of sending through Relevo (POST /api/v1/tenants/{tenant}/messages) beside the
# claim it is built on, in one run, on each backend.
#
#   scripts/bench-send.sh
#
# Builds `relevo`, the load generator (examples/claim_load.rs) and a stand-in Evolution API
# (examples/evolution_sink.rs: answers sendText with 201 as Evolution v2 does) in release mode.
# For each backend it starts the sink and Relevo on a fresh database, seeds a tenant whose
# instances point at the sink, then drives at each concurrency, for a fixed time after a
# warm-up: claims (`{}`), then sends (a distinct recipient per message, cycling). It prints
# requests/s, p50/p99, Relevo's peak RSS, the ratio sends/claims, and checks: the messages Relevo
# logged as sent equal what the sink received, no instance is over its limit, and every counter
# equals its send log.
#
# Environment (all optional):
#   BENCH_BACKENDS      "postgres sqlite"   backends to run, in order
#   BENCH_CONCURRENCY   "16"                concurrent clients per level
#   BENCH_DURATION      10                  measured seconds per level
#   BENCH_WARMUP        2                   unmeasured seconds before each level
#   BENCH_INSTANCES     100                 instances of the benchmark tenant
#   BENCH_SINK_DELAY_MS 0                   how long the sink takes per sendText
#   BENCH_PG_URL        postgres://postgres@127.0.0.1:5432   server for the throwaway databases
#   BENCH_OUT           target/bench-send/<date>   where raw outputs and logs are kept
#
# Exit status: 0 when every run finished with no 5xx, transport error, bad body or broken
# check; 1 otherwise. Missing the goal (sends >= 50 % of claims at 16) does not fail it.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)

BENCH_BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-16}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_INSTANCES=${BENCH_INSTANCES:-100}
BENCH_SINK_DELAY_MS=${BENCH_SINK_DELAY_MS:-0}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_OUT=${BENCH_OUT:-$ROOT/target/bench-send/$(date -u +%Y%m%dT%H%M%SZ)}

RELEVO_BIN=$ROOT/target/release/relevo
LOAD_BIN=$ROOT/target/release/examples/claim_load
SINK_BIN=$ROOT/target/release/examples/evolution_sink
ADMIN_EMAIL=bench@relevo.local
ADMIN_PASSWORD=bench-admin-password-1

for tool in curl awk sed od base64; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
case " $BENCH_BACKENDS " in *" postgres "*) command -v psql >/dev/null || die "missing tool: psql" ;; esac
case " $BENCH_BACKENDS " in *" sqlite "*) command -v sqlite3 >/dev/null || die "missing tool: sqlite3" ;; esac

mkdir -p "$BENCH_OUT"
WORK=$(mktemp -d)
RELEVO_PID="" SINK_PID="" PG_DB=""
FAILURES=0

stop() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    stop "$RELEVO_PID"
    stop "$SINK_PID"
    if [ -n "$PG_DB" ]; then
        psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_for() {
    local url=$1 pid=$2 what=$3
    for _ in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || die "$what exited during start-up"
        curl -fsS -o /dev/null "$url" 2>/dev/null && return
        sleep 0.1
    done
    die "$what was not ready within 30 s"
}

peak_rss_mib() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$RELEVO_PID/status"; }

sql_value() {
    case $BACKEND in
    postgres) psql "$DB_URL" -qAtX -c "$1" ;;
    sqlite) sqlite3 "$SQLITE_FILE" "$1" ;;
    esac
}

# load LABEL ARGS...: runs the load generator and prints its RESULT line.
load() {
    local label=$1 output line
    shift
    output=$("$LOAD_BIN" run --addr "$RELEVO_ADDR" --label "$label" --token "$SENDER_TOKEN" \
        --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" "$@" 2> >(tee -a "$BENCH_OUT/$label.err" >&2)) ||
        die "load generator failed ($label)"
    printf '%s\n' "$output" >"$BENCH_OUT/$label.out"
    line=$(printf '%s\n' "$output" | grep '^RESULT ')
    if [ "$(kv "$line" s5xx)" != 0 ] || [ "$(kv "$line" transport_errors)" != 0 ] ||
        [ "$(kv "$line" bad_bodies)" != 0 ] || [ "$(kv "$line" s4xx_other)" != 0 ]; then
        warn "$label: 5xx, other 4xx, transport errors or bad bodies (see $BENCH_OUT/$label.err)"
        FAILURES=$((FAILURES + 1))
    fi
    printf '%s\n' "$line"
}

log "building relevo, claim_load and evolution_sink (release)"
cargo build --release --locked --bin relevo --example claim_load --example evolution_sink >&2

# One recipient per message, cycled: a campaign's audience.
BODIES=$WORK/bodies.jsonl
awk 'BEGIN { for (n = 0; n < 1600; n++) printf "{\"to\":\"+5731%08d\",\"text\":\"Hola, tu pedido está en camino.\"}\n", n }' >"$BODIES"

JWT_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)

declare -a ROWS=()
for BACKEND in $BENCH_BACKENDS; do
    case $BACKEND in
    postgres)
        PG_DB=relevo_bench_send_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
        psql "$BENCH_PG_URL/postgres" -qAtX -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
        DB_URL=$BENCH_PG_URL/$PG_DB
        ;;
    sqlite)
        SQLITE_FILE=$WORK/sqlite/relevo.db
        mkdir -p "$WORK/sqlite"
        DB_URL=$SQLITE_FILE
        ;;
    *) die "unknown backend $BACKEND" ;;
    esac

    SINK_PORT=$(free_port)
    "$SINK_BIN" --port "$SINK_PORT" --delay-ms "$BENCH_SINK_DELAY_MS" >"$BENCH_OUT/sink-$BACKEND.log" 2>&1 &
    SINK_PID=$!
    wait_for "http://127.0.0.1:$SINK_PORT/sent" "$SINK_PID" "evolution_sink"

    RELEVO_ADDR=127.0.0.1:$(free_port)
    env -i PATH="$PATH" DATABASE_URL="$DB_URL" RELEVO_BIND="$RELEVO_ADDR" \
        RELEVO_JWT_SECRET="$JWT_SECRET" RELEVO_ENCRYPTION_KEY="$ENCRYPTION_KEY" \
        RELEVO_ADMIN_EMAIL="$ADMIN_EMAIL" RELEVO_ADMIN_PASSWORD="$ADMIN_PASSWORD" RUST_LOG=warn \
        "$RELEVO_BIN" >>"$BENCH_OUT/relevo-$BACKEND.log" 2>&1 &
    RELEVO_PID=$!
    wait_for "http://$RELEVO_ADDR/ready" "$RELEVO_PID" "relevo"

    seeded=$("$LOAD_BIN" seed --addr "$RELEVO_ADDR" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" \
        --instances "$BENCH_INSTANCES" --limit 100000 --evolution-url "http://127.0.0.1:$SINK_PORT")
    TENANT_ID=$(sed -n 's/^TENANT_ID=//p' <<<"$seeded")
    SENDER_TOKEN=$(sed -n 's/^SENDER_TOKEN=//p' <<<"$seeded")

    for c in $BENCH_CONCURRENCY; do
        log "$BACKEND: claims and sends at $c"
        claims=$(load "$BACKEND-claims-c$c" --path "/api/v1/tenants/$TENANT_ID/sender/claim" \
            --body '{}' --concurrency "$c" --expect '"granted":1')
        sends=$(load "$BACKEND-sends-c$c" --path "/api/v1/tenants/$TENANT_ID/messages" \
            --bodies "$BODIES" --concurrency "$c" --expect '"status":"sent"')
        rss=$(peak_rss_mib)
        ratio=$(calc "$(kv "$sends" rps) / $(kv "$claims" rps)")
        ROWS+=("$BACKEND $c $(kv "$claims" rps) $(kv "$claims" p50_ms) $(kv "$claims" p99_ms) $(kv "$sends" rps) $(kv "$sends" p50_ms) $(kv "$sends" p99_ms) $ratio $rss")
    done

    # Every message Relevo logged as sent reached the sink, and nothing else did; counters
    # equal the send log; nobody is past a limit.
    logged=$(sql_value "SELECT count(*) FROM messages WHERE status = 'sent'")
    other=$(sql_value "SELECT count(*) FROM messages WHERE status <> 'sent'")
    received=$(curl -fsS "http://127.0.0.1:$SINK_PORT/sent" | sed -n 's/.*"total":\([0-9]*\).*/\1/p')
    over=$(sql_value "SELECT count(*) FROM whatsapp_instances WHERE messages_sent_today > daily_message_limit")
    mismatch=$(sql_value "SELECT count(*) FROM whatsapp_instances i WHERE i.messages_sent_today <> COALESCE((SELECT sum(c.granted - c.released) FROM claims c WHERE c.instance_id = i.id AND c.usage_date = i.last_reset_date), 0)")
    log "$BACKEND: messages sent (log) $logged, other states $other, received by the sink $received, over-limit $over, counter/log mismatches $mismatch"
    if [ "$logged" != "$received" ] || [ "$other" != 0 ] || [ "$over" != 0 ] || [ "$mismatch" != 0 ]; then
        warn "$BACKEND: a check failed"
        FAILURES=$((FAILURES + 1))
    fi

    stop "$RELEVO_PID"
    RELEVO_PID=""
    stop "$SINK_PID"
    SINK_PID=""
    if [ -n "$PG_DB" ]; then
        psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
        PG_DB=""
    fi
done

echo
printf '%-9s %4s | %10s %8s %8s | %10s %8s %8s | %11s %9s\n' backend conc "claims/s" "p50 ms" "p99 ms" "sends/s" "p50 ms" "p99 ms" "sends/claims" "RSS MiB"
for row in "${ROWS[@]}"; do
    # shellcheck disable=SC2086
    printf '%-9s %4s | %10s %8s %8s | %10s %8s %8s | %11s %9s\n' $row
done
echo "goal: sends/claims >= 0.50 at 16 (the sink answers in ${BENCH_SINK_DELAY_MS} ms)"
echo "raw outputs: $BENCH_OUT"
[ "$FAILURES" = 0 ] || die "$FAILURES problem(s): see above"
