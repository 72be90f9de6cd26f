-- A looping connection is one state to the tenant (SPEC §7): the status changes at once
-- (claims stop), but `instance.status_changed` goes out only for a status that held
-- RELEVO_STATUS_SETTLE_MS. `status_since` is when the status last changed,
-- `sendable_since` when it last went from one that may send to one that may not (or
-- back): a drop is told once the instance stayed unable to send, even while it flips
-- between `connecting` and `disconnected`. `notified_status` is the status the tenant was
-- last told (NULL: nothing to tell yet).
-- `remote_event_at` is Evolution's `date_time` of the newest connection event applied (an
-- older one delivered late changes nothing). The sync's stored status does not override
-- a status younger than the settle time (`status_since`).
ALTER TABLE whatsapp_instances ADD COLUMN status_since TIMESTAMP;
ALTER TABLE whatsapp_instances ADD COLUMN sendable_since TIMESTAMP;
ALTER TABLE whatsapp_instances ADD COLUMN notified_status TEXT;
ALTER TABLE whatsapp_instances ADD COLUMN remote_event_at TIMESTAMP;
UPDATE whatsapp_instances SET notified_status = connection_status;
CREATE INDEX whatsapp_instances_unsettled ON whatsapp_instances (id)
    WHERE notified_status <> connection_status;
