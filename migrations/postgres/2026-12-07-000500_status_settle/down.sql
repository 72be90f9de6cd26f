DROP INDEX whatsapp_instances_unsettled;
ALTER TABLE whatsapp_instances DROP COLUMN remote_event_at;
ALTER TABLE whatsapp_instances DROP COLUMN notified_status;
ALTER TABLE whatsapp_instances DROP COLUMN sendable_since;
ALTER TABLE whatsapp_instances DROP COLUMN status_since;
