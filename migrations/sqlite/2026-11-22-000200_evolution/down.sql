DROP INDEX whatsapp_instances_tenant_phone_key;
CREATE UNIQUE INDEX whatsapp_instances_tenant_phone_key
    ON whatsapp_instances (tenant_id, phone_number);
DROP INDEX whatsapp_instances_evolution_server_idx;
DROP INDEX whatsapp_instances_server_name_key;
CREATE UNIQUE INDEX whatsapp_instances_server_name_key
    ON whatsapp_instances (COALESCE(evolution_api_url, ''), instance_name);
ALTER TABLE whatsapp_instances DROP COLUMN qr_updated_at;
ALTER TABLE whatsapp_instances DROP COLUMN pairing_code;
ALTER TABLE whatsapp_instances DROP COLUMN qr_code_base64;
ALTER TABLE whatsapp_instances DROP COLUMN qr_code;
ALTER TABLE whatsapp_instances DROP COLUMN provisioned;
ALTER TABLE whatsapp_instances DROP COLUMN evolution_server_id;
DROP TABLE evolution_servers;
