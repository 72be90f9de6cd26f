DROP INDEX evolution_servers_webhook_token_digest_key;
ALTER TABLE evolution_servers DROP COLUMN webhook_token_digest;
ALTER TABLE whatsapp_instances DROP COLUMN status_reason;
