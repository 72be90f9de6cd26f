//! Failed logins per email, kept in the database so the limit holds across processes.

use chrono::{Duration, NaiveDateTime};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{Integer, Timestamp};

use super::schema::login_throttle;
use super::DbConnection;
use crate::on_backend;

/// Failures allowed within one window before the email is locked until the window ends.
pub const MAX_FAILURES: i32 = 5;
pub const WINDOW: Duration = Duration::minutes(15);

/// When the email is locked, the moment the lock ends.
pub fn locked_until(
    conn: &mut DbConnection,
    email: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<NaiveDateTime>> {
    let until: Option<Option<NaiveDateTime>> = login_throttle::table
        .find(email)
        .select(login_throttle::locked_until)
        .first(conn)
        .optional()?;
    Ok(until.flatten().filter(|until| *until > now))
}

/// Counts one failure with single-row updates, so concurrent failures are all counted;
/// a new window starts when the previous one is over.
pub fn record_failure(conn: &mut DbConnection, email: &str, now: NaiveDateTime) -> QueryResult<()> {
    use login_throttle::columns;

    let first = (
        columns::email.eq(email),
        columns::failures.eq(0),
        columns::window_started_at.eq(now),
    );
    on_backend!(conn, |c| diesel::insert_into(login_throttle::table)
        .values(first)
        .on_conflict_do_nothing()
        .execute(c))?;

    let window_over = columns::window_started_at.le(now - WINDOW);
    diesel::update(login_throttle::table.find(email))
        .set((
            columns::failures
                .eq(case_when(window_over, 1.into_sql::<Integer>())
                    .otherwise(columns::failures + 1)),
            columns::window_started_at.eq(case_when(window_over, now.into_sql::<Timestamp>())
                .otherwise(columns::window_started_at)),
        ))
        .execute(conn)?;
    diesel::update(
        login_throttle::table
            .find(email)
            .filter(columns::failures.ge(MAX_FAILURES)),
    )
    .set(columns::locked_until.eq(now + WINDOW))
    .execute(conn)?;
    Ok(())
}

pub fn clear(conn: &mut DbConnection, email: &str) -> QueryResult<usize> {
    diesel::delete(login_throttle::table.find(email)).execute(conn)
}
