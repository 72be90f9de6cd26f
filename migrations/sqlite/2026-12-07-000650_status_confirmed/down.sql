ALTER TABLE whatsapp_instances DROP COLUMN status_confirmed_at;
