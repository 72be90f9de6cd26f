//! The sync's rows: which instances a run covers, what it writes to them, and the log
//! of runs (`sync_runs`) the scheduler reads to know what is due.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::on_backend;

use super::instances::{self, Instance};
use super::remote_instances::{self, Recorded, RemoteChanges};
use super::schema::{sync_runs, whatsapp_instances};
use super::{DbConnection, Page};

/// One run as `sync_runs` keeps it; `errors` is a JSON array of `{instance_name, error}`.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = sync_runs)]
pub struct SyncRun {
    pub id: i64,
    pub trigger: String,
    pub scope: String,
    pub tenant_id: Option<i64>,
    pub started_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub synced: i32,
    pub updated: i32,
    pub orphaned: i32,
    pub errors: String,
}

/// Which instances a run covers: those of one tenant or all, active ones, inactive
/// ones, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncScope {
    pub tenant_id: Option<i64>,
    pub active: bool,
    pub inactive: bool,
}

impl SyncScope {
    pub fn name(&self) -> &'static str {
        match (self.active, self.inactive) {
            (true, false) => "active",
            (false, true) => "inactive",
            _ => "all",
        }
    }
}

/// The instances `scope` covers, by server then name.
pub fn instances_in(conn: &mut DbConnection, scope: SyncScope) -> QueryResult<Vec<Instance>> {
    let mut query = whatsapp_instances::table
        .select(Instance::as_select())
        .order((
            whatsapp_instances::evolution_server_id,
            whatsapp_instances::instance_name,
        ))
        .into_boxed();
    if let Some(tenant_id) = scope.tenant_id {
        query = query.filter(whatsapp_instances::tenant_id.eq(tenant_id));
    }
    match (scope.active, scope.inactive) {
        (true, false) => query = query.filter(whatsapp_instances::is_active.eq(true)),
        (false, true) => query = query.filter(whatsapp_instances::is_active.eq(false)),
        (false, false) => return Ok(Vec::new()),
        (true, true) => {}
    }
    query.load(conn)
}

/// Applies what the sync read for one instance; `phone` is set only on a row that still
/// has none and when no other instance of the tenant has that number (first, so that
/// the change recorded carries it). `None` when the instance was deleted meanwhile.
pub fn apply(
    conn: &mut DbConnection,
    instance: &Instance,
    changes: &RemoteChanges,
    phone: Option<&str>,
) -> QueryResult<Option<Recorded>> {
    if let Some(phone) = phone {
        if !instances::phone_taken(conn, instance.tenant_id, phone, Some(instance.id))? {
            diesel::update(
                whatsapp_instances::table
                    .find(instance.id)
                    .filter(whatsapp_instances::phone_number.eq("")),
            )
            .set(whatsapp_instances::phone_number.eq(phone))
            .execute(conn)?;
        }
    }
    remote_instances::record(conn, instance.id, changes)
}

/// Records the start of a run.
pub fn start(
    conn: &mut DbConnection,
    trigger: &str,
    scope: SyncScope,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    let insert = diesel::insert_into(sync_runs::table).values((
        sync_runs::trigger.eq(trigger),
        sync_runs::scope.eq(scope.name()),
        sync_runs::tenant_id.eq(scope.tenant_id),
        sync_runs::started_at.eq(now),
    ));
    on_backend!(conn, |c| insert.returning(sync_runs::id).get_result(c))
}

/// What a finished run found.
pub struct RunTotals {
    pub synced: i32,
    pub updated: i32,
    pub orphaned: i32,
    pub errors_json: String,
}

pub fn finish(
    conn: &mut DbConnection,
    id: i64,
    totals: &RunTotals,
    now: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(sync_runs::table.find(id))
        .set((
            sync_runs::finished_at.eq(Some(now)),
            sync_runs::synced.eq(totals.synced),
            sync_runs::updated.eq(totals.updated),
            sync_runs::orphaned.eq(totals.orphaned),
            sync_runs::errors.eq(&totals.errors_json),
        ))
        .execute(conn)?;
    Ok(())
}

/// When the last scheduled run that covered the instances of `scope_name` (`active` or
/// `inactive`) of every tenant started.
pub fn last_scheduled_start(
    conn: &mut DbConnection,
    scope_name: &str,
) -> QueryResult<Option<NaiveDateTime>> {
    sync_runs::table
        .filter(sync_runs::trigger.eq("schedule"))
        .filter(sync_runs::tenant_id.is_null())
        .filter(sync_runs::scope.eq_any([scope_name, "all"]))
        .select(diesel::dsl::max(sync_runs::started_at))
        .first(conn)
}

/// Newest first.
pub fn list(conn: &mut DbConnection, page: Page) -> QueryResult<(Vec<SyncRun>, i64)> {
    let total = sync_runs::table.count().get_result(conn)?;
    let rows = sync_runs::table
        .select(SyncRun::as_select())
        .order((sync_runs::started_at.desc(), sync_runs::id.desc()))
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}
