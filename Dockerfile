# Relevo container image.
#   docker build -t relevo .
#   docker run -p 8080:8080 -v relevo-data:/app/data relevo            (embedded SQLite)
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://... -e ... relevo (see docker-compose.yml)

# ---- build ------------------------------------------------------------------
FROM rust:1-bookworm AS builder

# SQLite, libpq and OpenSSL are compiled from bundled sources (see Cargo.toml), so no -dev
# packages are needed, only the build tools; the vendored OpenSSL build runs perl and make.
RUN apt-get update \
    && apt-get install -y --no-install-recommends perl make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build

# Compile the dependencies alone first, against placeholder sources, so this layer stays
# cached until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

# Then the crate itself. The migrations are embedded at compile time. `touch` makes sure
# cargo rebuilds the crate rather than trusting the placeholder build's newer timestamps.
COPY src ./src
COPY migrations ./migrations
ENV CARGO_PROFILE_RELEASE_STRIP=true
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin relevo

# ---- runtime ----------------------------------------------------------------
FROM debian:bookworm-slim

RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*

# The vendored OpenSSL looks for CA certificates under its own build prefix; point it at Debian's.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_DIR=/etc/ssl/certs

RUN groupadd --system --gid 10001 relevo \
    && useradd --system --uid 10001 --gid relevo --home-dir /app --shell /usr/sbin/nologin relevo

WORKDIR /app
# The data directory (SQLite file and generated secrets) must exist and belong to the
# user before VOLUME, so a fresh named volume starts out writable.
RUN mkdir -p /app/data && chown relevo:relevo /app/data
VOLUME ["/app/data"]

COPY --from=builder /build/target/release/relevo /usr/local/bin/relevo

USER relevo:relevo
# Listen on every interface inside the container (the binary's default is 127.0.0.1:8080).
ENV RELEVO_BIND=0.0.0.0:8080
EXPOSE 8080

# No HEALTHCHECK: the image has no HTTP client, and adding curl only for that would grow it.
# Orchestrators can probe GET /health (process up) and GET /ready (database reachable).
ENTRYPOINT ["relevo"]
CMD ["serve"]
