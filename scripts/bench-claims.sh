#!/usr/bin/env bash
# Benchmark of the sender's claim endpoint (POST /api/v1/tenants/{tenant}/sender/claim).
#
#   scripts/bench-claims.sh
#
# Builds `relevo` and the load generator (examples/claim_load.rs) in release mode, then for
# each backend starts Relevo on a fresh database, seeds a tenant with instances and a sender
# token through the REST API and drives the claim endpoint at each concurrency for a fixed
# time after a warm-up. It prints claims/s, p50/p99/max latency, non-200 answers, Relevo's
# peak RSS (VmHWM) and two invariant checks read from the database: instances over their
# daily limit, and counters that differ from the send log (`claims`) or from
# `instance_daily_usage`. On PostgreSQL it also runs pgbench with the statements one claim
# sends (scripts/claim.pgbench.sql, and scripts/claim-bare.pgbench.sql for the claim
# statement alone) at the same concurrency and prints the ratio HTTP/pgbench.
#
# Environment (all optional):
#   BENCH_BACKENDS      "postgres sqlite"   backends to run, in order
#   BENCH_CONCURRENCY   "1 16 64"           concurrent claimers per level
#   BENCH_DURATION      10                  measured seconds per level
#   BENCH_WARMUP        2                   unmeasured seconds before each level
#   BENCH_INSTANCES     100                 instances of the benchmark tenant
#   BENCH_LIMIT         100000              their daily_message_limit (capacity never runs out)
#   BENCH_EXHAUST       1                   also run the exhaustion check (small limits, 429s)
#   BENCH_BATCH_COUNT   50                  messages per claim in the batch-claim level (0: skip it)
#   BENCH_BATCH_CONCURRENCY 16              claimers in that level
#   BENCH_METRICS_OFF   1                   also claim at 16 with RELEVO_METRICS=on and =off, back to back
#   BENCH_TRACE         1                   log the SQL of one claim on PostgreSQL and print it
#   BENCH_PG_URL        postgres://postgres@127.0.0.1:5432   server for the throwaway databases
#   BENCH_PGBENCH_MODES "prepared extended" pgbench --protocol modes; the first one is the goal's
#                                           reference (see scripts/claim.pgbench.sql)
#   BENCH_OUT           target/bench-claims/<date>   where raw outputs and logs are kept
#
# Relevo, the load generator, PostgreSQL and pgbench all share this machine's cores: the
# figures are for that setting, not for a dedicated database server.
#
# Exit status: 0 when every run finished with no 5xx, transport error, over-limit
# instance, counter/log mismatch or lost claim; 1 otherwise. Missing the performance
# goals does not fail the script.
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
ROOT=$(pwd)

BENCH_BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
BENCH_CONCURRENCY=${BENCH_CONCURRENCY:-1 16 64}
BENCH_DURATION=${BENCH_DURATION:-10}
BENCH_WARMUP=${BENCH_WARMUP:-2}
BENCH_INSTANCES=${BENCH_INSTANCES:-100}
BENCH_LIMIT=${BENCH_LIMIT:-100000}
BENCH_EXHAUST=${BENCH_EXHAUST:-1}
BENCH_TRACE=${BENCH_TRACE:-1}
BENCH_BATCH_COUNT=${BENCH_BATCH_COUNT:-50}
BENCH_BATCH_CONCURRENCY=${BENCH_BATCH_CONCURRENCY:-16}
BENCH_METRICS_OFF=${BENCH_METRICS_OFF:-1}
BENCH_PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
BENCH_PGBENCH_MODES=${BENCH_PGBENCH_MODES:-prepared extended}
BENCH_OUT=${BENCH_OUT:-$ROOT/target/bench-claims/$(date -u +%Y%m%dT%H%M%SZ)}

# The exhaustion check: this many instances of this limit, hammered at 64 for 3 s.
EXHAUST_INSTANCES=16
EXHAUST_LIMIT=50
EXHAUST_CONCURRENCY=64
EXHAUST_DURATION=3

RELEVO_BIN=$ROOT/target/release/relevo
LOAD_BIN=$ROOT/target/release/examples/claim_load
ADMIN_EMAIL=bench@relevo.local
ADMIN_PASSWORD=bench-admin-password-1
CORES=$(nproc)

for var in BENCH_DURATION BENCH_WARMUP BENCH_INSTANCES BENCH_LIMIT; do
    [[ ${!var} =~ ^[0-9]+$ ]] || die "$var must be a whole number (pgbench -T takes whole seconds), not \`${!var}'"
done
[ "$BENCH_DURATION" -gt 0 ] && [ "$BENCH_INSTANCES" -gt 0 ] || die "BENCH_DURATION and BENCH_INSTANCES must be positive"
for tool in curl awk sed sha256sum base64 od; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done
case " $BENCH_BACKENDS " in
*" postgres "*)
    for tool in psql pgbench; do
        command -v "$tool" >/dev/null || die "missing tool: $tool (PostgreSQL client)"
    done
    ;;
esac
case " $BENCH_BACKENDS " in
*" sqlite "*) command -v sqlite3 >/dev/null || die "missing tool: sqlite3 (apt-get install sqlite3)" ;;
esac

mkdir -p "$BENCH_OUT"
WORK=$(mktemp -d)
RELEVO_PID=""
RELEVO_EXTRA_ENV=()
PG_DB=""
FAILURES=0

cleanup() {
    local status=$?
    if [ -n "$RELEVO_PID" ] && kill -0 "$RELEVO_PID" 2>/dev/null; then
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

# ---------------------------------------------------------------------------------------
# Helpers

JWT_SECRET=$(random_hex 32)
ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)

# start_relevo DATABASE_URL LOGFILE: starts Relevo with an explicit environment and waits
# for GET /ready. Sets RELEVO_PID and RELEVO_ADDR.
start_relevo() {
    local url=$1 logfile=$2 port
    port=$(free_port)
    RELEVO_ADDR=127.0.0.1:$port
    env -i PATH="$PATH" \
        DATABASE_URL="$url" \
        RELEVO_BIND="$RELEVO_ADDR" \
        RELEVO_JWT_SECRET="$JWT_SECRET" \
        RELEVO_ENCRYPTION_KEY="$ENCRYPTION_KEY" \
        RELEVO_ADMIN_EMAIL="$ADMIN_EMAIL" \
        RELEVO_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
        RUST_LOG=warn \
        "${RELEVO_EXTRA_ENV[@]}" \
        "$RELEVO_BIN" >>"$logfile" 2>&1 &
    RELEVO_PID=$!
    for _ in $(seq 300); do
        if ! kill -0 "$RELEVO_PID" 2>/dev/null; then
            cat "$logfile" >&2
            RELEVO_PID=""
            die "relevo exited during start-up (log above)"
        fi
        if curl -fsS -o /dev/null "http://$RELEVO_ADDR/ready" 2>/dev/null; then
            return
        fi
        sleep 0.1
    done
    die "relevo was not ready within 30 s (log: $logfile)"
}

stop_relevo() {
    [ -n "$RELEVO_PID" ] || return 0
    kill -TERM "$RELEVO_PID" 2>/dev/null || true
    wait "$RELEVO_PID" 2>/dev/null || true
    RELEVO_PID=""
}

# Peak resident memory of Relevo (VmHWM) in MiB.
peak_rss_mib() { awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/$RELEVO_PID/status"; }

# Resets VmHWM to the current RSS so that each level reports its own peak; when the kernel
# refuses, the figure is the peak since start-up.
reset_peak_rss() { echo 5 >"/proc/$RELEVO_PID/clear_refs" 2>/dev/null || true; }

# CPU ticks (1/100 s, user + system) used so far by the given processes.
cpu_ticks() {
    local files=() pid
    for pid in "$@"; do files+=("/proc/$pid/stat"); done
    [ ${#files[@]} -gt 0 ] || { echo 0; return; }
    cat "${files[@]}" 2>/dev/null | awk '{sub(/^.*\) /, ""); total += $12 + $13} END {print total + 0}'
}

# "total idle" jiffies of the whole machine.
machine_ticks() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t, $5 + $6}' /proc/stat; }

# busy_cores BEFORE AFTER: cores busy on average between two machine_ticks snapshots.
busy_cores() {
    awk -v a="$1" -v b="$2" -v n="$CORES" 'BEGIN {
        split(a, x, " "); split(b, y, " "); dt = y[1] - x[1]; di = y[2] - x[2];
        if (dt <= 0) print "-"; else printf "%.2f", (dt - di) / dt * n }'
}

# load LABEL ARGS...: runs the load generator, keeps its output, prints its RESULT line.
load() {
    local label=$1 output
    shift
    output=$("$LOAD_BIN" run --addr "$RELEVO_ADDR" --label "$label" "$@" 2> >(tee -a "$BENCH_OUT/$label.err" >&2)) ||
        die "load generator failed ($label)"
    printf '%s\n' "$output" >"$BENCH_OUT/$label.out"
    printf '%s\n' "$output" | sed -n '2,$p' >&2
    local line
    line=$(printf '%s\n' "$output" | grep '^RESULT ')
    if [ "$(kv "$line" s5xx)" != 0 ] || [ "$(kv "$line" transport_errors)" != 0 ] || [ "$(kv "$line" bad_bodies)" != 0 ]; then
        warn "$label: 5xx, transport errors or bad bodies (see above)"
        FAILURES=$((FAILURES + 1))
    fi
    printf '%s\n' "$line"
}

# ---------------------------------------------------------------------------------------
# Database checks. Each prints "over_limit log_mismatch usage_mismatch claims granted".

CHECK_SQL="SELECT
  (SELECT count(*) FROM whatsapp_instances WHERE messages_sent_today > daily_message_limit),
  (SELECT count(*) FROM whatsapp_instances i
     WHERE i.messages_sent_today <> COALESCE((SELECT sum(c.granted - c.released) FROM claims c
       WHERE c.instance_id = i.id AND c.usage_date = i.last_reset_date), 0)),
  (SELECT count(*) FROM whatsapp_instances i LEFT JOIN instance_daily_usage u
       ON u.instance_id = i.id AND u.usage_date = i.last_reset_date
     WHERE i.messages_sent_today <> COALESCE(u.granted - u.released, 0)),
  (SELECT count(*) FROM claims),
  (SELECT COALESCE(sum(granted), 0) FROM claims WHERE tenant_id = :TENANT)"

check_db() {
    local tenant=$1 sql
    sql=${CHECK_SQL//:TENANT/$tenant}
    case $BACKEND in
    postgres) psql "$DB_URL" -qAtX -F ' ' -c "$sql" ;;
    sqlite) sqlite3 -separator ' ' "$SQLITE_FILE" "$sql" ;;
    esac
}

sql_value() {
    case $BACKEND in
    postgres) psql "$DB_URL" -qAtX -c "$1" ;;
    sqlite) sqlite3 "$SQLITE_FILE" "$1" ;;
    esac
}

# verify LABEL CHECK_BEFORE CHECK_AFTER EXPECTED_NEW_CLAIMS: fails the run on a broken invariant.
verify() {
    local label=$1 before=$2 after=$3 expected=$4
    local over log usage claims_before claims_after
    read -r over log usage claims_after _ <<<"$after"
    read -r _ _ _ claims_before _ <<<"$before"
    local lost=$((expected - (claims_after - claims_before)))
    if [ "$over" != 0 ] || [ "$log" != 0 ] || [ "$usage" != 0 ] || [ "$lost" != 0 ]; then
        warn "$label: over-limit $over, counter/log mismatches $log, counter/daily-usage mismatches $usage, 200s without a logged claim $lost"
        FAILURES=$((FAILURES + 1))
    fi
    echo "$over $log $usage $lost"
}

# ---------------------------------------------------------------------------------------
# pgbench

# pgbench_run SCRIPT CONCURRENCY MODE LABEL: prints "tps p50_ms p99_ms failed busy_cores"
# (latencies from the per-transaction log).
pgbench_run() {
    local script=$1 clients=$2 mode=$3 label=$4 threads logdir
    threads=$((clients < CORES ? clients : CORES))
    logdir=$WORK/pgbench-$label
    mkdir -p "$logdir"
    local vars=(-D "tenant_id=$TENANT_ID" -D "token_hash=$TOKEN_HASH" -D "sender_token_id=$SENDER_TOKEN_ID"
        -D "today=$(date -u +%F)" -D strategy=round_robin)
    if [ "$BENCH_WARMUP" != 0 ]; then
        PGTZ=UTC pgbench -n -f "$script" -c "$clients" -j "$threads" -T "$BENCH_WARMUP" -M "$mode" \
            "${vars[@]}" "$DB_URL" >"$logdir/warmup.out" 2>&1 || {
            cat "$logdir/warmup.out" >&2
            die "pgbench warm-up failed ($label)"
        }
    fi
    # CPU of the database backends and of pgbench itself, sampled from 1 s after the start
    # to 1 s before the end (the backends exit with pgbench), for CPU time per transaction.
    local before after pgb pids=() b0="" b1="" c0="" c1="" t0="" t1=""
    before=$(machine_ticks)
    PGTZ=UTC pgbench -n -f "$script" -c "$clients" -j "$threads" -T "$BENCH_DURATION" -M "$mode" \
        -l --log-prefix="$logdir/tx" "${vars[@]}" "$DB_URL" >"$logdir/run.out" 2>&1 &
    pgb=$!
    if [ "$BENCH_DURATION" -ge 4 ]; then
        sleep 1
        mapfile -t pids < <(psql "$DB_URL" -qAtX -c \
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pgbench'")
        b0=$(cpu_ticks "${pids[@]}") c0=$(cpu_ticks "$pgb") t0=$(date +%s.%N)
        sleep $((BENCH_DURATION - 2))
        b1=$(cpu_ticks "${pids[@]}") c1=$(cpu_ticks "$pgb") t1=$(date +%s.%N)
    fi
    wait "$pgb" || {
        cat "$logdir/run.out" >&2
        die "pgbench failed ($label)"
    }
    after=$(machine_ticks)
    cp "$logdir/run.out" "$BENCH_OUT/$label.out"
    local tps failed
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$logdir/run.out")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$logdir/run.out")
    # Per-transaction log: client, transaction, latency (µs), script, epoch, µs.
    local backend_cores="-" client_cores="-"
    if [ -n "$t1" ]; then
        backend_cores=$(calc "($b1 - $b0) / 100 / ($t1 - $t0)")
        client_cores=$(calc "($c1 - $c0) / 100 / ($t1 - $t0)")
    fi
    cat "$logdir"/tx.* | awk '{print $3}' | sort -n | awk -v busy="$(busy_cores "$before" "$after")" \
        -v tps="$tps" -v failed="${failed:-0}" -v bc="$backend_cores" -v cc="$client_cores" '
        function per_tx(cores) { return (cores == "-" || tps <= 0) ? "-" : sprintf("%.0f", cores / tps * 1e6) }
        {v[NR] = $1}
        END {
            if (NR == 0) { print tps, "-", "-", failed, busy, per_tx(bc), per_tx(cc); exit }
            p50 = v[int(NR * 0.50 + 0.999999)]; p99 = v[int(NR * 0.99 + 0.999999)];
            printf "%.1f %.3f %.3f %s %s %s %s\n", tps, p50 / 1000, p99 / 1000, failed, busy, per_tx(bc), per_tx(cc) }'
}

# ---------------------------------------------------------------------------------------
# One backend

# Statements PostgreSQL received for one claim, from the server log (needs read access
# to /var/log/postgresql; skipped otherwise).
trace_one_claim() {
    local logfile
    logfile=$(ls -t /var/log/postgresql/postgresql-*.log 2>/dev/null | head -n 1 || true)
    if [ -z "$logfile" ] || [ ! -r "$logfile" ]; then
        log "statement trace skipped: no readable PostgreSQL log under /var/log/postgresql"
        return
    fi
    psql "$DB_URL" -qAtX -c "ALTER DATABASE \"$PG_DB\" SET log_statement = 'all'" >/dev/null
    start_relevo "$DB_URL" "$BENCH_OUT/relevo-$BACKEND-trace.log"
    local mark=bench_trace_$(random_hex 6) offset
    # The pool's connections also log their set-up; mark where the claim begins.
    psql "$DB_URL" -qAtX -c "SELECT '$mark'" >/dev/null
    sleep 0.5
    offset=$(grep -n "$mark" "$logfile" | tail -n 1 | cut -d: -f1)
    "$LOAD_BIN" run --addr "$RELEVO_ADDR" --label trace --path "$CLAIM_PATH" --token "$SENDER_TOKEN" \
        --concurrency 1 --duration 0.05 --warmup 0 >/dev/null
    sleep 1.5
    stop_relevo
    psql "$DB_URL" -qAtX -c "ALTER DATABASE \"$PG_DB\" RESET log_statement" >/dev/null
    # The statements of the first claim: from the first token lookup to the first COMMIT
    # after it, of the one backend process that served it.
    tail -n +"$((offset + 1))" "$logfile" | grep "@$PG_DB " >"$WORK/trace.log" || true
    local backend
    backend=$(grep -m1 '"sender_tokens"."token_hash" =' "$WORK/trace.log" | sed -n 's/^[^[]*\[\([0-9]*\)\].*/\1/p' || true)
    if [ -z "$backend" ]; then
        log "statement trace: no claim found in $logfile"
        return
    fi
    # The r2d2 check-out ping comes just before the lookup on the same process.
    grep "\[$backend\]" "$WORK/trace.log" |
        awk 'stop {next} /LOG:  (statement|execute)/ {print} /"sender_tokens"."token_hash" =/ {seen = 1} seen && /COMMIT/ {stop = 1}' |
        sed 's/^.*LOG:  //' | tail -n 12 >"$BENCH_OUT/claim-statements.txt"
    # Keep only from the statement before the token lookup (the ping) on.
    awk '/"sender_tokens"."token_hash" =/ && !done {print prev; done = 1} done {print} {prev = $0}' \
        "$BENCH_OUT/claim-statements.txt" >"$WORK/claim.txt"
    mv "$WORK/claim.txt" "$BENCH_OUT/claim-statements.txt"
    {
        echo "Statements PostgreSQL received for one claim ($(wc -l <"$BENCH_OUT/claim-statements.txt") round trips; 'execute <unnamed>' = parsed and planned anew each time):"
        sed 's/^/    /' "$BENCH_OUT/claim-statements.txt"
    } | tee -a "$BENCH_OUT/summary.txt"
}

run_backend() {
    BACKEND=$1
    local label_prefix
    case $BACKEND in
    postgres)
        PG_DB=relevo_bench_$(random_hex 4)
        DB_URL=$BENCH_PG_URL/$PG_DB
        psql "$BENCH_PG_URL/postgres" -qAtX -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
        log "PostgreSQL: database $PG_DB"
        label_prefix=pg
        ;;
    sqlite)
        SQLITE_FILE=$WORK/sqlite/relevo.db
        DB_URL=$SQLITE_FILE
        log "SQLite: $SQLITE_FILE"
        label_prefix=sqlite
        ;;
    *) die "unknown backend $BACKEND" ;;
    esac

    start_relevo "$DB_URL" "$BENCH_OUT/relevo-$BACKEND.log"
    log "seeding: 1 tenant, $BENCH_INSTANCES instances of $BENCH_LIMIT messages a day, a sender token"
    local seeded
    seeded=$("$LOAD_BIN" seed --addr "$RELEVO_ADDR" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" \
        --instances "$BENCH_INSTANCES" --limit "$BENCH_LIMIT" --slug bench)
    TENANT_ID=$(sed -n 's/^TENANT_ID=//p' <<<"$seeded")
    SENDER_TOKEN=$(sed -n 's/^SENDER_TOKEN=//p' <<<"$seeded")
    TOKEN_HASH=$(printf '%s' "$SENDER_TOKEN" | sha256sum | cut -d' ' -f1)
    SENDER_TOKEN_ID=$(sql_value "SELECT id FROM sender_tokens WHERE token_hash = '$TOKEN_HASH'")
    CLAIM_PATH=/api/v1/tenants/$TENANT_ID/sender/claim

    if [ "$BACKEND" = postgres ] && [ "$BENCH_TRACE" = 1 ]; then
        stop_relevo
        trace_one_claim
        start_relevo "$DB_URL" "$BENCH_OUT/relevo-$BACKEND.log"
    fi

    local rows=() c
    for c in $BENCH_CONCURRENCY; do
        local label=$label_prefix-c$c before after result pool_pids=() t0 t1 m0 m1 r0 r1 p0 p1
        log "$BACKEND: claims at concurrency $c (${BENCH_WARMUP} s warm-up, ${BENCH_DURATION} s measured)"
        before=$(check_db "$TENANT_ID")
        if [ "$BACKEND" = postgres ]; then
            mapfile -t pool_pids < <(psql "$DB_URL" -qAtX -c \
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        fi
        reset_peak_rss
        m0=$(machine_ticks)
        r0=$(cpu_ticks "$RELEVO_PID")
        p0=$(cpu_ticks "${pool_pids[@]}")
        result=$(load "$label" --path "$CLAIM_PATH" --token "$SENDER_TOKEN" --body '{}' \
            --concurrency "$c" --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --expect '"granted":1')
        m1=$(machine_ticks)
        r1=$(cpu_ticks "$RELEVO_PID")
        p1=$(cpu_ticks "${pool_pids[@]}")
        local peak
        peak=$(peak_rss_mib)
        after=$(check_db "$TENANT_ID")
        local checks window total_window
        checks=$(verify "$label" "$before" "$after" "$(kv "$result" ok_total)")
        window=$(kv "$result" window_s)
        total_window=$(calc "$window + $BENCH_WARMUP" 3)
        # CPU shares in cores, over warm-up and measured window together (the ticks do not
        # separate them).
        rows+=("$c|$(kv "$result" rps)|$(kv "$result" p50_ms)|$(kv "$result" p99_ms)|$(kv "$result" max_ms)|$(kv "$result" non_200)|$peak|$checks|$(busy_cores "$m0" "$m1")|$(calc "($r1 - $r0) / 100 / $total_window")|$(calc "($p1 - $p0) / 100 / $total_window")|$(calc "$(kv "$result" client_cpu_s) / $window")")
    done

    # Claims of many messages each: what a campaign sender that sends in bursts gets.
    local batch_line=""
    if [ "$BENCH_BATCH_COUNT" != 0 ]; then
        local label=$label_prefix-count$BENCH_BATCH_COUNT-c$BENCH_BATCH_CONCURRENCY before after result checks
        log "$BACKEND: claims of $BENCH_BATCH_COUNT messages at concurrency $BENCH_BATCH_CONCURRENCY"
        before=$(check_db "$TENANT_ID")
        result=$(load "$label" --path "$CLAIM_PATH" --token "$SENDER_TOKEN" --body "{\"count\":$BENCH_BATCH_COUNT}" \
            --concurrency "$BENCH_BATCH_CONCURRENCY" --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" \
            --expect "\"granted\":$BENCH_BATCH_COUNT")
        after=$(check_db "$TENANT_ID")
        checks=$(verify "$label" "$before" "$after" "$(kv "$result" ok_total)")
        batch_line="claims of $BENCH_BATCH_COUNT messages at $BENCH_BATCH_CONCURRENCY: $(kv "$result" rps) claims/s = $(calc "$(kv "$result" rps) * $BENCH_BATCH_COUNT" 0) messages/s, p50 $(kv "$result" p50_ms) ms, p99 $(kv "$result" p99_ms) ms, non-200 $(kv "$result" non_200); over-limit/log/usage/lost: $checks"
    fi

    # The HTTP stack alone: the same load generator on GET /health (no database).
    log "$BACKEND: GET /health at concurrency 16 (HTTP stack and load generator only)"
    local health health_r0 health_r1 health_m0 health_m1
    health_m0=$(machine_ticks)
    health_r0=$(cpu_ticks "$RELEVO_PID")
    health=$(load "$label_prefix-health-c16" --path /health --method GET --concurrency 16 \
        --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP")
    health_m1=$(machine_ticks)
    health_r1=$(cpu_ticks "$RELEVO_PID")

    # Exhaustion: capacity C = EXHAUST_INSTANCES × EXHAUST_LIMIT, claimed by 64 at once.
    # Exactly C claims must be granted, every other answer must be 429, nothing over limit.
    local exhaust_line=""
    if [ "$BENCH_EXHAUST" = 1 ]; then
        local capacity=$((EXHAUST_INSTANCES * EXHAUST_LIMIT)) ex_seed ex_tenant ex_token ex_before ex_after ex_result
        log "$BACKEND: exhaustion check, $EXHAUST_INSTANCES instances × $EXHAUST_LIMIT = $capacity claims at concurrency $EXHAUST_CONCURRENCY"
        ex_seed=$("$LOAD_BIN" seed --addr "$RELEVO_ADDR" --email "$ADMIN_EMAIL" --password "$ADMIN_PASSWORD" \
            --instances "$EXHAUST_INSTANCES" --limit "$EXHAUST_LIMIT" --slug bench-exhaust)
        ex_tenant=$(sed -n 's/^TENANT_ID=//p' <<<"$ex_seed")
        ex_token=$(sed -n 's/^SENDER_TOKEN=//p' <<<"$ex_seed")
        ex_before=$(check_db "$ex_tenant")
        ex_result=$(load "$label_prefix-exhaust" --path "/api/v1/tenants/$ex_tenant/sender/claim" --token "$ex_token" \
            --body '{}' --concurrency "$EXHAUST_CONCURRENCY" --duration "$EXHAUST_DURATION" --warmup 0 --expect '"granted":1')
        ex_after=$(check_db "$ex_tenant")
        local ex_checks ex_granted ex_other
        ex_checks=$(verify "$label_prefix-exhaust" "$ex_before" "$ex_after" "$(kv "$ex_result" ok_total)")
        ex_granted=$(awk '{print $5}' <<<"$ex_after")
        ex_other=$(($(kv "$ex_result" non_200) - $(kv "$ex_result" s429)))
        if [ "$ex_granted" != "$capacity" ] || [ "$(kv "$ex_result" ok_total)" != "$capacity" ] || [ "$ex_other" != 0 ]; then
            warn "exhaustion: granted $ex_granted (200s: $(kv "$ex_result" ok_total)) of capacity $capacity, $ex_other answers other than 200/429"
            FAILURES=$((FAILURES + 1))
        fi
        exhaust_line="exhaustion check ($EXHAUST_INSTANCES instances × limit $EXHAUST_LIMIT = $capacity, concurrency $EXHAUST_CONCURRENCY, ${EXHAUST_DURATION} s): granted $ex_granted, 200s $(kv "$ex_result" ok_total), 429s $(kv "$ex_result" s429), other $ex_other; over-limit/log/usage/lost: $ex_checks"
    fi

    local final_peak
    final_peak=$(peak_rss_mib)

    # What the metrics cost: claims at 16 with them on (this process), then off (restarted).
    local metrics_line=""
    if [ "$BENCH_METRICS_OFF" = 1 ]; then
        local on off
        log "$BACKEND: claims at 16 with metrics on, then off"
        on=$(load "$label_prefix-metrics-on" --path "$CLAIM_PATH" --token "$SENDER_TOKEN" --body '{}' \
            --concurrency 16 --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --expect '"granted":1')
        stop_relevo
        RELEVO_EXTRA_ENV=(RELEVO_METRICS=off)
        start_relevo "$DB_URL" "$BENCH_OUT/relevo-$BACKEND.log"
        RELEVO_EXTRA_ENV=()
        off=$(load "$label_prefix-metrics-off" --path "$CLAIM_PATH" --token "$SENDER_TOKEN" --body '{}' \
            --concurrency 16 --duration "$BENCH_DURATION" --warmup "$BENCH_WARMUP" --expect '"granted":1')
        metrics_line="claims at 16 with metrics on: $(kv "$on" rps)/s (p99 $(kv "$on" p99_ms) ms), off: $(kv "$off" rps)/s (p99 $(kv "$off" p99_ms) ms); on/off $(calc "$(kv "$on" rps) / $(kv "$off" rps)")"
    fi
    stop_relevo

    local pg_rows=()
    if [ "$BACKEND" = postgres ]; then
        local today
        today=$(date -u +%F)
        local mode
        for mode in $BENCH_PGBENCH_MODES; do
            for c in $BENCH_CONCURRENCY; do
                log "pgbench -M $mode at concurrency $c: the claim's statements, then the bare claim statement"
                local before after full bare checks done_claims
                before=$(check_db "$TENANT_ID")
                full=$(pgbench_run "$ROOT/scripts/claim.pgbench.sql" "$c" "$mode" "pgbench-$mode-full-c$c")
                bare=$(pgbench_run "$ROOT/scripts/claim-bare.pgbench.sql" "$c" "$mode" "pgbench-$mode-bare-c$c")
                after=$(check_db "$TENANT_ID")
                done_claims=$(($(awk '{print $4}' <<<"$after") - $(awk '{print $4}' <<<"$before")))
                checks=$(verify "pgbench-$mode-c$c" "$before" "$after" "$done_claims")
                pg_rows+=("$mode|$c|$full|$bare|$checks")
            done
        done
        if [ "$(date -u +%F)" != "$today" ]; then
            warn "the UTC date changed during the pgbench runs; its claims may count on two days"
        fi
    fi

    # ---- report
    {
        echo
        case $BACKEND in
        postgres) echo "=== PostgreSQL 15 ($PG_DB), Relevo pool 16 connections" ;;
        sqlite) echo "=== SQLite (WAL, synchronous=NORMAL), Relevo pool 16 connections" ;;
        esac
        echo "    1 tenant, $BENCH_INSTANCES instances (limit $BENCH_LIMIT), round_robin, body {}; ${BENCH_WARMUP} s warm-up + ${BENCH_DURATION} s per level"
        echo "    load generator, Relevo and the database share the same $CORES cores (cores busy = whole machine, other users included)"
        echo
        printf '%5s | %9s | %7s | %7s | %8s | %7s | %8s | %10s | %11s | %5s | %11s\n' \
            conc claims/s "p50 ms" "p99 ms" "max ms" non-200 "peak RSS" over-limit "mismatches" lost "pgbench tps"
        printf '%5s | %9s | %7s | %7s | %8s | %7s | %8s | %10s | %11s | %5s | %11s\n' \
            "" "" "" "" "" "" MiB "" "log/usage" "" "full/bare"
        local row pg_row
        for row in "${rows[@]}"; do
            IFS='|' read -r c rps p50 p99 max non200 peak checks _ <<<"$row"
            read -r over logm usagem lost <<<"$checks"
            local pgcol="-"
            for pg_row in "${pg_rows[@]}"; do
                IFS='|' read -r pm pc full bare _ <<<"$pg_row"
                [ "$pm" = "${BENCH_PGBENCH_MODES%% *}" ] && [ "$pc" = "$c" ] &&
                    pgcol="$(awk '{print $1}' <<<"$full")/$(awk '{print $1}' <<<"$bare")"
            done
            printf '%5s | %9s | %7s | %7s | %8s | %7s | %8s | %10s | %11s | %5s | %11s\n' \
                "$c" "$rps" "$p50" "$p99" "$max" "$non200" "$peak" "$over" "$logm/$usagem" "$lost" "$pgcol"
        done
        echo
        echo "    CPU during each level, in cores (warm-up included) and in µs of CPU per claim;"
        echo "    'others' = machine busy minus relevo, its PG backends and the load generator (other users):"
        printf '%5s | %12s | %7s | %11s | %14s | %6s | %13s | %14s\n' conc "machine busy" relevo "PG backends" "load generator" others \
            "relevo µs/cl" "PG µs/claim"
        for row in "${rows[@]}"; do
            IFS='|' read -r c rps _ _ _ _ _ _ busy rcpu pcpu lcpu <<<"$row"
            local others pgus="-"
            if [ "$BACKEND" = postgres ]; then
                others=$(calc "$busy - $rcpu - $pcpu - $lcpu")
                pgus=$(calc "$pcpu / $rps * 1000000" 0)
            else
                others=$(calc "$busy - $rcpu - $lcpu")
                pcpu="(in-process)"
            fi
            printf '%5s | %12s | %7s | %11s | %14s | %6s | %13s | %14s\n' "$c" "$busy" "$rcpu" "$pcpu" "$lcpu" "$others" \
                "$(calc "$rcpu / $rps * 1000000" 0)" "$pgus"
        done
        echo
        echo "    GET /health at 16 (no database): $(kv "$health" rps) req/s, p50 $(kv "$health" p50_ms) ms, p99 $(kv "$health" p99_ms) ms; relevo $(calc "($health_r1 - $health_r0) / 100 / ($(kv "$health" window_s) + $BENCH_WARMUP)") cores, load generator $(calc "$(kv "$health" client_cpu_s) / $(kv "$health" window_s)") cores, machine $(busy_cores "$health_m0" "$health_m1") cores busy"
        [ -z "$batch_line" ] || echo "    $batch_line"
        [ -z "$metrics_line" ] || echo "    $metrics_line"
        [ -z "$exhaust_line" ] || echo "    $exhaust_line"
        echo "    peak RSS of relevo over the whole run: $final_peak MiB"
        if [ "$BACKEND" = postgres ]; then
            echo
            echo "    pgbench (-j min(c, $CORES)): full = every statement of a claim (check-out ping, token lookup, transaction), bare = the claim statement alone"
            printf '%9s | %5s | %9s | %7s | %7s | %9s | %7s | %7s | %9s | %9s | %6s | %13s | %15s | %s\n' \
                mode conc "full tps" "p50 ms" "p99 ms" "bare tps" "p50 ms" "p99 ms" "HTTP/full" "HTTP/bare" failed \
                "PG µs/tx f/b" "pgbench µs/tx" "machine busy f/b"
            for pg_row in "${pg_rows[@]}"; do
                local pm ftps fp50 fp99 ffail fbusy btps bp50 bp99 bfail bbusy rps=""
                IFS='|' read -r pm c full bare checks <<<"$pg_row"
                local fpg fcl bpg bcl
                read -r ftps fp50 fp99 ffail fbusy fpg fcl <<<"$full"
                read -r btps bp50 bp99 bfail bbusy bpg bcl <<<"$bare"
                for row in "${rows[@]}"; do
                    IFS='|' read -r rc rrps _ <<<"$row"
                    [ "$rc" = "$c" ] && rps=$rrps
                done
                printf '%9s | %5s | %9s | %7s | %7s | %9s | %7s | %7s | %9s | %9s | %6s | %13s | %15s | %s\n' \
                    "$pm" "$c" "$ftps" "$fp50" "$fp99" "$btps" "$bp50" "$bp99" "$(calc "$rps / $ftps")" "$(calc "$rps / $btps")" \
                    "$((ffail + bfail))" "$fpg/$bpg" "$fcl/$bcl" "$fbusy/$bbusy"
            done
        fi
        # The goals.
        local rps16="" btps16="" p99_64=""
        for row in "${rows[@]}"; do
            IFS='|' read -r rc rrps _ rp99 _ <<<"$row"
            [ "$rc" = 16 ] && rps16=$rrps
            [ "$rc" = 64 ] && p99_64=$rp99
        done
        for pg_row in "${pg_rows[@]}"; do
            IFS='|' read -r pm c _ bare _ <<<"$pg_row"
            [ "$pm" = "${BENCH_PGBENCH_MODES%% *}" ] && [ "$c" = 16 ] && btps16=$(awk '{print $1}' <<<"$bare")
        done
        echo
        if [ -n "$rps16" ] && [ -n "$btps16" ]; then
            local ratio
            ratio=$(calc "$rps16 / $btps16")
            echo "    goal: HTTP >= 1.0 x bare pgbench (-M ${BENCH_PGBENCH_MODES%% *}) at 16: $ratio -> $(awk -v r="$ratio" 'BEGIN {print (r >= 1.0) ? "MET" : "NOT MET"}')"
        fi
        if [ "$BACKEND" = sqlite ] && [ -n "$rps16" ]; then
            echo "    goal: >= 8000 claims/s at 16: $rps16 -> $(awk -v r="$rps16" 'BEGIN {print (r >= 8000) ? "MET" : "NOT MET"}')"
        fi
        if [ -n "$p99_64" ]; then
            echo "    goal: p99 < 20 ms at 64: $p99_64 ms -> $(awk -v p="$p99_64" 'BEGIN {print (p < 20) ? "MET" : "NOT MET"}')"
        fi
        # Under claim load: the highest peak of the claim levels. The whole run's peak also
        # holds the seeding's logins, each an Argon2 hash of 19 MiB.
        local load_peak=0
        for row in "${rows[@]}"; do
            IFS='|' read -r _ _ _ _ _ _ rpeak _ <<<"$row"
            load_peak=$(awk -v a="$load_peak" -v b="$rpeak" 'BEGIN {print (b > a) ? b : a}')
        done
        echo "    goal: peak RSS under claim load < 64 MiB: $load_peak MiB -> $(awk -v m="$load_peak" 'BEGIN {print (m < 64) ? "MET" : "NOT MET"}') (whole run, logins included: $final_peak MiB)"
    } | tee -a "$BENCH_OUT/summary.txt"

    if [ "$BACKEND" = postgres ]; then
        psql "$BENCH_PG_URL/postgres" -qAtX -c "DROP DATABASE IF EXISTS \"$PG_DB\" WITH (FORCE)" >/dev/null
        PG_DB=""
    fi
}

# ---------------------------------------------------------------------------------------

log "building relevo and the load generator (release)"
# Two invocations: together, Cargo would unify the dev-dependencies' features into the
# server binary, which would then differ from what `cargo build --release` ships.
cargo build --release --quiet --bin relevo
cargo build --release --quiet --example claim_load

{
    echo "Relevo claim benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "machine: $CORES cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$BENCH_OUT/summary.txt"

for backend in $BENCH_BACKENDS; do
    run_backend "$backend"
done

echo
echo "raw outputs and logs: $BENCH_OUT"
if [ "$FAILURES" -gt 0 ]; then
    warn "$FAILURES check(s) failed: see the !!! lines above"
    exit 1
fi
