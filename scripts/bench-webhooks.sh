#!/usr/bin/env bash
# Benchmark of Evolution's inbound webhook (POST /api/v1/webhooks/evolution/{token}) beside the claim.
#
#   scripts/bench-webhooks.sh
#
# For each backend: starts Relevo (release) on a fresh database, seeds a claim tenant (100 instances,
# a sender token) and an events tenant (BENCH_HOOK_INSTANCES instances) through the API, and puts
# the events tenant's instances on an Evolution server row whose webhook token digest the script
# writes itself (no Evolution server is needed: the webhook finds its server by that digest). Then:
#   1. events at 16 concurrent posters: `connection.update` open then close 401 for every instance,
#      each worker owning its instances and stopping after whole rounds; every answer must say
#      `"outcome":"applied"` (each event changes its instance) and at the end every instance must be
#      `disconnected` with status_reason 401 (nothing lost);
#   2. claims at 16 alone, then claims at 16 while events arrive at BENCH_EVENT_RATE per second.
# Environment: BENCH_BACKENDS ("postgres sqlite"), BENCH_DURATION (10), BENCH_WARMUP (2),
# BENCH_HOOK_INSTANCES (64, a multiple of 16), BENCH_EVENT_RATE (500), BENCH_PG_URL.
# Relevo, the load generator and the database share this machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)
BENCH_BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_HOOK_INSTANCES=${BENCH_HOOK_INSTANCES:-64}
BENCH_EVENT_RATE=${BENCH_EVENT_RATE:-500}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
CONCURRENCY=16
RELEVO_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/relevo
LOAD_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/claim_load
ADMIN_EMAIL=bench@relevo.local
ADMIN_PASSWORD=bench-admin-password-1
[ $((BENCH_HOOK_INSTANCES % CONCURRENCY)) = 0 ] || { echo "BENCH_HOOK_INSTANCES must be a multiple of $CONCURRENCY" >&2; exit 1; }

WORK=$(mktemp -d)
RELEVO_PID="" PG_DB="" FAILURES=0
cleanup() {
    local status=$?
    [ -z "$RELEVO_PID" ] || { kill -TERM "$RELEVO_PID" 2>/dev/null; wait "$RELEVO_PID" 2>/dev/null || true; }
    [ -z "$PG_DB" ] || psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

sql() {
    case $BACKEND in
    postgres) psql "$DB_URL" -qAtX -F ' ' -c "$1" ;;
    sqlite) sqlite3 -separator ' ' "$DB_URL" "$1" ;;
    esac
}
load() { "$LOAD_BIN" run --addr "$RELEVO_ADDR" "$@" | grep '^RESULT '; }

run_backend() {
    BACKEND=$1
    case $BACKEND in
    postgres)
        PG_DB=relevo_hooks_$RANDOM$RANDOM
        DB_URL=$BENCH_PG_URL/$PG_DB
        psql "$BENCH_PG_URL/postgres" -qAtX -c "CREATE DATABASE \"$PG_DB\"" >/dev/null ;;
    sqlite) mkdir -p "$WORK/sqlite"; DB_URL=$WORK/sqlite/relevo.db ;;
    esac
    RELEVO_ADDR=127.0.0.1:$(free_port)
    env -i PATH="$PATH" DATABASE_URL="$DB_URL" RELEVO_BIND="$RELEVO_ADDR" \
        RELEVO_JWT_SECRET="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
        RELEVO_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" \
        RELEVO_ADMIN_EMAIL="$ADMIN_EMAIL" RELEVO_ADMIN_PASSWORD="$ADMIN_PASSWORD" RUST_LOG=warn \
        "$RELEVO_BIN" >>"$WORK/relevo-$BACKEND.log" 2>&1 &
    RELEVO_PID=$!
    for _ in $(seq 300); do curl -fsS -o /dev/null "http://$RELEVO_ADDR/ready" 2>/dev/null && break; sleep 0.1; done
    local seeded hooks tenant token hook_tenant hook_token digest n
    seeded=$("$LOAD_BIN" seed --addr "$RELEVO_ADDR" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" --instances 100 --slug bench)
    tenant=$(sed -n 's/^TENANT_ID=//p' <<<"$seeded")
    token=$(sed -n 's/^SENDER_TOKEN=//p' <<<"$seeded")
    hooks=$("$LOAD_BIN" seed --addr "$RELEVO_ADDR" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" \
        --instances "$BENCH_HOOK_INSTANCES" --slug hooks)
    hook_tenant=$(sed -n 's/^TENANT_ID=//p' <<<"$hooks")
    hook_token=$(head -c 30 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)
    digest=$(printf '%s' "$hook_token" | sha256sum | cut -d' ' -f1)
    sql "INSERT INTO evolution_servers (name, base_url, is_active, is_default, webhook_token_digest, created_at, updated_at)
         VALUES ('bench-hooks', 'http://evolution.bench', true, false, '$digest', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)" >/dev/null
    sql "UPDATE whatsapp_instances SET evolution_server_id = (SELECT id FROM evolution_servers WHERE name = 'bench-hooks')
         WHERE tenant_id = $hook_tenant" >/dev/null
    # Line i opens hooks_i, line N + i closes it (401): both land on worker i mod 16, in that order.
    : >"$WORK/events.jsonl"
    for n in $(seq 0 $((BENCH_HOOK_INSTANCES - 1))); do
        printf '{"event":"connection.update","instance":"hooks_%d","data":{"instance":"hooks_%d","wuid":"57300%07d@s.whatsapp.net","profileName":"Bench","state":"open","statusReason":200},"destination":"x","date_time":"2025-11-17T06:30:00.000Z","server_url":"http://evolution.bench","apikey":null}\n' "$n" "$n" "$n" >>"$WORK/events.jsonl"
    done
    for n in $(seq 0 $((BENCH_HOOK_INSTANCES - 1))); do
        printf '{"event":"connection.update","instance":"hooks_%d","data":{"instance":"hooks_%d","state":"close","statusReason":401},"destination":"x","date_time":"2025-11-17T06:30:00.000Z","server_url":"http://evolution.bench","apikey":null}\n' "$n" "$n" >>"$WORK/events.jsonl"
    done
    local hook_path=/api/v1/webhooks/evolution/$hook_token
    local events_args=(--path "$hook_path" --bodies "$WORK/events.jsonl" --expect '"outcome":"applied"' --concurrency $CONCURRENCY)
    check_final() {
        local wrong
        wrong=$(sql "SELECT count(*) FROM whatsapp_instances WHERE tenant_id = $hook_tenant
                     AND NOT (connection_status = 'disconnected' AND status_reason = 401)")
        [ "$wrong" = 0 ] || { echo "!!! $1: $wrong instances not in the state of their last event" >&2; FAILURES=$((FAILURES + 1)); }
        echo "$wrong"
    }
    bad() { [ "$(kv "$1" non_200)" = 0 ] || { echo "!!! $2: non-200 or not applied: $1" >&2; FAILURES=$((FAILURES + 1)); }; }

    log "$BACKEND: events at $CONCURRENCY posters"
    local events events_wrong alone mixed background mixed_wrong
    events=$(load --label "$BACKEND-events" "${events_args[@]}" --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP")
    bad "$events" events
    events_wrong=$(check_final events)
    log "$BACKEND: claims at $CONCURRENCY alone"
    alone=$(load --label "$BACKEND-claims" --path "/api/v1/tenants/$tenant/sender/claim" --token "$token" --body '{}' \
        --concurrency $CONCURRENCY --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --expect '"granted":1')
    log "$BACKEND: claims at $CONCURRENCY with $BENCH_EVENT_RATE events/s"
    load --label "$BACKEND-events-bg" "${events_args[@]}" --rate "$BENCH_EVENT_RATE" \
        --duration "$((BENCH_DURATION + 1))" --warmup "$BENCH_WARMUP" >"$WORK/bg.out" &
    local bg=$!
    mixed=$(load --label "$BACKEND-claims-mixed" --path "/api/v1/tenants/$tenant/sender/claim" --token "$token" --body '{}' \
        --concurrency $CONCURRENCY --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --expect '"granted":1')
    wait "$bg"
    background=$(cat "$WORK/bg.out")
    bad "$background" events-background
    mixed_wrong=$(check_final events-background)
    kill -TERM "$RELEVO_PID"; wait "$RELEVO_PID" 2>/dev/null || true; RELEVO_PID=""
    [ "$BACKEND" != postgres ] || { psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE \"$PG_DB\" WITH (FORCE)" >/dev/null; PG_DB=""; }
    echo "=== $BACKEND ($BENCH_HOOK_INSTANCES instances, open/close alternating; ${BENCH_WARMUP} s warm-up + ${BENCH_DURATION} s)"
    echo "events at 16: $(kv "$events" rps)/s p50 $(kv "$events" p50_ms) ms p99 $(kv "$events" p99_ms) ms max $(kv "$events" max_ms) ms; not applied/non-200 $(kv "$events" non_200); instances off their last event: $events_wrong"
    echo "claims at 16 alone: $(kv "$alone" rps)/s p99 $(kv "$alone" p99_ms) ms"
    echo "claims at 16 with events: $(kv "$mixed" rps)/s p99 $(kv "$mixed" p99_ms) ms (ratio $(awk -v a="$(kv "$mixed" rps)" -v b="$(kv "$alone" rps)" 'BEGIN {printf "%.2f", a / b}')); events meanwhile $(kv "$background" rps)/s p99 $(kv "$background" p99_ms) ms, not applied/non-200 $(kv "$background" non_200), instances off: $mixed_wrong"
}

log "building relevo and the load generator (release)"
cargo build --release --quiet --bin relevo
cargo build --release --quiet --example claim_load
echo "Relevo webhook benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores shared with everything else on the machine; load $(cut -d' ' -f1-3 /proc/loadavg)"
for backend in $BENCH_BACKENDS; do run_backend "$backend"; done
[ "$FAILURES" = 0 ] || { echo "!!! $FAILURES check(s) failed" >&2; exit 1; }
