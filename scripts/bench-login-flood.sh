#!/usr/bin/env bash
# Benchmark: does a flood of wrong logins hurt Relevo? (issue "Hardening", item 2)
#
#   scripts/bench-login-flood.sh
#
# For each backend it starts a release build of Relevo on a fresh database (behind
# "a trusted proxy", RELEVO_TRUSTED_PROXIES=127.0.0.1, so that the flood can come from
# a different client address on every request, the worst case for per-address limits),
# seeds a tenant with a sender token, then measures, side by side in one run:
#   1. claims at 16 concurrent senders alone: claims/s and Relevo's peak RSS;
#   2. the same claims while 64 concurrent clients send wrong passwords as fast as they
#      are answered: claims/s, peak RSS, and how the logins were answered.
# It prints a table with the ratio of the two claim rates. Goals: peak RSS under 128 MiB
# and at least 70 % of the claim rate under the flood.
#
# Environment (optional): BENCH_BACKENDS ("postgres sqlite"), BENCH_DURATION (10),
# BENCH_WARMUP (2), BENCH_SENDERS (16), BENCH_FLOOD (64),
# BENCH_PG_URL (postgres://postgres@127.0.0.1:5432).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)

BENCH_BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_SENDERS=${BENCH_SENDERS:-16}
BENCH_FLOOD=${BENCH_FLOOD:-64}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}

RELEVO_BIN=$ROOT/target/release/relevo
LOAD_BIN=$ROOT/target/release/examples/claim_load
ADMIN_EMAIL=bench@relevo.local
ADMIN_PASSWORD=bench-admin-password-1

log "building relevo and the load generator (release)"
cargo build --release --quiet --bin relevo --example claim_load

WORK=$(mktemp -d)
RELEVO_PID=""
PG_DB=""
cleanup() {
    local status=$?
    [ -n "$RELEVO_PID" ] && kill -TERM "$RELEVO_PID" 2>/dev/null && wait "$RELEVO_PID" 2>/dev/null
    [ -n "$PG_DB" ] && psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

start_relevo() {
    local url=$1 port
    port=$(free_port)
    RELEVO_ADDR=127.0.0.1:$port
    env -i PATH="$PATH" DATABASE_URL="$url" RELEVO_BIND="$RELEVO_ADDR" \
        RELEVO_JWT_SECRET="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" \
        RELEVO_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" \
        RELEVO_ADMIN_EMAIL="$ADMIN_EMAIL" RELEVO_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        RELEVO_TRUSTED_PROXIES=127.0.0.1 RUST_LOG=error \
        "$RELEVO_BIN" >>"$WORK/relevo.log" 2>&1 &
    RELEVO_PID=$!
    for _ in $(seq 300); do
        kill -0 "$RELEVO_PID" 2>/dev/null || die "relevo exited during start-up: $(cat "$WORK/relevo.log")"
        curl -fsS -o /dev/null "http://$RELEVO_ADDR/ready" 2>/dev/null && return
        sleep 0.1
    done
    die "relevo was not ready within 30 s"
}

peak_rss_mib() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$RELEVO_PID/status"; }
current_rss_mib() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$RELEVO_PID/status"; }
# Resets VmHWM to the current RSS, so each phase reports its own peak.
reset_peak_rss() { echo 5 >"/proc/$RELEVO_PID/clear_refs" 2>/dev/null || true; }

claims() {
    "$LOAD_BIN" run --addr "$RELEVO_ADDR" --label "$1" --path "$CLAIM_PATH" --token "$SENDER_TOKEN" \
        --concurrency "$BENCH_SENDERS" --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" \
        --expect '"granted":1' 2>>"$WORK/load.err" | grep '^RESULT '
}

ROWS=()
for BACKEND in $BENCH_BACKENDS; do
    case $BACKEND in
    postgres)
        PG_DB=relevo_flood_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
        psql "$BENCH_PG_URL/postgres" -qAtX -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
        URL=$BENCH_PG_URL/$PG_DB
        ;;
    sqlite) URL=$WORK/sqlite/relevo.db ;;
    *) die "unknown backend $BACKEND" ;;
    esac
    start_relevo "$URL"
    seeded=$("$LOAD_BIN" seed --addr "$RELEVO_ADDR" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" \
        --instances 100 --limit 100000 --slug bench)
    SENDER_TOKEN=$(sed -n 's/^SENDER_TOKEN=//p' <<<"$seeded")
    CLAIM_PATH=/api/v1/tenants/$(sed -n 's/^TENANT_ID=//p' <<<"$seeded")/sender/claim

    log "$BACKEND: $BENCH_SENDERS senders claiming alone"
    idle_rss=$(current_rss_mib)
    reset_peak_rss
    alone=$(claims "$BACKEND-alone")
    alone_rss=$(peak_rss_mib)

    log "$BACKEND: the same senders during a flood of $BENCH_FLOOD concurrent wrong logins"
    reset_peak_rss
    "$LOAD_BIN" run --addr "$RELEVO_ADDR" --label "$BACKEND-flood" --path /api/v1/auth/login \
        --body "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"not-the-password\"}" \
        --concurrency "$BENCH_FLOOD" --duration "$((BENCH_DURATION + 1))" --warmup "$BENCH_WARMUP" \
        --spread-forwarded-for true 2>/dev/null | grep '^RESULT ' >"$WORK/flood.out" &
    flood_pid=$!
    sleep 0.5
    flooded=$(claims "$BACKEND-flooded")
    wait "$flood_pid" || true
    flood_rss=$(peak_rss_mib)
    flood=$(cat "$WORK/flood.out")

    alone_rate=$(kv "$alone" rps)
    flooded_rate=$(kv "$flooded" rps)
    ratio=$(awk -v a="$alone_rate" -v b="$flooded_rate" 'BEGIN {printf "%.2f", (a > 0 ? b / a : 0)}')
    # The flood's answers: 401 counts as other 4xx, auth.busy as 5xx (503).
    ROWS+=("$BACKEND | $alone_rate | $flooded_rate | $ratio | $(kv "$alone" p99_ms) / $(kv "$flooded" p99_ms) | $idle_rss / $alone_rss / $flood_rss | $(kv "$flood" rps) | $(kv "$flood" s4xx_other) / $(kv "$flood" s429) / $(kv "$flood" s5xx) | $(kv "$alone" s5xx)+$(kv "$flooded" s5xx)")

    kill -TERM "$RELEVO_PID" 2>/dev/null || true
    wait "$RELEVO_PID" 2>/dev/null || true
    RELEVO_PID=""
    if [ -n "$PG_DB" ]; then
        psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
        PG_DB=""
    fi
done

echo
echo "Claims at $BENCH_SENDERS senders, alone and during $BENCH_FLOOD concurrent wrong logins ($BENCH_DURATION s each, $(nproc) cores shared by everything)"
echo "backend | claims/s alone | claims/s flooded | ratio (goal >= 0.70) | claim p99 ms alone / flooded | RSS MiB idle / peak alone / peak flooded (goal < 128) | logins/s | logins 401 / 429 / 503 | claim 5xx"
printf '%s\n' "${ROWS[@]}"
