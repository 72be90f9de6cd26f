-- Who changed what (SPEC section 9): one row per change a super admin makes through the
-- API, written in the transaction of the change. No foreign keys: a row outlives the
-- user, tenant or resource it names, and keeps the actor's email for that reason.
-- `before_json`/`after_json` are snapshots without secrets.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor_id BIGINT NOT NULL,
    actor_email TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id BIGINT NOT NULL,
    tenant_id BIGINT,
    before_json TEXT,
    after_json TEXT,
    request_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
-- One per filter of GET /api/v1/audit-log, each ordered the way the list is (newest first).
CREATE INDEX audit_log_created_at ON audit_log (created_at, id);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, created_at);
CREATE INDEX audit_log_actor ON audit_log (actor_id, created_at);
CREATE INDEX audit_log_target ON audit_log (target_type, target_id, created_at);
CREATE INDEX audit_log_action ON audit_log (action, created_at);

-- The trail is append-only: no statement can rewrite or erase it.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
