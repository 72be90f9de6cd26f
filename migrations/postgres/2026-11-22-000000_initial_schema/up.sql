CREATE TABLE tenants (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    nombre TEXT NOT NULL,
    tipo_cargo TEXT,
    identificacion TEXT,
    timezone TEXT NOT NULL,
    rotation_strategy TEXT NOT NULL DEFAULT 'round_robin',
    callback_url TEXT,
    callback_secret_encrypted TEXT,
    currency TEXT NOT NULL DEFAULT 'COP',
    whatsapp_credits BIGINT NOT NULL DEFAULT 0,
    whatsapp_unit_price DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant_id BIGINT REFERENCES tenants (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE whatsapp_instances (
    id BIGSERIAL PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    phone_number TEXT NOT NULL,
    instance_name TEXT NOT NULL,
    evolution_api_key_encrypted TEXT NOT NULL,
    evolution_api_url TEXT,
    daily_message_limit INTEGER NOT NULL,
    messages_sent_today INTEGER NOT NULL DEFAULT 0,
    last_reset_date DATE NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    notes TEXT,
    connection_status TEXT NOT NULL DEFAULT 'unknown',
    owner_jid TEXT,
    profile_name TEXT,
    last_checked_at TIMESTAMP,
    connected_at TIMESTAMP,
    priority INTEGER NOT NULL DEFAULT 0,
    last_used_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX whatsapp_instances_tenant_phone_key
    ON whatsapp_instances (tenant_id, phone_number);
-- Instance names are unique per Evolution server; NULL means the default server.
CREATE UNIQUE INDEX whatsapp_instances_server_name_key
    ON whatsapp_instances (COALESCE(evolution_api_url, ''), instance_name);

CREATE TABLE login_throttle (
    email TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_started_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP
);
