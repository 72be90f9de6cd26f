-- Campaign-sender credentials: only a SHA-256 of the token is kept.
CREATE TABLE sender_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX sender_tokens_tenant ON sender_tokens (tenant_id);

-- The send log: one row per claim. instance_id has no foreign key so that the log,
-- and the credits it feeds, outlive a deleted instance.
CREATE TABLE claims (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL UNIQUE,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    instance_id BIGINT NOT NULL,
    usage_date DATE NOT NULL,
    requested INTEGER NOT NULL,
    granted INTEGER NOT NULL,
    released INTEGER NOT NULL DEFAULT 0,
    strategy TEXT NOT NULL,
    recipient TEXT,
    idempotency_key TEXT,
    sender_token_id BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX claims_tenant_idempotency_key ON claims (tenant_id, idempotency_key);

CREATE TABLE claim_releases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    claim_id BIGINT NOT NULL REFERENCES claims (id) ON DELETE CASCADE,
    released INTEGER NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX claim_releases_claim ON claim_releases (claim_id);

-- Per instance and local day, what was granted and given back: the statistics
-- history and the WhatsApp credits, without scanning the log.
CREATE TABLE instance_daily_usage (
    instance_id BIGINT NOT NULL,
    usage_date DATE NOT NULL,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    granted INTEGER NOT NULL DEFAULT 0,
    released INTEGER NOT NULL DEFAULT 0,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (instance_id, usage_date)
);
CREATE INDEX instance_daily_usage_tenant ON instance_daily_usage (tenant_id, usage_date);

-- Sticky sender: which instance last served a recipient.
CREATE TABLE recipient_routes (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    instance_id BIGINT NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, recipient)
);
