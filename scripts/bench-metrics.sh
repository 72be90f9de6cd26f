#!/usr/bin/env bash
# Benchmark: do Prometheus scrapes hurt claims? (issue 20 "Trust boundaries", item 3:
# nothing unauthenticated costs more than a constant)
#
#   scripts/bench-metrics.sh
#
# For each backend it starts a release build of Relevo on a fresh database (with
# RELEVO_METRICS_TOKEN set; the scrapers send it), seeds a tenant with 100 instances and a
# sender token through the API, and measures, in one run:
#   1. one scrape of GET /metrics, sequentially, with an empty outbox (median and p90 of
#      BENCH_SCRAPE_SAMPLES scrapes);
#   2. the same after BENCH_OUTBOX events were written to the outbox (webhook_events) with
#      SQL: 90 % delivered, 8 % failed, 2 % pending (due in 30 days, so the worker leaves
#      them alone), each with a body of about 400 bytes, all within the retention;
#   3. claims at BENCH_CLAIMERS concurrent senders beside BENCH_SCRAPERS concurrent clients
#      that scrape /metrics as fast as they are answered (the review's setting: a flood);
#   4. the same claims beside as many clients of GET /health, as fast as they are answered:
#      the floor, what any flood of that many clients costs on these cores (HTTP only);
#   5. the same claims beside BENCH_SCRAPERS scrapers that scrape BENCH_SCRAPE_RATE times a
#      second in all (8: each scraper once a second, far more often than Prometheus' usual 15 s).
# Each of 3-5 is paired with claims alone measured just before it, so that the ratio compares
# two neighbouring runs (on a shared machine the rate drifts between minutes).
# It prints the figures side by side: claims/s alone and beside, their ratio, claim p99, the
# other clients' requests/s and p99, Relevo's peak RSS alone and beside, and one scrape's
# time with an empty and with a written outbox.
#
# Environment (all optional):
#   BENCH_BACKENDS        "sqlite postgres"   backends to run, in order
#   BENCH_OUTBOX          100000              outbox rows written before the load
#   BENCH_CLAIMERS        16                  concurrent claimers
#   BENCH_SCRAPERS        8                   concurrent scrapers (and /health clients)
#   BENCH_SCRAPE_RATE     8                   scrapes per second in all, in the paced phase
#   BENCH_DURATION        10                  measured seconds per phase
#   BENCH_WARMUP          2                   unmeasured seconds before each phase
#   BENCH_SCRAPE_SAMPLES  50                  sequential scrapes timed per outbox size
#   BENCH_PG_URL          postgres://postgres@127.0.0.1:5432   server for the throwaway databases
#   BENCH_RELEVO_BIN      target/release/relevo   the server to measure (another build, such as
#                                           the commit before this change, to compare; the
#                                           script then still builds the load generator)
#   BENCH_CARGO_LOCK      —                   a lock file to hold (flock) while cargo builds, on
#                                           machines where builds take turns
#   BENCH_OUT             target/bench-metrics/<date>   where the raw outputs and logs are kept
#
# Relevo, both load generators and PostgreSQL share this machine's cores.
# Exit status: 0 when no claim or scrape was answered 5xx or lost; 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)

BENCH_BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
BENCH_OUTBOX=${BENCH_OUTBOX:-100000}
BENCH_CLAIMERS=${BENCH_CLAIMERS:-16}
BENCH_SCRAPERS=${BENCH_SCRAPERS:-8}
BENCH_SCRAPE_RATE=${BENCH_SCRAPE_RATE:-8}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_SCRAPE_SAMPLES=${BENCH_SCRAPE_SAMPLES:-50}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_OUT=${BENCH_OUT:-$ROOT/target/bench-metrics/$(date -u +%Y%m%dT%H%M%SZ)}

RELEVO_BIN=${BENCH_RELEVO_BIN:-$ROOT/target/release/relevo}
LOAD_BIN=$ROOT/target/release/examples/claim_load
ADMIN_EMAIL=bench@relevo.local
ADMIN_PASSWORD=bench-admin-password-1
METRICS_TOKEN=bench-metrics-$(random_hex 16)

for var in BENCH_OUTBOX BENCH_CLAIMERS BENCH_SCRAPERS BENCH_SCRAPE_RATE BENCH_DURATION BENCH_WARMUP BENCH_SCRAPE_SAMPLES; do
    [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a whole number, not \`${!var}'"
done
for tool in curl awk sed sort od base64; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
case " $BENCH_BACKENDS " in *" postgres "*) command -v psql >/dev/null || die "missing tool: psql" ;; esac
case " $BENCH_BACKENDS " in *" sqlite "*) command -v sqlite3 >/dev/null || die "missing tool: sqlite3 (apt-get install sqlite3)" ;; esac

cargo_build() {
    if [ -n "${BENCH_CARGO_LOCK:-}" ]; then
        flock "$BENCH_CARGO_LOCK" cargo build --release --quiet "$@"
    else
        cargo build --release --quiet "$@"
    fi
}
log "building the load generator$([ -n "${BENCH_RELEVO_BIN:-}" ] || echo " and relevo") (release)"
# Two invocations: together, Cargo would unify the dev-dependencies' features into the
# server binary (see scripts/bench-claims.sh).
[ -n "${BENCH_RELEVO_BIN:-}" ] || cargo_build --bin relevo
cargo_build --example claim_load
[ -x "$RELEVO_BIN" ] || die "no server at $RELEVO_BIN"

mkdir -p "$BENCH_OUT"
WORK=$(mktemp -d)
RELEVO_PID=""
PG_DB=""
FAILURES=0
cleanup() {
    local status=$?
    if [ -n "$RELEVO_PID" ]; then
        kill -TERM "$RELEVO_PID" 2>/dev/null || true
        wait "$RELEVO_PID" 2>/dev/null || true
    fi
    if [ -n "$PG_DB" ]; then
        psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null 2>&1 ||
            warn "could not drop database $PG_DB"
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_relevo() {
    local url=$1 port
    port=$(free_port)
    RELEVO_ADDR=127.0.0.1:$port
    env -i PATH="$PATH" DATABASE_URL="$url" RELEVO_BIND="$RELEVO_ADDR" \
        RELEVO_JWT_SECRET="$(random_hex 32)" \
        RELEVO_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" \
        RELEVO_ADMIN_EMAIL="$ADMIN_EMAIL" RELEVO_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        RELEVO_METRICS_TOKEN="$METRICS_TOKEN" RUST_LOG=warn \
        "$RELEVO_BIN" >>"$BENCH_OUT/relevo-$BACKEND.log" 2>&1 &
    RELEVO_PID=$!
    for _ in $(seq 300); do
        kill -0 "$RELEVO_PID" 2>/dev/null || die "relevo exited during start-up (log: $BENCH_OUT/relevo-$BACKEND.log)"
        curl -fsS -o /dev/null "http://$RELEVO_ADDR/ready" 2>/dev/null && return
        sleep 0.1
    done
    die "relevo was not ready within 30 s"
}

peak_rss_mib() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$RELEVO_PID/status"; }
# Resets VmHWM to the current RSS, so each phase reports its own peak.
reset_peak_rss() { echo 5 >"/proc/$RELEVO_PID/clear_refs" 2>/dev/null || true; }

# load LABEL ARGS...: runs the load generator, keeps its output, prints its RESULT line.
load() {
    local label=$1 output line
    shift
    output=$("$LOAD_BIN" run --addr "$RELEVO_ADDR" --label "$label" "$@" 2>>"$BENCH_OUT/$label.err") ||
        die "load generator failed ($label; see $BENCH_OUT/$label.err)"
    printf '%s\n' "$output" >"$BENCH_OUT/$label.out"
    line=$(printf '%s\n' "$output" | grep '^RESULT ')
    if [ "$(kv "$line" s5xx)" != 0 ] || [ "$(kv "$line" transport_errors)" != 0 ] || [ "$(kv "$line" non_200)" != 0 ]; then
        warn "$label: answers other than 200, or transport errors (see $BENCH_OUT/$label.out)"
        FAILURES=$((FAILURES + 1))
    fi
    printf '%s\n' "$line"
}

claims() {
    load "$1" --path "$CLAIM_PATH" --token "$SENDER_TOKEN" --body '{}' --concurrency "$BENCH_CLAIMERS" \
        --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --expect '"granted":1'
}

# beside LABEL ARGS...: claims alone, then claims while other clients (ARGS for the load
# generator) run; sets ALONE and BESIDE (the claims' RESULT lines), OTHERS (the other
# clients' RESULT line), ALONE_RSS and BESIDE_RSS.
beside() {
    local label=$1
    shift
    reset_peak_rss
    ALONE=$(claims "$BACKEND-claims-before-$label")
    ALONE_RSS=$(peak_rss_mib)
    reset_peak_rss
    "$LOAD_BIN" run --addr "$RELEVO_ADDR" --label "$label" --method GET \
        --duration "$((BENCH_DURATION + 1))" --warmup "$BENCH_WARMUP" "$@" \
        2>>"$BENCH_OUT/$label.err" >"$BENCH_OUT/$label.out" &
    local others_pid=$!
    sleep 0.5
    BESIDE=$(claims "$BACKEND-claims-beside-$label")
    wait "$others_pid" || die "the load generator of $label failed (see $BENCH_OUT/$label.err)"
    BESIDE_RSS=$(peak_rss_mib)
    OTHERS=$(grep '^RESULT ' "$BENCH_OUT/$label.out")
    if [ "$(kv "$OTHERS" non_200)" != 0 ] || [ "$(kv "$OTHERS" transport_errors)" != 0 ]; then
        warn "$label: answers other than 200, or transport errors (see $BENCH_OUT/$label.out)"
        FAILURES=$((FAILURES + 1))
    fi
}

# one_scrape_ms: "median p90 bytes" of BENCH_SCRAPE_SAMPLES sequential scrapes, in ms.
one_scrape_ms() {
    local i out
    out=$WORK/scrape-times
    : >"$out"
    for i in $(seq "$BENCH_SCRAPE_SAMPLES"); do
        curl -fsS -o "$WORK/scrape.txt" -w '%{time_total}\n' -H "Authorization: Bearer $METRICS_TOKEN" \
            "http://$RELEVO_ADDR/metrics" >>"$out" || die "a scrape failed"
    done
    sort -n "$out" | awk -v bytes="$(wc -c <"$WORK/scrape.txt")" '{v[NR] = $1 * 1000}
        END { printf "%.2f %.2f %d\n", v[int(NR * 0.5 + 0.999999)], v[int(NR * 0.9 + 0.999999)], bytes }'
}

# The outbox rows, written with one statement: 90 % delivered, 8 % failed, 2 % pending due
# in 30 days. Bodies are real event bodies of about 400 bytes.
seed_outbox() {
    local tenant=$1 n=$2
    case $BACKEND in
    postgres)
        psql "$DB_URL" -qAtX -v ON_ERROR_STOP=1 <<SQL
INSERT INTO webhook_events (public_id, tenant_id, event_type, payload, status, attempts, max_attempts,
                            next_attempt_at, delivered_at, created_at, updated_at)
SELECT md5('bench-' || i), $tenant, 'message.received',
       '{"id":"' || md5('bench-' || i) || '","type":"message.received","created_at":"2026-01-01T00:00:00.000000Z","tenant_id":$tenant,"data":{"session_id":"bench","message_content":"' || repeat('x', 300) || '"}}',
       CASE WHEN i % 50 = 0 THEN 'pending' WHEN i % 12 = 0 THEN 'failed' ELSE 'delivered' END,
       1, 8,
       CASE WHEN i % 50 = 0 THEN (now() AT TIME ZONE 'UTC') + interval '30 days' END,
       CASE WHEN i % 50 <> 0 AND i % 12 <> 0 THEN now() AT TIME ZONE 'UTC' END,
       now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM generate_series(1, $n) AS i;
ANALYZE webhook_events;
SQL
        ;;
    sqlite)
        sqlite3 "$SQLITE_FILE" <<SQL
.timeout 10000
WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $n)
INSERT INTO webhook_events (public_id, tenant_id, event_type, payload, status, attempts, max_attempts,
                            next_attempt_at, delivered_at, created_at, updated_at)
SELECT lower(hex(randomblob(16))), $tenant, 'message.received',
       '{"id":"bench-' || i || '","type":"message.received","created_at":"2026-01-01T00:00:00.000000Z","tenant_id":$tenant,"data":{"session_id":"bench","message_content":"' || printf('%.300c', 'x') || '"}}',
       CASE WHEN i % 50 = 0 THEN 'pending' WHEN i % 12 = 0 THEN 'failed' ELSE 'delivered' END,
       1, 8,
       CASE WHEN i % 50 = 0 THEN strftime('%Y-%m-%d %H:%M:%f', 'now', '+30 days') END,
       CASE WHEN i % 50 <> 0 AND i % 12 <> 0 THEN strftime('%Y-%m-%d %H:%M:%f', 'now') END,
       strftime('%Y-%m-%d %H:%M:%f', 'now'), strftime('%Y-%m-%d %H:%M:%f', 'now')
FROM seq;
SQL
        ;;
    esac
}

outbox_rows() {
    case $BACKEND in
    postgres) psql "$DB_URL" -qAtX -c "SELECT count(*) FROM webhook_events" ;;
    sqlite) sqlite3 "$SQLITE_FILE" ".timeout 10000" "SELECT count(*) FROM webhook_events" ;;
    esac
}

{
    echo "Relevo metrics benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), server $RELEVO_BIN ($(git rev-parse --short HEAD 2>/dev/null || echo '?') checked out)"
    echo "machine: $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$BENCH_OUT/summary.txt"

ROWS=()
SCRAPE_ROWS=()
for BACKEND in $BENCH_BACKENDS; do
    case $BACKEND in
    postgres)
        PG_DB=relevo_metrics_$(random_hex 4)
        psql "$BENCH_PG_URL/postgres" -qAtX -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
        DB_URL=$BENCH_PG_URL/$PG_DB
        ;;
    sqlite)
        SQLITE_FILE=$WORK/sqlite/relevo.db
        DB_URL=$SQLITE_FILE
        ;;
    *) die "unknown backend $BACKEND" ;;
    esac
    start_relevo "$DB_URL"
    seeded=$("$LOAD_BIN" seed --addr "$RELEVO_ADDR" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" \
        --instances 100 --limit 100000 --slug bench)
    TENANT_ID=$(sed -n 's/^TENANT_ID=//p' <<<"$seeded")
    SENDER_TOKEN=$(sed -n 's/^SENDER_TOKEN=//p' <<<"$seeded")
    CLAIM_PATH=/api/v1/tenants/$TENANT_ID/sender/claim

    log "$BACKEND: one scrape at a time, empty outbox"
    read -r empty_p50 empty_p90 _ <<<"$(one_scrape_ms)"
    log "$BACKEND: writing $BENCH_OUTBOX outbox rows"
    seed_outbox "$TENANT_ID" "$BENCH_OUTBOX"
    rows=$(outbox_rows)
    # Let the delivery worker count the new outbox once (it does at most every 15 s), so
    # that its gauges describe what the scrapers read.
    sleep 16
    log "$BACKEND: one scrape at a time, $rows outbox rows"
    read -r full_p50 full_p90 scrape_bytes <<<"$(one_scrape_ms)"

    if grep -q "^relevo_outbox_events" "$WORK/scrape.txt"; then
        counted=$(awk '/^relevo_outbox_events/ {n += $2} END {print n + 0}' "$WORK/scrape.txt")
    else
        counted="-"
    fi
    row() { # PHASE: one line of the table from ALONE, ALONE_RSS, BESIDE, OTHERS and BESIDE_RSS.
        printf '%s | %s | %s | %s | %s | %s / %s | %s / %s | %s / %s\n' "$BACKEND" "$1" "$(kv "$ALONE" rps)" \
            "$(kv "$BESIDE" rps)" "$(calc "$(kv "$BESIDE" rps) / $(kv "$ALONE" rps)")" "$(kv "$ALONE" p99_ms)" \
            "$(kv "$BESIDE" p99_ms)" "$(kv "$OTHERS" rps)" "$(kv "$OTHERS" p99_ms)" "$ALONE_RSS" "$BESIDE_RSS"
    }

    log "$BACKEND: $BENCH_CLAIMERS claimers beside $BENCH_SCRAPERS scrapers, as fast as they are answered"
    beside "$BACKEND-scrapers" --path /metrics --token "$METRICS_TOKEN" --concurrency "$BENCH_SCRAPERS"
    ROWS+=("$(row "$BENCH_SCRAPERS scrapers, flat out")")
    log "$BACKEND: $BENCH_CLAIMERS claimers beside $BENCH_SCRAPERS clients of GET /health, as fast as they are answered"
    beside "$BACKEND-health" --path /health --concurrency "$BENCH_SCRAPERS"
    ROWS+=("$(row "$BENCH_SCRAPERS clients of /health, flat out")")
    log "$BACKEND: $BENCH_CLAIMERS claimers beside $BENCH_SCRAPERS scrapers, $BENCH_SCRAPE_RATE scrapes/s in all"
    beside "$BACKEND-scrapers-paced" --path /metrics --token "$METRICS_TOKEN" --concurrency "$BENCH_SCRAPERS" \
        --rate "$BENCH_SCRAPE_RATE"
    ROWS+=("$(row "$BENCH_SCRAPERS scrapers, $BENCH_SCRAPE_RATE/s in all")")
    SCRAPE_ROWS+=("$BACKEND | $rows | $counted | $empty_p50 / $empty_p90 | $full_p50 / $full_p90 | $scrape_bytes")

    kill -TERM "$RELEVO_PID" 2>/dev/null || true
    wait "$RELEVO_PID" 2>/dev/null || true
    RELEVO_PID=""
    if [ -n "$PG_DB" ]; then
        psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
        PG_DB=""
    fi
done

{
    echo
    echo "Claims at $BENCH_CLAIMERS claimers, alone and beside other clients (${BENCH_WARMUP} s warm-up + ${BENCH_DURATION} s each)"
    echo "backend | beside | claims/s alone | claims/s beside | ratio | claim p99 ms alone / beside | their req/s / p99 ms | peak RSS MiB alone / beside"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "One scrape at a time (median / p90 of $BENCH_SCRAPE_SAMPLES, ms), with an empty outbox and with the outbox written"
    echo "backend | outbox rows | outbox_events in the scrape | empty outbox | written outbox | scrape bytes"
    printf '%s\n' "${SCRAPE_ROWS[@]}"
    echo
    echo "raw outputs and logs: $BENCH_OUT"
} | tee -a "$BENCH_OUT/summary.txt"

if [ "$FAILURES" -gt 0 ]; then
    warn "$FAILURES check(s) failed: see the !!! lines above"
    exit 1
fi
