//! Each instance's own inbound webhook token, kept as a digest (SPEC §8). A new token is
//! first `pending` (accepted while Evolution is being told it), then `current` once
//! Evolution took it; the token it replaces stops at that moment.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{instance_webhook_tokens as tokens, whatsapp_instances};
use super::DbConnection;
use crate::on_backend;

/// Stores `digest` as the instance's pending token (replacing any earlier pending one).
pub fn stage(
    conn: &mut DbConnection,
    instance_id: i64,
    digest: &str,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let row = (
        tokens::instance_id.eq(instance_id),
        tokens::rotated_at.eq(now),
    );
    on_backend!(conn, |c| diesel::insert_into(tokens::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    diesel::update(tokens::table.find(instance_id))
        .set(tokens::pending_digest.eq(digest))
        .execute(conn)?;
    Ok(())
}

/// Makes the pending token `digest` the instance's token; `false` when it is no longer
/// the pending one (another rotation replaced it).
pub fn promote(
    conn: &mut DbConnection,
    instance_id: i64,
    digest: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    let promoted = diesel::update(
        tokens::table
            .find(instance_id)
            .filter(tokens::pending_digest.eq(digest)),
    )
    .set((
        tokens::token_digest.eq(digest),
        tokens::pending_digest.eq(None::<String>),
        tokens::rotated_at.eq(now),
    ))
    .execute(conn)?;
    Ok(promoted == 1)
}

/// Drops the pending token `digest` (Evolution did not take it).
pub fn discard(conn: &mut DbConnection, instance_id: i64, digest: &str) -> QueryResult<()> {
    diesel::update(
        tokens::table
            .find(instance_id)
            .filter(tokens::pending_digest.eq(digest)),
    )
    .set(tokens::pending_digest.eq(None::<String>))
    .execute(conn)?;
    Ok(())
}

/// The instance whose current or pending token has this digest.
pub fn instance_of(conn: &mut DbConnection, digest: &str) -> QueryResult<Option<i64>> {
    tokens::table
        .filter(
            tokens::token_digest
                .eq(digest)
                .or(tokens::pending_digest.eq(digest)),
        )
        .select(tokens::instance_id)
        .first(conn)
        .optional()
}

/// Whether the instance has a token of its own (then its server's shared token from
/// before per-instance tokens no longer speaks for it).
pub fn has_own(conn: &mut DbConnection, instance_id: i64) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        tokens::table
            .find(instance_id)
            .filter(tokens::token_digest.is_not_null()),
    ))
    .get_result(conn)
}

/// Instances of `server_id` without a token of their own, by id.
pub fn without_own_on_server(
    conn: &mut DbConnection,
    server_id: i64,
) -> QueryResult<Vec<(i64, String)>> {
    whatsapp_instances::table
        .filter(whatsapp_instances::evolution_server_id.eq(server_id))
        .filter(diesel::dsl::not(diesel::dsl::exists(
            tokens::table
                .filter(tokens::instance_id.eq(whatsapp_instances::id))
                .filter(tokens::token_digest.is_not_null()),
        )))
        .order(whatsapp_instances::id)
        .select((whatsapp_instances::id, whatsapp_instances::instance_name))
        .load(conn)
}
