-- Each instance's own inbound webhook token (SPEC §8): only its SHA-256 digest (hex) is
-- kept. A token speaks only for its instance, so a tenant that reads one of its own
-- instances' webhook URLs from Evolution cannot speak for another tenant's instance.
-- `pending_digest` is a token being set on Evolution: accepted too until Evolution took
-- it (it then becomes `token_digest`) or refused it (it is dropped), so no event is lost
-- while the URL changes.
CREATE TABLE instance_webhook_tokens (
    instance_id BIGINT PRIMARY KEY REFERENCES whatsapp_instances (id) ON DELETE CASCADE,
    token_digest TEXT UNIQUE,
    pending_digest TEXT UNIQUE,
    rotated_at TIMESTAMP NOT NULL
);
