//! Failed logins counted per bucket (a client network, an account, or an account from
//! one network; also refused attempts), kept in the database so the limits hold across
//! processes.

use chrono::{Duration, NaiveDateTime};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Timestamp};

use super::schema::login_failures::{self, columns};
use super::DbConnection;
use crate::on_backend;

/// A bucket's failures within its current window, and when that window started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failures {
    pub bucket: String,
    pub failures: i32,
    pub window_started_at: NaiveDateTime,
}

/// The buckets among `buckets` whose window is still open at `now`.
pub fn current(
    conn: &mut DbConnection,
    buckets: &[String],
    now: NaiveDateTime,
    window: Duration,
) -> QueryResult<Vec<Failures>> {
    login_failures::table
        .filter(columns::bucket.eq_any(buckets))
        .filter(columns::window_started_at.gt(now - window))
        .select((
            columns::bucket,
            columns::failures,
            columns::window_started_at,
        ))
        .load::<(String, i32, NaiveDateTime)>(conn)
        .map(|rows| {
            rows.into_iter()
                .map(|(bucket, failures, window_started_at)| Failures {
                    bucket,
                    failures,
                    window_started_at,
                })
                .collect()
        })
}

/// Counts one failure in each bucket with single-row updates, so concurrent failures
/// are all counted; a bucket whose window is over starts a new one.
pub fn record(
    conn: &mut DbConnection,
    buckets: &[String],
    now: NaiveDateTime,
    window: Duration,
) -> QueryResult<()> {
    for bucket in buckets {
        count(conn, bucket, now, window)?;
    }
    Ok(())
}

/// Counts one event in `bucket` and returns its count in the current window: 1 for the
/// first (also after the last window ended). Concurrent callers each get their own count.
pub fn count(
    conn: &mut DbConnection,
    bucket: &str,
    now: NaiveDateTime,
    window: Duration,
) -> QueryResult<i32> {
    let first = (
        columns::bucket.eq(bucket),
        columns::failures.eq(0),
        columns::window_started_at.eq(now),
    );
    on_backend!(conn, |c| diesel::insert_into(login_failures::table)
        .values(first)
        .on_conflict_do_nothing()
        .execute(c))?;
    let window_over = columns::window_started_at.le(now - window);
    on_backend!(conn, |c| diesel::update(login_failures::table.find(bucket))
        .set((
            columns::failures
                .eq(case_when(window_over, 1.into_sql::<Integer>())
                    .otherwise(columns::failures + 1)),
            columns::window_started_at.eq(case_when(window_over, now.into_sql::<Timestamp>())
                .otherwise(columns::window_started_at)),
        ))
        .returning(columns::failures)
        .get_result(c))
}

/// Forgets buckets whose window is over, so rows for networks and unknown emails
/// never pile up.
pub fn forget_expired(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    window: Duration,
) -> QueryResult<usize> {
    diesel::delete(login_failures::table.filter(columns::window_started_at.le(now - window)))
        .execute(conn)
}

pub fn clear(conn: &mut DbConnection, bucket: &str) -> QueryResult<usize> {
    diesel::delete(login_failures::table.find(bucket)).execute(conn)
}
