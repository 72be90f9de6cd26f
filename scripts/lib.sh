# Helpers shared by the scripts (benchmarks, fuzzing); sourced, never run.

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf '!!! %s\n' "$*" >&2; }
die() {
    warn "$*"
    exit 1
}

# A TCP port nobody listens on, below the kernel's ephemeral range: a port in that range may be
# held by an outgoing connection (to PostgreSQL, say) that no probe sees, and then bind fails.
# Relevo still fails to start, and says so, if the port was taken since.
free_port() {
    local port low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
    [ "$low" -gt 12000 ] || low=32768
    for _ in $(seq 100); do
        port=$((10000 + RANDOM % (low - 10000)))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return
        fi
    done
    die "no free port found"
}

random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# kv LINE KEY: the value of KEY=value in a RESULT line of the load generator.
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# calc EXPRESSION [DECIMALS]: floating-point arithmetic ("-" for NaN).
calc() { awk "BEGIN {v = $1; if (v != v) print \"-\"; else printf \"%.${2:-2}f\", v}"; }
