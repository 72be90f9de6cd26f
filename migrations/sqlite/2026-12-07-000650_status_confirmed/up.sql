-- Sync, live reads and webhooks agree on a looping connection (SPEC §7): Evolution's
-- webhook keeps saying `connecting` while its stored state (`fetchInstances`) says
-- `close` and its live state flickers between the two. `status_confirmed_at` is when a
-- webhook last confirmed the status (Relevo's clock, refreshed by a webhook that repeats
-- it): a poll's word that the instance cannot send does not replace another status it
-- cannot send in, while a webhook confirmed it within RELEVO_STATUS_SETTLE_MS.
ALTER TABLE whatsapp_instances ADD COLUMN status_confirmed_at TIMESTAMP;
