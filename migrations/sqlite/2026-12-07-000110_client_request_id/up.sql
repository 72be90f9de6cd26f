-- The request id of an audit row is Relevo's own; a caller's own `X-Request-Id` is kept
-- beside it when well formed (1 to 128 characters of A-Z a-z 0-9 . _ : -), else NULL.
ALTER TABLE audit_log ADD COLUMN client_request_id TEXT;
