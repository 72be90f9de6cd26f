use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::domain::{ConnectionStatus, DailyUsage};
use crate::on_backend;

use super::schema::{tenants, whatsapp_instances};
use super::tenants::Tenant;
use super::{DbBackend, DbConnection, Page};

#[derive(Queryable, QueryableByName, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = whatsapp_instances)]
pub struct Instance {
    pub id: i64,
    pub tenant_id: i64,
    pub phone_number: String,
    pub instance_name: String,
    pub evolution_api_key_encrypted: String,
    pub evolution_api_url: Option<String>,
    pub daily_message_limit: i32,
    pub messages_sent_today: i32,
    pub last_reset_date: NaiveDate,
    pub is_active: bool,
    pub notes: Option<String>,
    pub connection_status: ConnectionStatus,
    pub owner_jid: Option<String>,
    pub profile_name: Option<String>,
    pub last_checked_at: Option<NaiveDateTime>,
    pub connected_at: Option<NaiveDateTime>,
    pub priority: i32,
    pub last_used_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The Evolution server the instance lives on; `None` while the default server it
    /// was registered for does not exist yet.
    pub evolution_server_id: Option<i64>,
    /// Created on Evolution by Relevo (so deleting it deletes it there too).
    pub provisioned: bool,
    pub qr_code: Option<String>,
    pub qr_code_base64: Option<String>,
    pub pairing_code: Option<String>,
    pub qr_updated_at: Option<NaiveDateTime>,
    /// Which count of the day `messages_sent_today` is: every reset-counter starts a new
    /// one, and a claim keeps the number of the count it was made in.
    pub counter_epoch: i32,
    /// Evolution's `statusReason` of the last drop (401 logged out, 403 banned, ...).
    pub status_reason: Option<i32>,
    /// When `connection_status` last changed.
    pub status_since: Option<NaiveDateTime>,
    /// When it last changed between a status that may send and one that may not.
    pub sendable_since: Option<NaiveDateTime>,
    /// The status the tenant was last told (`instance.status_changed`); `None` while
    /// there was nothing to tell.
    pub notified_status: Option<ConnectionStatus>,
    /// Evolution's `date_time` of the newest connection event applied.
    pub remote_event_at: Option<NaiveDateTime>,
    /// When a webhook last confirmed `connection_status` (Relevo's clock).
    pub status_confirmed_at: Option<NaiveDateTime>,
}

impl Instance {
    /// The server whose base URL callers use: the instance's own, when it was registered
    /// without a URL of its own.
    pub fn default_server_id(&self) -> Option<i64> {
        match self.evolution_api_url {
            None => self.evolution_server_id,
            Some(_) => None,
        }
    }

    /// The counter as it stands on the tenant's local date `today`.
    pub fn usage_on(&self, today: NaiveDate) -> DailyUsage {
        DailyUsage::new(
            self.last_reset_date,
            self.messages_sent_today,
            self.daily_message_limit,
            today,
        )
    }
}

#[derive(Insertable)]
#[diesel(table_name = whatsapp_instances)]
pub struct NewInstance {
    pub tenant_id: i64,
    pub phone_number: String,
    pub instance_name: String,
    pub evolution_api_key_encrypted: String,
    pub evolution_api_url: Option<String>,
    pub daily_message_limit: i32,
    pub messages_sent_today: i32,
    pub last_reset_date: NaiveDate,
    pub is_active: bool,
    pub notes: Option<String>,
    pub priority: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub evolution_server_id: Option<i64>,
    pub provisioned: bool,
    pub connection_status: ConnectionStatus,
}

/// A partial update: `None` leaves a column alone, `Some(None)` clears a nullable one.
#[derive(AsChangeset, Default)]
#[diesel(table_name = whatsapp_instances)]
pub struct InstanceChanges {
    pub phone_number: Option<String>,
    pub instance_name: Option<String>,
    pub evolution_api_key_encrypted: Option<String>,
    pub evolution_api_url: Option<Option<String>>,
    pub daily_message_limit: Option<i32>,
    pub is_active: Option<bool>,
    pub notes: Option<Option<String>>,
    pub priority: Option<i32>,
    pub updated_at: Option<NaiveDateTime>,
    pub evolution_server_id: Option<Option<i64>>,
}

#[derive(Default)]
pub struct InstanceFilter {
    pub tenant_id: Option<i64>,
    pub is_active: Option<bool>,
    pub connection_status: Option<ConnectionStatus>,
    /// Matches a part of the instance name or of the phone number, ignoring case.
    pub search: Option<String>,
}

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

type InstancesWithTenants = diesel::dsl::IntoBoxed<
    'static,
    diesel::dsl::InnerJoin<whatsapp_instances::table, tenants::table>,
    DbBackend,
>;

fn filtered(filter: &InstanceFilter) -> InstancesWithTenants {
    let mut query = whatsapp_instances::table
        .inner_join(tenants::table)
        .into_boxed();
    if let Some(tenant_id) = filter.tenant_id {
        query = query.filter(whatsapp_instances::tenant_id.eq(tenant_id));
    }
    if let Some(is_active) = filter.is_active {
        query = query.filter(whatsapp_instances::is_active.eq(is_active));
    }
    if let Some(status) = filter.connection_status {
        query = query.filter(whatsapp_instances::connection_status.eq(status));
    }
    if let Some(search) = &filter.search {
        let escaped = search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        query = query.filter(
            lower(whatsapp_instances::instance_name)
                .like(pattern.clone())
                .escape('\\')
                .or(whatsapp_instances::phone_number.like(pattern).escape('\\')),
        );
    }
    query
}

/// One page of instances, each with its tenant (whose time zone dates the counter).
pub fn list(
    conn: &mut DbConnection,
    filter: &InstanceFilter,
    page: Page,
) -> QueryResult<(Vec<(Instance, Tenant)>, i64)> {
    let total = filtered(filter).count().get_result(conn)?;
    let rows = filtered(filter)
        .select((Instance::as_select(), Tenant::as_select()))
        .order(whatsapp_instances::id.asc())
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}

pub fn list_for_tenant(conn: &mut DbConnection, tenant_id: i64) -> QueryResult<Vec<Instance>> {
    whatsapp_instances::table
        .filter(whatsapp_instances::tenant_id.eq(tenant_id))
        .order(whatsapp_instances::id.asc())
        .select(Instance::as_select())
        .load(conn)
}

pub fn find_in_tenant(
    conn: &mut DbConnection,
    tenant_id: i64,
    id: i64,
) -> QueryResult<Option<Instance>> {
    whatsapp_instances::table
        .filter(whatsapp_instances::tenant_id.eq(tenant_id))
        .filter(whatsapp_instances::id.eq(id))
        .select(Instance::as_select())
        .first(conn)
        .optional()
}

/// As [`find_in_tenant`], locked until the transaction ends: a change reads exactly what
/// it replaces (a SQLite write transaction holds the lock already).
pub fn find_for_update(
    conn: &mut DbConnection,
    tenant_id: i64,
    id: i64,
) -> QueryResult<Option<Instance>> {
    Ok(find_by_id_for_update(conn, id)?.filter(|instance| instance.tenant_id == tenant_id))
}

/// The instance `id`, whatever its tenant, locked until the transaction ends (a SQLite
/// write transaction holds the lock already).
pub fn find_by_id_for_update(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Instance>> {
    let query = whatsapp_instances::table.find(id);
    match conn {
        DbConnection::Postgres(pg) => query
            .select(Instance::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => {
            query.select(Instance::as_select()).first(sqlite).optional()
        }
    }
}

pub fn phone_taken(
    conn: &mut DbConnection,
    tenant_id: i64,
    phone_number: &str,
    except_id: Option<i64>,
) -> QueryResult<bool> {
    let mut query = whatsapp_instances::table
        .filter(whatsapp_instances::tenant_id.eq(tenant_id))
        .filter(whatsapp_instances::phone_number.eq(phone_number.to_string()))
        .select(whatsapp_instances::id)
        .into_boxed();
    if let Some(id) = except_id {
        query = query.filter(whatsapp_instances::id.ne(id));
    }
    Ok(query.first::<i64>(conn).optional()?.is_some())
}

/// The tenant that already uses `instance_name` on the same Evolution server, if any.
pub fn name_owner(
    conn: &mut DbConnection,
    instance_name: &str,
    evolution_server_id: Option<i64>,
    except_id: Option<i64>,
) -> QueryResult<Option<i64>> {
    let mut query = whatsapp_instances::table
        .filter(whatsapp_instances::instance_name.eq(instance_name.to_string()))
        .select(whatsapp_instances::tenant_id)
        .into_boxed();
    query = match evolution_server_id {
        Some(id) => query.filter(whatsapp_instances::evolution_server_id.eq(id)),
        None => query.filter(whatsapp_instances::evolution_server_id.is_null()),
    };
    if let Some(id) = except_id {
        query = query.filter(whatsapp_instances::id.ne(id));
    }
    query.first(conn).optional()
}

pub fn insert(conn: &mut DbConnection, new: &NewInstance) -> QueryResult<Instance> {
    on_backend!(conn, |c| diesel::insert_into(whatsapp_instances::table)
        .values(new)
        .returning(Instance::as_returning())
        .get_result(c))
}

pub fn update(
    conn: &mut DbConnection,
    id: i64,
    changes: &InstanceChanges,
) -> QueryResult<Instance> {
    on_backend!(conn, |c| diesel::update(whatsapp_instances::table.find(id))
        .set(changes)
        .returning(Instance::as_returning())
        .get_result(c))
}

/// Starts a new count for `today`: the counter goes back to 0 and its epoch moves on,
/// so that claims of the old count can no longer be released against the new one.
/// `None` when the instance no longer exists.
pub fn reset_counter(
    conn: &mut DbConnection,
    id: i64,
    today: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<Option<Instance>> {
    use whatsapp_instances::{counter_epoch, last_reset_date, messages_sent_today, updated_at};
    on_backend!(conn, |c| diesel::update(whatsapp_instances::table.find(id))
        .set((
            messages_sent_today.eq(0),
            last_reset_date.eq(today),
            counter_epoch.eq(counter_epoch + 1),
            updated_at.eq(now),
        ))
        .returning(Instance::as_returning())
        .get_result(c)
        .optional())
}

/// Flips `is_active` in the database itself, so two concurrent toggles both count.
pub fn toggle_active(
    conn: &mut DbConnection,
    id: i64,
    now: NaiveDateTime,
) -> QueryResult<Instance> {
    on_backend!(conn, |c| diesel::update(whatsapp_instances::table.find(id))
        .set((
            whatsapp_instances::is_active.eq(diesel::dsl::not(whatsapp_instances::is_active)),
            whatsapp_instances::updated_at.eq(now),
        ))
        .returning(Instance::as_returning())
        .get_result(c))
}

/// Deletes the instance; answers it as it was, or `None` when it was gone already.
pub fn delete(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Instance>> {
    on_backend!(conn, |c| diesel::delete(whatsapp_instances::table.find(id))
        .returning(Instance::as_returning())
        .get_result(c)
        .optional())
}

/// `(all, active)` instance counts of a tenant.
pub fn counts(conn: &mut DbConnection, tenant_id: i64) -> QueryResult<(i64, i64)> {
    let of_tenant = whatsapp_instances::table.filter(whatsapp_instances::tenant_id.eq(tenant_id));
    let all = of_tenant.count().get_result(conn)?;
    let active = of_tenant
        .filter(whatsapp_instances::is_active.eq(true))
        .count()
        .get_result(conn)?;
    Ok((all, active))
}

/// How many instances there are in each connection status.
pub fn count_by_status(conn: &mut DbConnection) -> QueryResult<Vec<(ConnectionStatus, i64)>> {
    whatsapp_instances::table
        .group_by(whatsapp_instances::connection_status)
        .select((
            whatsapp_instances::connection_status,
            diesel::dsl::count_star(),
        ))
        .load(conn)
}

/// The tenant's instances that live on an Evolution server.
pub fn on_servers_of_tenant(conn: &mut DbConnection, tenant_id: i64) -> QueryResult<Vec<Instance>> {
    whatsapp_instances::table
        .filter(whatsapp_instances::tenant_id.eq(tenant_id))
        .filter(whatsapp_instances::evolution_server_id.is_not_null())
        .order(whatsapp_instances::id.asc())
        .select(Instance::as_select())
        .load(conn)
}
