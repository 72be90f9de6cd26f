-- Messages sent through Relevo (SPEC §6): one row per POST .../messages that got an
-- instance, with every attempt. The text is never stored: it lives only in the request
-- that sends it (message content is personal data).
-- status: sending (Evolution is being called), sent, delivered, read, failed, unknown.
-- instance_*: the instance of the last attempt (the one that sent it, once sent), kept
-- as it was even if the instance is deleted later; claim_id: that attempt's claim.
-- attempts: a JSON array of {instance_id, instance_name, claim_id, error_key?, error?, at}.
CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    public_id TEXT NOT NULL UNIQUE,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    instance_id BIGINT NOT NULL,
    instance_name TEXT NOT NULL,
    instance_phone TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    evolution_message_id TEXT,
    error_key TEXT,
    attempts TEXT NOT NULL,
    strategy TEXT NOT NULL,
    idempotency_key TEXT,
    sender_token_id BIGINT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
-- The same key within a tenant is the same message.
CREATE UNIQUE INDEX messages_tenant_idempotency ON messages (tenant_id, idempotency_key);
-- The log of one tenant, newest first.
CREATE INDEX messages_tenant ON messages (tenant_id, id);
-- Evolution's delivery receipts (messages.update) name the instance and its message id.
CREATE INDEX messages_evolution_id ON messages (instance_id, evolution_message_id)
    WHERE evolution_message_id IS NOT NULL;
-- Messages whose sending stopped (their process died), found by the scheduler.
CREATE INDEX messages_sending ON messages (updated_at) WHERE status = 'sending';
-- Delivery receipts that arrived before Relevo had recorded Evolution's answer to the
-- send they are for (the same moment): applied when the message is recorded, or by the
-- scheduler's step; dropped after a day (receipts of messages not sent through Relevo).
CREATE TABLE message_receipts (
    instance_id BIGINT NOT NULL,
    evolution_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (instance_id, evolution_message_id, status)
);
