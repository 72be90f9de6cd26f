-- One row per sync run, scheduled or asked for by a super admin. `scope` says which
-- instances it covered (`all`, `active`, `inactive`); `tenant_id` is set for a run of one
-- tenant. The scheduler reads the last scheduled run of each scope to know what is due.
CREATE TABLE sync_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "trigger" TEXT NOT NULL,
    scope TEXT NOT NULL,
    tenant_id BIGINT,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    synced INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    orphaned INTEGER NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX sync_runs_trigger_started ON sync_runs ("trigger", started_at);
