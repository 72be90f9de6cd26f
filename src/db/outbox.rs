//! The outbox of events to tenants (`webhook_events`), which is also their delivery log.
//! An event is inserted in the transaction of the change that causes it; the delivery
//! worker ([`crate::events::worker`]) reads the due ones of a tenant in order of creation
//! and records each attempt here.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::domain::DeliveryStatus;
use crate::on_backend;

use super::schema::{tenants, webhook_events};
use super::{DbConnection, Page};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = webhook_events)]
pub struct WebhookEvent {
    pub id: i64,
    /// The event's id (a UUID): `X-Relevo-Event-Id` and the `id` of the body.
    pub public_id: String,
    pub tenant_id: i64,
    pub event_type: String,
    /// The exact body sent and signed.
    pub payload: String,
    pub dedupe_key: Option<String>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub last_attempt_at: Option<NaiveDateTime>,
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = webhook_events)]
pub struct NewWebhookEvent<'a> {
    pub public_id: &'a str,
    pub tenant_id: i64,
    pub event_type: &'a str,
    pub payload: &'a str,
    pub dedupe_key: Option<&'a str>,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// Whether the tenant has a callback URL: events are recorded only for tenants that
/// have one (there is nowhere to deliver the others).
pub fn wants_events(conn: &mut DbConnection, tenant_id: i64) -> QueryResult<bool> {
    Ok(tenants::table
        .find(tenant_id)
        .select(tenants::callback_url)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten()
        .is_some())
}

/// Inserts the event; `false` when the tenant already has one with the same
/// `dedupe_key` (and nothing was inserted).
pub fn insert(conn: &mut DbConnection, new: &NewWebhookEvent) -> QueryResult<bool> {
    let inserted = on_backend!(conn, |c| diesel::insert_into(webhook_events::table)
        .values(new)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(inserted == 1)
}

#[derive(QueryableByName)]
struct DueTenant {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    tenant_id: i64,
}

/// Tenants with events due at `now` whose delivery lease (`{lease_prefix}{tenant_id}` in
/// `leases`) nobody holds, the one waiting longest first.
pub fn due_tenants(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    lease_prefix: &str,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    use diesel::sql_types::{BigInt, Text, Timestamp};
    // The status is written into the statement, not bound, as the partial index of
    // pending events names it: a plan made for any bound value could not use that index.
    let sql = format!(
        "SELECT e.tenant_id AS tenant_id FROM webhook_events e \
         WHERE e.status = '{pending}' AND e.next_attempt_at <= $1 \
         AND NOT EXISTS (SELECT 1 FROM leases l \
             WHERE l.name = $2 || CAST(e.tenant_id AS TEXT) AND l.expires_at > $1) \
         GROUP BY e.tenant_id ORDER BY MIN(e.next_attempt_at), e.tenant_id LIMIT $3",
        pending = DeliveryStatus::Pending.as_str(),
    );
    let rows: Vec<DueTenant> = match conn {
        DbConnection::Postgres(pg) => diesel::sql_query(sql)
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(lease_prefix)
            .bind::<BigInt, _>(limit)
            .load(pg)?,
        DbConnection::Sqlite(sqlite) => diesel::sql_query(sql.replace('$', "?"))
            .bind::<Timestamp, _>(now)
            .bind::<Text, _>(lease_prefix)
            .bind::<BigInt, _>(limit)
            .load(sqlite)?,
    };
    Ok(rows.into_iter().map(|row| row.tenant_id).collect())
}

/// The tenant's events due at `now`, in order of creation.
pub fn due_batch(
    conn: &mut DbConnection,
    tenant_id: i64,
    now: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<WebhookEvent>> {
    webhook_events::table
        .filter(webhook_events::tenant_id.eq(tenant_id))
        .filter(webhook_events::status.eq(DeliveryStatus::Pending))
        .filter(webhook_events::next_attempt_at.le(now))
        .order(webhook_events::id.asc())
        .limit(limit)
        .select(WebhookEvent::as_select())
        .load(conn)
}

/// Where and how a tenant's events go: its callback URL and its secret (encrypted).
pub fn callback_of(
    conn: &mut DbConnection,
    tenant_id: i64,
) -> QueryResult<Option<(Option<String>, Option<String>)>> {
    tenants::table
        .find(tenant_id)
        .select((tenants::callback_url, tenants::callback_secret_encrypted))
        .first(conn)
        .optional()
}

/// What one attempt to deliver an event ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptResult {
    pub event_id: i64,
    /// `delivered`, `pending` (to be tried again at `next_attempt_at`) or `failed`.
    pub status: DeliveryStatus,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub next_attempt_at: Option<NaiveDateTime>,
    pub at: NaiveDateTime,
}

/// Records attempts on events still pending (an event replayed meanwhile is pending
/// again and is recorded too). Deliveries that got the same status code are recorded
/// with one statement, at the time of the last of them.
pub fn record_attempts(conn: &mut DbConnection, results: &[AttemptResult]) -> QueryResult<()> {
    let mut delivered: std::collections::BTreeMap<Option<i32>, (Vec<i64>, NaiveDateTime)> =
        std::collections::BTreeMap::new();
    for result in results
        .iter()
        .filter(|r| r.status == DeliveryStatus::Delivered)
    {
        let group = delivered
            .entry(result.status_code)
            .or_insert((Vec::new(), result.at));
        group.0.push(result.event_id);
        group.1 = group.1.max(result.at);
    }
    for (status_code, (ids, at)) in delivered {
        diesel::update(
            webhook_events::table
                .filter(webhook_events::id.eq_any(ids))
                .filter(webhook_events::status.eq(DeliveryStatus::Pending)),
        )
        .set((
            webhook_events::status.eq(DeliveryStatus::Delivered),
            webhook_events::attempts.eq(webhook_events::attempts + 1),
            webhook_events::last_attempt_at.eq(Some(at)),
            webhook_events::last_status_code.eq(status_code),
            webhook_events::last_error.eq(None::<String>),
            webhook_events::next_attempt_at.eq(None::<NaiveDateTime>),
            webhook_events::delivered_at.eq(Some(at)),
            webhook_events::updated_at.eq(at),
        ))
        .execute(conn)?;
    }
    for result in results
        .iter()
        .filter(|r| r.status != DeliveryStatus::Delivered)
    {
        diesel::update(
            webhook_events::table
                .find(result.event_id)
                .filter(webhook_events::status.eq(DeliveryStatus::Pending)),
        )
        .set((
            webhook_events::status.eq(result.status),
            webhook_events::attempts.eq(webhook_events::attempts + 1),
            webhook_events::last_attempt_at.eq(Some(result.at)),
            webhook_events::last_status_code.eq(result.status_code),
            webhook_events::last_error.eq(result.error.as_deref()),
            webhook_events::next_attempt_at.eq(result.next_attempt_at),
            webhook_events::delivered_at.eq(None::<NaiveDateTime>),
            webhook_events::updated_at.eq(result.at),
        ))
        .execute(conn)?;
    }
    Ok(())
}

/// Filters of the delivery log.
#[derive(Clone, Debug, Default)]
pub struct LogFilter {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<String>,
}

/// The tenant's events, newest first.
pub fn list(
    conn: &mut DbConnection,
    tenant_id: i64,
    filter: &LogFilter,
    page: Page,
) -> QueryResult<(Vec<WebhookEvent>, i64)> {
    let query = || {
        let mut query = webhook_events::table
            .filter(webhook_events::tenant_id.eq(tenant_id))
            .into_boxed();
        if let Some(status) = filter.status {
            query = query.filter(webhook_events::status.eq(status));
        }
        if let Some(event_type) = &filter.event_type {
            query = query.filter(webhook_events::event_type.eq(event_type.clone()));
        }
        query
    };
    let total = query().count().get_result(conn)?;
    let rows = query()
        .select(WebhookEvent::as_select())
        .order(webhook_events::id.desc())
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}

/// The tenant's event with this public id.
pub fn find(
    conn: &mut DbConnection,
    tenant_id: i64,
    public_id: &str,
) -> QueryResult<Option<WebhookEvent>> {
    webhook_events::table
        .filter(webhook_events::tenant_id.eq(tenant_id))
        .filter(webhook_events::public_id.eq(public_id))
        .select(WebhookEvent::as_select())
        .first(conn)
        .optional()
}

/// Makes the event due now again, with `more_attempts` attempts beyond those made.
pub fn replay(
    conn: &mut DbConnection,
    id: i64,
    more_attempts: i32,
    now: NaiveDateTime,
) -> QueryResult<Option<WebhookEvent>> {
    on_backend!(conn, |c| diesel::update(webhook_events::table.find(id))
        .set((
            webhook_events::status.eq(DeliveryStatus::Pending),
            webhook_events::max_attempts.eq(webhook_events::attempts + more_attempts),
            webhook_events::next_attempt_at.eq(Some(now)),
            webhook_events::updated_at.eq(now),
        ))
        .returning(WebhookEvent::as_returning())
        .get_result(c)
        .optional())
}

/// Deletes at most `limit` events that are delivered or failed and last changed before
/// `settled_before`; answers how many it deleted. Pending events are never deleted, even
/// one replayed between the choice of the rows and their deletion.
pub fn prune_settled(
    conn: &mut DbConnection,
    settled_before: NaiveDateTime,
    limit: i64,
) -> QueryResult<usize> {
    let oldest: Vec<i64> = webhook_events::table
        .filter(webhook_events::status.eq_any(DeliveryStatus::SETTLED))
        .filter(webhook_events::updated_at.lt(settled_before))
        .select(webhook_events::id)
        .limit(limit)
        .load(conn)?;
    if oldest.is_empty() {
        return Ok(0);
    }
    diesel::delete(
        webhook_events::table
            .filter(webhook_events::id.eq_any(oldest))
            .filter(webhook_events::status.eq_any(DeliveryStatus::SETTLED))
            .filter(webhook_events::updated_at.lt(settled_before)),
    )
    .execute(conn)
}

/// How many events there are in each delivery status.
pub fn count_by_status(conn: &mut DbConnection) -> QueryResult<Vec<(DeliveryStatus, i64)>> {
    webhook_events::table
        .group_by(webhook_events::status)
        .select((webhook_events::status, diesel::dsl::count_star()))
        .load(conn)
}
