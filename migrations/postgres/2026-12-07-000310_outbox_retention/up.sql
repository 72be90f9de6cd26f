-- Outbox retention (RELEVO_OUTBOX_RETENTION_DAYS): the delivery worker deletes delivered and
-- failed events whose last change is older than the retention, a bounded batch at a time. This
-- index finds them without reading the rest of the outbox; it also lets the count of events by
-- status for /metrics read the index alone.
CREATE INDEX webhook_events_status_updated ON webhook_events (status, updated_at);
