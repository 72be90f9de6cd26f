ALTER TABLE claims DROP COLUMN counter_epoch;
ALTER TABLE whatsapp_instances DROP COLUMN counter_epoch;
