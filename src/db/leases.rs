//! Named leases: a row says who holds a piece of work and until when. Taking one is a
//! single upsert that succeeds only when the lease is free, expired or already ours, so
//! exactly one process holds it at a time; a holder that crashed loses it at expiry.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::schema::leases;
use super::DbConnection;

/// Takes (or renews) `name` for `holder` until `now + ttl`; answers whether it is ours.
pub fn try_acquire(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> QueryResult<bool> {
    use diesel::sql_types::{Text, Timestamp};
    let taken = diesel::sql_query(
        "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
         WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(holder)
    .bind::<Timestamp, _>(now + ttl)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    Ok(taken == 1)
}

/// Gives `name` up, if `holder` still holds it.
pub fn release(conn: &mut DbConnection, name: &str, holder: &str) -> QueryResult<()> {
    diesel::delete(
        leases::table
            .filter(leases::name.eq(name))
            .filter(leases::holder.eq(holder)),
    )
    .execute(conn)?;
    Ok(())
}
