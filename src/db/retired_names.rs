//! Instance names of deleted tenants that may still hold a live session on Evolution
//! (SPEC §4: a live session never changes tenants silently).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::retired_instance_names as retired;
use super::DbConnection;
use crate::on_backend;

/// Marks `name` on `server_id` as a deleted tenant's.
pub fn retire(
    conn: &mut DbConnection,
    server_id: i64,
    name: &str,
    former_tenant_id: i64,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let row = (
        retired::evolution_server_id.eq(server_id),
        retired::instance_name.eq(name),
        retired::former_tenant_id.eq(former_tenant_id),
        retired::retired_at.eq(now),
    );
    on_backend!(conn, |c| diesel::insert_into(retired::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// Frees the name: Evolution deleted it, or an admin adopted it.
pub fn release(conn: &mut DbConnection, server_id: i64, name: &str) -> QueryResult<usize> {
    diesel::delete(retired::table.find((server_id, name))).execute(conn)
}

pub fn is_retired(conn: &mut DbConnection, server_id: i64, name: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(retired::table.find((server_id, name)))).get_result(conn)
}
