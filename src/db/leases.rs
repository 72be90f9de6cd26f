//! Named leases: a row says who holds a piece of work and until when. Taking one is a
//! single upsert that succeeds only when the lease is free, expired or already ours, so
//! exactly one process holds it at a time; a holder that crashed loses it at expiry.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::upsert::excluded;

use super::schema::leases;
use super::DbConnection;
use crate::on_backend;

/// Takes (or renews) `name` for `holder` until `now + ttl`; answers whether it is ours.
pub fn try_acquire(
    conn: &mut DbConnection,
    name: &str,
    holder: &str,
    now: NaiveDateTime,
    ttl: Duration,
) -> QueryResult<bool> {
    let row = (
        leases::name.eq(name),
        leases::holder.eq(holder),
        leases::expires_at.eq(now + ttl),
    );
    let taken = on_backend!(conn, |c| diesel::insert_into(leases::table)
        .values(row)
        .on_conflict(leases::name)
        .do_update()
        .set((
            leases::holder.eq(excluded(leases::holder)),
            leases::expires_at.eq(excluded(leases::expires_at)),
        ))
        .filter(
            leases::expires_at
                .le(now)
                .or(leases::holder.eq(holder)),
        )
        .execute(c))?;
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
