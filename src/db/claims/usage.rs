//! The daily totals of the send log (`instance_daily_usage`): what every claim and release
//! adds, and what statistics history and messaging credits read.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::reused::{Reused, Value};
use crate::db::schema::instance_daily_usage;
use crate::db::DbConnection;
use crate::on_backend;

/// Adds to the daily totals of `(instance_id, tenant_id)`.
pub(super) fn add_daily_usage(
    conn: &mut DbConnection,
    (instance_id, tenant_id): (i64, i64),
    date: NaiveDate,
    granted: i32,
    released: i32,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let add = Reused::new(
        "INSERT INTO instance_daily_usage \
         (instance_id, usage_date, tenant_id, granted, released, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (instance_id, usage_date) DO UPDATE \
         SET granted = instance_daily_usage.granted + $4, \
             released = instance_daily_usage.released + $5, updated_at = $6",
        vec![
            Value::BigInt(instance_id),
            Value::Date(date),
            Value::BigInt(tenant_id),
            Value::Integer(granted),
            Value::Integer(released),
            Value::Timestamp(now),
        ],
    );
    on_backend!(conn, |c| add.execute(c))
}

/// One day of an instance's (or a tenant's) log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DayTotals {
    pub date: NaiveDate,
    pub granted: i64,
    pub released: i64,
}

/// Per-day totals from `since` on, for one instance or, with `instance_id` `None`,
/// for the whole tenant. Days without claims are absent.
pub fn daily_totals(
    conn: &mut DbConnection,
    tenant_id: i64,
    instance_id: Option<i64>,
    since: NaiveDate,
) -> QueryResult<Vec<DayTotals>> {
    use diesel::dsl::sum;
    use instance_daily_usage as usage;
    let mut query = usage::table
        .filter(usage::tenant_id.eq(tenant_id))
        .filter(usage::usage_date.ge(since))
        .group_by(usage::usage_date)
        .select((usage::usage_date, sum(usage::granted), sum(usage::released)))
        .order(usage::usage_date.asc())
        .into_boxed();
    if let Some(id) = instance_id {
        query = query.filter(usage::instance_id.eq(id));
    }
    let rows: Vec<(NaiveDate, Option<i64>, Option<i64>)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(date, granted, released)| DayTotals {
            date,
            granted: granted.unwrap_or(0),
            released: released.unwrap_or(0),
        })
        .collect())
}

/// WhatsApp messages a tenant has used so far (granted minus released, all days) and
/// when its log last changed.
pub fn tenant_usage(
    conn: &mut DbConnection,
    tenant_id: i64,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    use diesel::dsl::{max, sum};
    use instance_daily_usage as usage;
    let (granted, released, last): (Option<i64>, Option<i64>, Option<NaiveDateTime>) = usage::table
        .filter(usage::tenant_id.eq(tenant_id))
        .select((
            sum(usage::granted),
            sum(usage::released),
            max(usage::updated_at),
        ))
        .first(conn)?;
    Ok((granted.unwrap_or(0) - released.unwrap_or(0), last))
}
