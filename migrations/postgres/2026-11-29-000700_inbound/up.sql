-- Why WhatsApp last dropped the link, as Evolution's connection.update `statusReason`
-- gave it (401 logged out, 403 banned, ...); NULL while linked or never told.
ALTER TABLE whatsapp_instances ADD COLUMN status_reason INTEGER;
-- SHA-256 (hex) of the server's inbound webhook token, so that a webhook finds its server
-- with one indexed lookup instead of decrypting every token. Filled on first use.
ALTER TABLE evolution_servers ADD COLUMN webhook_token_digest TEXT;
CREATE UNIQUE INDEX evolution_servers_webhook_token_digest_key
    ON evolution_servers (webhook_token_digest);
