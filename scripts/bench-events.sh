#!/usr/bin/env bash
# Benchmark of outbound events (issue 11, item 7): for each backend, a fresh database,
# the real application in one process with a local receiver, a reference run of claims
# alone, then 10 000 queued events drained to the receiver while the same claimers run.
# See examples/events_drain.rs for what is measured and checked.
#
#   scripts/bench-events.sh
#
# Environment (all optional):
#   BENCH_BACKENDS   "postgres sqlite"   backends to run, in order
#   BENCH_EVENTS     10000               events queued
#   BENCH_TENANTS    50                  tenants they are spread over (each its own queue)
#   BENCH_CLAIMERS   16                  concurrent claimers (reference and during the drain)
#   BENCH_REFERENCE  5                   seconds of the claims-alone reference
#   BENCH_WORKER_CONCURRENCY 4           RELEVO_WEBHOOK_CONCURRENCY of the worker
#   BENCH_PG_URL     postgres://postgres@127.0.0.1:5432   server for the throwaway databases
#
# Relevo, the receiver, the claimers and PostgreSQL share this machine's cores.
# Exit status: 0 when every event was delivered exactly once on every backend.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET=${CARGO_TARGET_DIR:-target}
BENCH_BACKENDS=${BENCH_BACKENDS:-postgres sqlite}

cargo build --release --example events_drain
status=0
for backend in $BENCH_BACKENDS; do
    "$TARGET/release/examples/events_drain" --backend "$backend" \
        --events "${BENCH_EVENTS:-10000}" --tenants "${BENCH_TENANTS:-50}" \
        --claimers "${BENCH_CLAIMERS:-16}" --reference "${BENCH_REFERENCE:-5}" \
        --concurrency "${BENCH_WORKER_CONCURRENCY:-4}" \
        --pg-url "${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}" || status=1
done
exit $status
