-- The outbox of events to tenants' callback URLs (SPEC §8), which is also the delivery
-- log. A row is written in the transaction of the change that causes it; the delivery
-- worker sends it later. `payload` is the exact body sent (and signed), fixed at creation.
-- `dedupe_key` makes an event that must happen once (a message id, quota.exhausted once
-- per tenant per day) unique per tenant.
CREATE TABLE webhook_events (
    id BIGSERIAL PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    dedupe_key TEXT,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    last_attempt_at TIMESTAMP,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX webhook_events_tenant_dedupe ON webhook_events (tenant_id, dedupe_key);
-- What the worker looks for: pending events that are due.
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at, tenant_id)
    WHERE status = 'pending';
-- The delivery log of one tenant, newest first, and each tenant's queue in order.
CREATE INDEX webhook_events_tenant ON webhook_events (tenant_id, id);
