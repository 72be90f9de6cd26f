-- Evolution API servers (seed 004's integration credentials). `api_key_encrypted` is NULL
-- for servers known only from a registered instance's URL: Relevo then calls them with
-- each instance's own key.
CREATE TABLE evolution_servers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    base_url TEXT NOT NULL,
    api_key_encrypted TEXT,
    webhook_token_encrypted TEXT,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    is_default BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX evolution_servers_base_url_key ON evolution_servers (base_url);
-- At most one default server.
CREATE UNIQUE INDEX evolution_servers_default_key ON evolution_servers (is_default) WHERE is_default;

-- Every URL an instance was registered with becomes a server.
INSERT INTO evolution_servers (name, base_url, is_active, is_default, created_at, updated_at)
SELECT DISTINCT evolution_api_url, evolution_api_url, TRUE, FALSE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP
FROM whatsapp_instances
WHERE evolution_api_url IS NOT NULL;

-- SQLite cannot drop a column that takes part in a foreign key, so the reference to
-- evolution_servers is enforced by Relevo here (a server with instances is never deleted).
ALTER TABLE whatsapp_instances ADD COLUMN evolution_server_id BIGINT;
ALTER TABLE whatsapp_instances ADD COLUMN provisioned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE whatsapp_instances ADD COLUMN qr_code TEXT;
ALTER TABLE whatsapp_instances ADD COLUMN qr_code_base64 TEXT;
ALTER TABLE whatsapp_instances ADD COLUMN pairing_code TEXT;
ALTER TABLE whatsapp_instances ADD COLUMN qr_updated_at TIMESTAMP;

UPDATE whatsapp_instances
SET evolution_server_id = (
    SELECT id FROM evolution_servers WHERE evolution_servers.base_url = whatsapp_instances.evolution_api_url
)
WHERE evolution_api_url IS NOT NULL;

-- Instance names are unique per Evolution server; NULL means the default server while
-- none is configured.
DROP INDEX whatsapp_instances_server_name_key;
CREATE UNIQUE INDEX whatsapp_instances_server_name_key
    ON whatsapp_instances (COALESCE(evolution_server_id, 0), instance_name);
CREATE INDEX whatsapp_instances_evolution_server_idx ON whatsapp_instances (evolution_server_id);

-- A provisioned instance has no phone number ('') until WhatsApp is linked.
DROP INDEX whatsapp_instances_tenant_phone_key;
CREATE UNIQUE INDEX whatsapp_instances_tenant_phone_key
    ON whatsapp_instances (tenant_id, phone_number) WHERE phone_number <> '';
