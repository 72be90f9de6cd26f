-- Instance names of deleted tenants whose session Relevo could not delete on Evolution:
-- the number may still be linked there, so provisioning the name for another tenant is
-- refused until an admin confirms (`adopt: true`). A name Evolution deleted is released.
CREATE TABLE retired_instance_names (
    evolution_server_id BIGINT NOT NULL REFERENCES evolution_servers (id) ON DELETE CASCADE,
    instance_name TEXT NOT NULL,
    former_tenant_id BIGINT NOT NULL,
    retired_at TIMESTAMP NOT NULL,
    PRIMARY KEY (evolution_server_id, instance_name)
);
