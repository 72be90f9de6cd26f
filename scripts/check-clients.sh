#!/usr/bin/env bash
# Generated clients in CI: generates three clients from the committed OpenAPI document, a Python
# client (openapi-python-client), a TypeScript client (@hey-api/openapi-ts) and a second Python
# client (openapi-generator's `python` generator, with its spec validation on), and runs seed 001
# from login to delete, plus a sender token, a claim and a release, with each, against Relevo on
# SQLite. Then lints the document with Redocly CLI (no error, no warning), and checks that every
# pattern a client checks before it sends reads alike in Python's and ECMA-262's regex engines
# (scripts/clients/patterns.py). See README "Generated clients".
#
#   scripts/check-clients.sh              # every check
#   scripts/check-clients.sh python lint  # some of them (python, typescript, openapi-generator,
#                                         # lint, patterns)
#   scripts/check-clients.sh --self-test  # proves the client checks can fail: runs the clients
#                                         # against broken copies of the document
#                                         # (scripts/clients/mutants.py) and fails unless every
#                                         # client fails on every copy
#
# Environment:
#   RELEVO_OPENAPI        the document to generate from (default: openapi/openapi.json)
#   RELEVO_BIN            the relevo binary to run (default: `cargo build --locked`, then
#                         ${CARGO_TARGET_DIR:-target}/debug/relevo)
#   RELEVO_CLIENTS_CACHE  where the pinned tools and the generated code go
#                         (default: .ci/cache/clients, ignored by git)
#   KEEP_CLIENTS_TMP=1    keep the servers' temporary directories (database and log)
#
# Tools are pinned in scripts/clients/{python,openapi-generator}/requirements.txt and
# scripts/clients/{typescript,redocly}/package-lock.json and installed into the cache on first
# use; openapi-generator's jar runs on Java, and Debian's `default-jre-headless` is installed
# (as root, or through sudo) when there is no `java`.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/scripts/clients"
openapi="$(realpath "${RELEVO_OPENAPI:-$root/openapi/openapi.json}")"
cache="${RELEVO_CLIENTS_CACHE:-$root/.ci/cache/clients}"
mkdir -p "$cache"
cache="$(realpath "$cache")"

self_test=0
if [ "${1:-}" = --self-test ]; then
    self_test=1
    shift
fi
generated=(python typescript openapi-generator)
clients=("$@")
if [ ${#clients[@]} -eq 0 ]; then
    clients=("${generated[@]}")
    [ "$self_test" = 1 ] || clients+=(lint patterns)
fi
for client in "${clients[@]}"; do
    case "$client" in
        python | typescript | openapi-generator) ;;
        lint | patterns) [ "$self_test" = 0 ] || { echo "error: --self-test runs the generated clients only" >&2; exit 2; } ;;
        *) echo "error: unknown check '$client' (python, typescript, openapi-generator, lint, patterns)" >&2; exit 2 ;;
    esac
done

step() { echo "==> $*"; }

for tool in python3 node npm curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed (Python 3.11+, Node.js 20.19+)" >&2; exit 1; }
done

# --- tools -------------------------------------------------------------------------------

digest() { cat "$@" | sha256sum | cut -c1-16; }

# A virtual environment under $cache/$1-<digest> with the tools pinned in $2 (a
# requirements file), installed unless its command $3 is already there; named $4 in the
# log. Sets $pinned_venv.
pinned_venv() {
    local python="${PYTHON:-python3}"
    pinned_venv="$cache/$1-$(digest "$2" <(echo "$("$python" --version 2>&1)"))"
    if [ ! -x "$pinned_venv/bin/$3" ] || [ ! -f "$pinned_venv/.complete" ]; then
        step "Installing the pinned $4 into $pinned_venv"
        rm -rf "$pinned_venv"
        "$python" -m venv "$pinned_venv"
        "$pinned_venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
            -r "$2"
        "$pinned_venv/bin/python" -m pip check --disable-pip-version-check
        touch "$pinned_venv/.complete"
    fi
}

python_tools() {
    local python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        echo "error: openapi-python-client and its clients need Python 3.11 or newer ($python is $("$python" --version 2>&1))" >&2
        exit 1
    fi
    pinned_venv venv "$here/python/requirements.txt" openapi-python-client "Python tools"
    venv="$pinned_venv"
}

# Commands that change the machine run directly as root, through sudo otherwise.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

generator_tools() {
    if ! command -v java >/dev/null; then
        step "Installing a Java runtime for openapi-generator (Debian's default-jre-headless)"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y default-jre-headless
    fi
    pinned_venv generator-venv "$here/openapi-generator/requirements.txt" openapi-generator-cli \
        "openapi-generator tools"
    generator_venv="$pinned_venv"
}

# The npm packages pinned in scripts/clients/$1/, installed into $cache/$1.
npm_tools() {
    local dir="$cache/$1" stamp
    stamp="$(digest "$here/$1/package.json" "$here/$1/package-lock.json" <(node --version))"
    mkdir -p "$dir"
    if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$stamp" ]; then
        step "Installing the pinned npm packages into $dir/node_modules"
        cp "$here/$1/package.json" "$here/$1/package-lock.json" "$dir/"
        (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
        echo "$stamp" >"$dir/.installed"
    fi
}

typescript_tools() {
    npm_tools typescript
    ts="$cache/typescript"
}

# --- the server ----------------------------------------------------------------------------

relevo_bin() {
    if [ -n "${RELEVO_BIN:-}" ]; then
        bin="$(realpath "$RELEVO_BIN")"
    else
        step "cargo build --locked"
        (cd "$root" && cargo build --locked --quiet)
        bin="${CARGO_TARGET_DIR:-$root/target}/debug/relevo"
        [[ "$bin" = /* ]] || bin="$root/$bin"
    fi
    [ -x "$bin" ] || { echo "error: no relevo binary at $bin" >&2; exit 1; }
}

server_pid=""
server_dir=""

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
    if [ -n "$server_dir" ]; then
        if [ "${KEEP_CLIENTS_TMP:-}" = 1 ]; then
            echo "kept $server_dir"
        else
            rm -rf "$server_dir"
        fi
        server_dir=""
    fi
}
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts Relevo on a fresh SQLite database; sets RELEVO_URL and the admin's credentials.
start_server() {
    server_dir="$(mktemp -d "${TMPDIR:-/tmp}/relevo-clients.XXXXXX")"
    local port
    port="$(free_port)"
    export RELEVO_URL="http://127.0.0.1:$port"
    export RELEVO_ADMIN_EMAIL="admin@relevo.local"
    RELEVO_ADMIN_PASSWORD="clients-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
    export RELEVO_ADMIN_PASSWORD
    # Only what this run sets: nothing from the caller's environment reaches the server.
    env -i PATH="$PATH" HOME="$server_dir" RUST_LOG=warn \
        DATABASE_URL="$server_dir/relevo.db" RELEVO_BIND="127.0.0.1:$port" \
        RELEVO_ADMIN_EMAIL="$RELEVO_ADMIN_EMAIL" RELEVO_ADMIN_PASSWORD="$RELEVO_ADMIN_PASSWORD" \
        "$bin" >"$server_dir/relevo.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 300); do
        if curl -fsS -o /dev/null "$RELEVO_URL/ready" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            echo "error: relevo exited before it was ready:" >&2
            cat "$server_dir/relevo.log" >&2
            server_pid=""
            return 1
        fi
        sleep 0.1
    done
    echo "error: relevo was not ready on $RELEVO_URL after 30 s:" >&2
    cat "$server_dir/relevo.log" >&2
    return 1
}

server_log_on_failure() {
    echo "--- relevo log (last 40 lines) ---" >&2
    tail -n 40 "$server_dir/relevo.log" >&2 || true
}

# --- the clients ---------------------------------------------------------------------------

run_python() {
    python_tools
    local out="$cache/python-client"
    step "Generating the Python client from $openapi"
    rm -rf "$out"
    mkdir -p "$out"
    "$venv/bin/openapi-python-client" generate --path "$openapi" \
        --config "$here/python/openapi-python-client.yaml" --meta none \
        --output-path "$out/relevo_client" --fail-on-warning
    start_server
    step "Python scenario against $RELEVO_URL"
    if ! PYTHONPATH="$out:$here" "$venv/bin/python" "$here/python/scenario.py"; then
        server_log_on_failure
        return 1
    fi
}

run_typescript() {
    typescript_tools
    step "Generating the TypeScript client from $openapi"
    cp "$here/typescript/tsconfig.json" "$here/typescript/openapi-ts.config.mjs" \
        "$here/typescript/scenario.ts" "$here/typescript/conformance.ts" "$ts/"
    rm -rf "$ts/gen" "$ts/dist"
    (cd "$ts" && RELEVO_OPENAPI="$openapi" ./node_modules/.bin/openapi-ts --file openapi-ts.config.mjs --silent --no-log-file)
    step "tsc (strict) of the generated client and the scenario"
    (cd "$ts" && ./node_modules/.bin/tsc -p tsconfig.json)
    start_server
    step "TypeScript scenario against $RELEVO_URL"
    if ! RELEVO_OPENAPI="$openapi" node "$ts/dist/scenario.js"; then
        server_log_on_failure
        return 1
    fi
}

run_openapi_generator() {
    generator_tools
    local out="$cache/openapi-generator-client" log
    step "Generating the openapi-generator python client from $openapi (spec validation on)"
    rm -rf "$out"
    log="$(mktemp)"
    # No --skip-validate-spec: the document must pass the generator's own validation. A line
    # the generator logs as an ERROR (an example it could not make, a schema it could not
    # read) fails the check too.
    if ! "$generator_venv/bin/openapi-generator-cli" generate -g python -i "$openapi" -o "$out" \
        --additional-properties=packageName=relevo_og,projectName=relevo-og >"$log" 2>&1 \
        || grep -q " ERROR " "$log"; then
        grep -E " (ERROR|WARN) |Exception|rror" "$log" | head -n 40 >&2
        rm -f "$log"
        return 1
    fi
    rm -f "$log"
    start_server
    step "openapi-generator python scenario against $RELEVO_URL"
    if ! PYTHONPATH="$out:$here" "$generator_venv/bin/python" "$here/openapi-generator/scenario.py"; then
        server_log_on_failure
        return 1
    fi
}

run_lint() {
    npm_tools redocly
    step "redocly lint $openapi"
    local report
    report="$(cd "$cache/redocly" && ./node_modules/.bin/redocly lint "$openapi" \
        --config "$here/redocly/redocly.yaml" --format=stylish 2>&1)" || {
        echo "$report" >&2
        return 1
    }
    # The recommended rules' warnings fail the check too: the document has none to carry.
    if grep -qE "^ +[0-9]+:[0-9]+ +warning " <<<"$report"; then
        echo "$report" >&2
        return 1
    fi
    echo "redocly: no error, no warning"
}

run_patterns() {
    step "Every request pattern read by Python's re and ECMA-262 (with and without u)"
    python3 "$here/patterns.py" "$openapi"
}

# Every client must pass against the document and fail against every mutant of it (each differs
# from the document in one way only, so each failure is that mutation's).
self_test() {
    local dir="$cache/mutants" escaped=0 count=0 mutant log
    rm -rf "$dir"
    mkdir -p "$dir"
    if ! RELEVO_OPENAPI="$openapi" RELEVO_BIN="$bin" "$0" "${clients[@]}" >"$dir/baseline.log" 2>&1; then
        echo "self-test: the clients fail on the document itself (log: $dir/baseline.log)" >&2
        return 1
    fi
    for mutant in $(python3 "$here/mutants.py" "$openapi" "$dir"); do
        count=$((count + 1))
        log="${mutant%.json}.log"
        RELEVO_OPENAPI="$mutant" RELEVO_BIN="$bin" "$0" "${clients[@]}" >"$log" 2>&1 || true
        for client in "${clients[@]}"; do
            if grep -q "^clients: the $client client FAILED" "$log"; then
                echo "self-test: $(basename "$mutant" .json): $client caught it: $(grep -m1 -E "^$client: FAILED|error TS" "$log" | cut -c1-160)"
            else
                echo "self-test: $(basename "$mutant" .json): $client did NOT fail (log: $log)" >&2
                escaped=$((escaped + 1))
            fi
        done
    done
    echo "self-test: $((count * ${#clients[@]} - escaped)) passed, $escaped failed ($count mutants × ${#clients[@]} clients)"
    [ "$escaped" -eq 0 ]
}

relevo_bin
if [ "$self_test" = 1 ]; then
    self_test
    exit
fi
passed=0
failed=0
for client in "${clients[@]}"; do
    # A subshell outside any `if`, so that `set -e` holds inside it; its trap stops its server.
    set +e
    (
        set -e
        trap stop_server EXIT
        trap 'exit 130' INT TERM
        "run_${client//-/_}"
    )
    status=$?
    set -e
    if [ "$status" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "clients: the $client client FAILED" >&2
    fi
done
echo "clients: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
