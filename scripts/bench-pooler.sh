#!/usr/bin/env bash
# Benchmark of scale-out through pgbouncer (README "Scaling out"): claims/s at 64 claimers
# with one Relevo process connected directly to PostgreSQL, then with 4 (and 8) Relevo
# processes connected through a private pgbouncer in transaction mode, side by side on one
# database in one run.
#
#   scripts/bench-pooler.sh
#
# Builds `relevo` and the load generator (examples/claim_load.rs, the claimer of
# scripts/bench-claims.sh) in release mode, creates a throwaway database, starts
# scripts/pgbouncer.sh's pgbouncer (pool_mode = transaction, default_pool_size 20) in front of
# it, seeds one tenant through the API and, for each setup, starts the processes, drives
# POST …/sender/claim with one load generator whose workers are spread over the processes,
# and stops them. For each setup it prints claims/s, latencies, non-200 answers, the server
# connections PostgreSQL counts for the database in the middle of the measured window
# (pg_stat_activity) and the client connections pgbouncer holds, then checks the invariants
# in the database (no instance over its limit, counters equal to the send log).
#
# Environment (all optional):
#   BENCH_SETUPS        "direct:1 pooler:4 pooler:8"   how:processes, run in this order
#   BENCH_CONCURRENCY   64        claimers, spread over the processes of a setup
#   BENCH_DURATION      10        measured seconds per setup
#   BENCH_WARMUP        3         unmeasured seconds before each
#   BENCH_INSTANCES     100       instances of the benchmark tenant
#   BENCH_LIMIT         100000    their daily limit (the most allowed; capacity never runs out)
#   BENCH_POOL_SIZE     16        RELEVO_DB_POOL_SIZE of every process
#   BENCH_PG_URL        postgres://postgres@127.0.0.1:5432   the server (trust authentication)
#   BENCH_BUILD         1         0 uses target/release as it is
#   BENCH_OUT           target/bench-pooler/<date>   summary, raw outputs and logs
#
# Everything shares this machine's cores; the figures are for that setting.
# Exit status: 0 when every setup finished without 5xx, transport errors, over-limit
# instances or counter/log mismatches; 1 otherwise.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)

BENCH_SETUPS=${BENCH_SETUPS:-direct:1 pooler:4 pooler:8}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-64}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-3}
BENCH_INSTANCES=${BENCH_INSTANCES:-100}
BENCH_LIMIT=${BENCH_LIMIT:-100000}
BENCH_POOL_SIZE=${BENCH_POOL_SIZE:-16}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_BUILD=${BENCH_BUILD:-1}
BENCH_OUT=${BENCH_OUT:-$ROOT/target/bench-pooler/$(date -u +%Y%m%dT%H%M%SZ)}

RELEVO_BIN=$ROOT/target/release/relevo
LOAD_BIN=$ROOT/target/release/examples/claim_load
ADMIN_EMAIL=bench@relevo.local
ADMIN_PASSWORD=bench-admin-password-1

for var in BENCH_CONCURRENCY BENCH_DURATION BENCH_WARMUP BENCH_INSTANCES BENCH_LIMIT BENCH_POOL_SIZE; do
    [[ ${!var} =~ ^[0-9]+$ ]] && [ "${!var}" -gt 0 ] || die "$var must be a positive whole number, not \`${!var}'"
done
for tool in curl psql pg_isready pgbouncer od base64; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

mkdir -p "$BENCH_OUT"
WORK=$(mktemp -d)
# Its own directory: as root, pgbouncer runs as `postgres`, who cannot enter $WORK (0700).
POOLER_DIR=$(mktemp -d)
PIDS=()
PG_DB=""
FAILURES=0

stop_relevos() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    PIDS=()
}

cleanup() {
    local status=$?
    stop_relevos
    "$ROOT/scripts/pgbouncer.sh" stop "$POOLER_DIR" || true
    rm -rf "$POOLER_DIR"
    if [ -n "$PG_DB" ]; then
        psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 ||
            warn "could not drop database $PG_DB"
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

JWT_SECRET=$(random_hex 32)
ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)

# start_relevos COUNT DATABASE_URL POOLER LOG_PREFIX: starts COUNT processes at once and
# waits for each one's GET /ready; sets ADDRS (comma-separated).
start_relevos() {
    local count=$1 url=$2 pooler=$3 prefix=$4 n addrs=() port
    for n in $(seq "$count"); do
        port=$(free_port)
        addrs+=("127.0.0.1:$port")
        env -i PATH="$PATH" \
            DATABASE_URL="$url" \
            RELEVO_DB_POOLER="$pooler" \
            RELEVO_DB_POOL_SIZE="$BENCH_POOL_SIZE" \
            RELEVO_BIND="127.0.0.1:$port" \
            RELEVO_JWT_SECRET="$JWT_SECRET" \
            RELEVO_ENCRYPTION_KEY="$ENCRYPTION_KEY" \
            RELEVO_ADMIN_EMAIL="$ADMIN_EMAIL" \
            RELEVO_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
            RUST_LOG=warn \
            "$RELEVO_BIN" >>"$BENCH_OUT/$prefix-$n.log" 2>&1 &
        PIDS+=($!)
    done
    local addr
    for addr in "${addrs[@]}"; do
        for _ in $(seq 300); do
            curl -fsS -o /dev/null "http://$addr/ready" 2>/dev/null && continue 2
            sleep 0.1
        done
        die "relevo on $addr was not ready within 30 s (logs: $BENCH_OUT/$prefix-*.log)"
    done
    ADDRS=$(
        IFS=,
        echo "${addrs[*]}"
    )
}

# Server connections PostgreSQL counts for the database (this query's own excluded).
server_connections() {
    psql "$DB_URL" -qAtX -c \
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
}

# Client connections pgbouncer holds for the database (its admin console's SHOW CLIENTS).
pooler_clients() {
    psql "$POOLER_URL/pgbouncer" -qAtX -c "SHOW CLIENTS" 2>/dev/null | awk -F'|' -v db="$PG_DB" '$3 == db' | wc -l
}

CHECK_SQL="SELECT
  (SELECT count(*) FROM whatsapp_instances WHERE messages_sent_today > daily_message_limit),
  (SELECT count(*) FROM whatsapp_instances i
     WHERE i.messages_sent_today <> COALESCE((SELECT sum(c.granted - c.released) FROM claims c
       WHERE c.instance_id = i.id AND c.usage_date = i.last_reset_date), 0)),
  (SELECT count(*) FROM claims)"

# ---------------------------------------------------------------------------------------

if [ "$BENCH_BUILD" = 1 ]; then
    log "building relevo and the load generator (release)"
    cargo build --release --quiet --bin relevo
    cargo build --release --quiet --example claim_load
fi
[ -x "$RELEVO_BIN" ] && [ -x "$LOAD_BIN" ] || die "missing $RELEVO_BIN or $LOAD_BIN (BENCH_BUILD=1 builds them)"

PG_DB=relevo_bench_pooler_$(random_hex 4)
DB_URL=$BENCH_PG_URL/$PG_DB
psql "$BENCH_PG_URL/postgres" -qAtX -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
log "PostgreSQL: database $PG_DB"
PG_HOSTPORT=${BENCH_PG_URL#*@}
POOLER_URL=$(PGBOUNCER_PG_HOST=${PG_HOSTPORT%:*} PGBOUNCER_PG_PORT=${PG_HOSTPORT##*:} \
    "$ROOT/scripts/pgbouncer.sh" start "$POOLER_DIR")
log "pgbouncer $(pgbouncer --version | head -n 1 | cut -d' ' -f2), transaction mode, 20 server connections: $POOLER_URL"

log "seeding: 1 tenant, $BENCH_INSTANCES instances of $BENCH_LIMIT messages a day, a sender token"
start_relevos 1 "$DB_URL" none seed
seeded=$("$LOAD_BIN" seed --addr "$ADDRS" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" \
    --instances "$BENCH_INSTANCES" --limit "$BENCH_LIMIT" --slug bench)
stop_relevos
TENANT_ID=$(sed -n 's/^TENANT_ID=//p' <<<"$seeded")
SENDER_TOKEN=$(sed -n 's/^SENDER_TOKEN=//p' <<<"$seeded")
CLAIM_PATH=/api/v1/tenants/$TENANT_ID/sender/claim

rows=()
for setup in $BENCH_SETUPS; do
    how=${setup%%:*} processes=${setup##*:}
    case $how in
    direct) url=$DB_URL pooler=none ;;
    pooler) url=$POOLER_URL/$PG_DB pooler=transaction ;;
    *) die "unknown setup $setup (direct:N or pooler:N)" ;;
    esac
    label=$how-$processes
    log "$label: $processes process(es), $BENCH_CONCURRENCY claimers (${BENCH_WARMUP} s warm-up, ${BENCH_DURATION} s measured)"
    start_relevos "$processes" "$url" "$pooler" "$label"
    read -r _ _ claims_before <<<"$(psql "$DB_URL" -qAtX -F ' ' -c "$CHECK_SQL")"
    "$LOAD_BIN" run --addr "$ADDRS" --label "$label" --path "$CLAIM_PATH" --token "$SENDER_TOKEN" \
        --body '{}' --concurrency "$BENCH_CONCURRENCY" --duration "$BENCH_DURATION" \
        --warmup "$BENCH_WARMUP" --expect '"granted":1' >"$BENCH_OUT/$label.out" 2>"$BENCH_OUT/$label.err" &
    load_pid=$!
    sleep "$((BENCH_WARMUP + BENCH_DURATION / 2))"
    servers=$(server_connections)
    clients=-
    [ "$how" = pooler ] && clients=$(pooler_clients)
    wait "$load_pid" || die "load generator failed ($label): $(cat "$BENCH_OUT/$label.err")"
    stop_relevos
    result=$(grep '^RESULT ' "$BENCH_OUT/$label.out")
    sed -n '2,$p' "$BENCH_OUT/$label.out" >&2
    read -r over mismatches claims_after <<<"$(psql "$DB_URL" -qAtX -F ' ' -c "$CHECK_SQL")"
    lost=$(($(kv "$result" ok_total) - (claims_after - claims_before)))
    if [ "$(kv "$result" s5xx)" != 0 ] || [ "$(kv "$result" transport_errors)" != 0 ] ||
        [ "$(kv "$result" bad_bodies)" != 0 ] || [ "$over" != 0 ] || [ "$mismatches" != 0 ]; then
        warn "$label: 5xx $(kv "$result" s5xx), transport errors $(kv "$result" transport_errors), bad bodies $(kv "$result" bad_bodies), over-limit $over, counter/log mismatches $mismatches"
        FAILURES=$((FAILURES + 1))
    fi
    rows+=("$label|$processes|$(kv "$result" rps)|$(kv "$result" p50_ms)|$(kv "$result" p99_ms)|$(kv "$result" max_ms)|$(kv "$result" non_200)|$servers|$clients|$over/$mismatches|$lost")
done

{
    echo "Relevo scale-out benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "PostgreSQL $(psql "$DB_URL" -qAtX -c 'SHOW server_version'), pgbouncer $(pgbouncer --version | head -n 1 | cut -d' ' -f2) (pool_mode transaction, default_pool_size 20)"
    echo "1 tenant, $BENCH_INSTANCES instances, round_robin, body {}; $BENCH_CONCURRENCY claimers spread over the processes; RELEVO_DB_POOL_SIZE $BENCH_POOL_SIZE; ${BENCH_WARMUP} s warm-up + ${BENCH_DURATION} s"
    echo
    printf '%-10s | %9s | %9s | %7s | %7s | %8s | %7s | %11s | %11s | %14s | %4s\n' \
        setup processes claims/s "p50 ms" "p99 ms" "max ms" non-200 "PG conns" "pgb clients" "over/mismatch" lost
    for row in "${rows[@]}"; do
        IFS='|' read -r label processes rps p50 p99 max non200 servers clients checks lost <<<"$row"
        printf '%-10s | %9s | %9s | %7s | %7s | %8s | %7s | %11s | %11s | %14s | %4s\n' \
            "$label" "$processes" "$rps" "$p50" "$p99" "$max" "$non200" "$servers" "$clients" "$checks" "$lost"
    done
    echo
    echo "PG conns: server connections to the database in pg_stat_activity mid-run (pgbouncer's included);"
    echo "pgb clients: Relevo connections pgbouncer held then. lost: 200s without a logged claim."
} | tee "$BENCH_OUT/summary.txt"

echo
echo "raw outputs and logs: $BENCH_OUT"
if [ "$FAILURES" -gt 0 ]; then
    warn "$FAILURES setup(s) failed: see the !!! lines above"
    exit 1
fi
