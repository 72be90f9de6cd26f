//! The audit trail of super admins' changes and logins: appended in the transaction of each
//! change, read newest first. The table has no foreign keys, so rows outlive what they name.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{audit_log, users};
use super::{DbBackend, DbConnection, Page};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = audit_log)]
pub struct AuditEntry {
    pub id: i64,
    pub actor_id: i64,
    pub actor_email: String,
    pub action: String,
    pub target_type: String,
    pub target_id: i64,
    pub tenant_id: Option<i64>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub request_id: String,
    pub client_request_id: Option<String>,
    pub created_at: NaiveDateTime,
}

/// A row to append. The actor's email is read from `users` by [`append`], in the same
/// transaction, so it stays on the row after the user is deleted.
pub struct NewAuditEntry<'a> {
    pub actor_id: i64,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: i64,
    pub tenant_id: Option<i64>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub request_id: &'a str,
    pub client_request_id: Option<&'a str>,
    pub created_at: NaiveDateTime,
}

/// The user a change would be recorded for no longer exists.
#[derive(Debug)]
pub struct ActorGone;

impl ActorGone {
    pub fn error() -> diesel::result::Error {
        diesel::result::Error::QueryBuilderError(Box::new(ActorGone))
    }

    pub fn is(error: &diesel::result::Error) -> bool {
        matches!(error, diesel::result::Error::QueryBuilderError(inner) if inner.is::<ActorGone>())
    }
}

impl std::fmt::Display for ActorGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the acting user no longer exists")
    }
}

impl std::error::Error for ActorGone {}

/// Appends one row. Run it inside the transaction of the change it records: if the
/// change rolls back, so does the row, and a row that cannot be written undoes the change.
/// An actor that no longer exists (deleted while its request ran) is [`ActorGone`]:
/// nothing is changed in its name.
pub fn append(conn: &mut DbConnection, entry: &NewAuditEntry) -> QueryResult<()> {
    let actor_email: String = users::table
        .find(entry.actor_id)
        .select(users::email)
        .first(conn)
        .optional()?
        .ok_or_else(ActorGone::error)?;
    diesel::insert_into(audit_log::table)
        .values((
            audit_log::actor_id.eq(entry.actor_id),
            audit_log::actor_email.eq(actor_email),
            audit_log::action.eq(entry.action),
            audit_log::target_type.eq(entry.target_type),
            audit_log::target_id.eq(entry.target_id),
            audit_log::tenant_id.eq(entry.tenant_id),
            audit_log::before_json.eq(entry.before_json.as_deref()),
            audit_log::after_json.eq(entry.after_json.as_deref()),
            audit_log::request_id.eq(entry.request_id),
            audit_log::client_request_id.eq(entry.client_request_id),
            audit_log::created_at.eq(entry.created_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// What `GET /api/v1/audit-log` narrows the trail to; `from` and `to` are inclusive.
#[derive(Default, Clone, Debug)]
pub struct AuditFilter {
    pub actor_id: Option<i64>,
    pub tenant_id: Option<i64>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<i64>,
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
}

fn filtered(filter: &AuditFilter) -> audit_log::BoxedQuery<'static, DbBackend> {
    let mut query = audit_log::table.into_boxed();
    if let Some(actor_id) = filter.actor_id {
        query = query.filter(audit_log::actor_id.eq(actor_id));
    }
    if let Some(tenant_id) = filter.tenant_id {
        query = query.filter(audit_log::tenant_id.eq(tenant_id));
    }
    if let Some(action) = &filter.action {
        query = query.filter(audit_log::action.eq(action.clone()));
    }
    if let Some(target_type) = &filter.target_type {
        query = query.filter(audit_log::target_type.eq(target_type.clone()));
    }
    if let Some(target_id) = filter.target_id {
        query = query.filter(audit_log::target_id.eq(target_id));
    }
    if let Some(from) = filter.from {
        query = query.filter(audit_log::created_at.ge(from));
    }
    if let Some(to) = filter.to {
        query = query.filter(audit_log::created_at.le(to));
    }
    query
}

/// One page of the rows `filter` selects, newest first, and how many it selects in all.
pub fn list(
    conn: &mut DbConnection,
    filter: &AuditFilter,
    page: Page,
) -> QueryResult<(Vec<AuditEntry>, i64)> {
    let total = filtered(filter).count().get_result(conn)?;
    let rows = filtered(filter)
        .select(AuditEntry::as_select())
        .order((audit_log::created_at.desc(), audit_log::id.desc()))
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}
