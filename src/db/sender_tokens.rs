use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{sender_tokens, tenants};
use super::tenants::Tenant;
use super::{DbConnection, Page};
use crate::on_backend;

/// A campaign-sender credential. Only the SHA-256 of the token is stored.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = sender_tokens)]
pub struct SenderToken {
    pub id: i64,
    pub tenant_id: i64,
    pub name: String,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = sender_tokens)]
pub struct NewSenderToken {
    pub tenant_id: i64,
    pub name: String,
    pub token_hash: String,
    pub expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, new: &NewSenderToken) -> QueryResult<SenderToken> {
    on_backend!(conn, |c| diesel::insert_into(sender_tokens::table)
        .values(new)
        .returning(SenderToken::as_returning())
        .get_result(c))
}

pub fn list(
    conn: &mut DbConnection,
    tenant_id: i64,
    page: Page,
) -> QueryResult<(Vec<SenderToken>, i64)> {
    let of_tenant = sender_tokens::table.filter(sender_tokens::tenant_id.eq(tenant_id));
    let total = of_tenant.count().get_result(conn)?;
    let rows = of_tenant
        .select(SenderToken::as_select())
        .order(sender_tokens::id.asc())
        .limit(page.per_page)
        .offset(page.offset())
        .load(conn)?;
    Ok((rows, total))
}

/// Revokes a token: it is deleted, so the next request that presents it fails. Answers
/// the token as it was, or `None` when the tenant has no such token.
pub fn delete(
    conn: &mut DbConnection,
    tenant_id: i64,
    id: i64,
) -> QueryResult<Option<SenderToken>> {
    on_backend!(conn, |c| diesel::delete(
        sender_tokens::table
            .filter(sender_tokens::tenant_id.eq(tenant_id))
            .filter(sender_tokens::id.eq(id)),
    )
    .returning(SenderToken::as_returning())
    .get_result(c)
    .optional())
}

/// The token with this hash, with its tenant, if it exists and has not expired at `now`.
/// The live tokens among `hashes` with their tenants, by hash (one query for a batch of
/// claims). A token that expired at `now` is left out.
pub fn authenticate_many(
    conn: &mut DbConnection,
    hashes: &[&str],
    now: NaiveDateTime,
) -> QueryResult<std::collections::HashMap<String, (SenderToken, Tenant)>> {
    let found: Vec<(String, SenderToken, Tenant)> = sender_tokens::table
        .inner_join(tenants::table)
        .filter(sender_tokens::token_hash.eq_any(hashes))
        .filter(
            sender_tokens::expires_at
                .is_null()
                .or(sender_tokens::expires_at.gt(now)),
        )
        .select((
            sender_tokens::token_hash,
            SenderToken::as_select(),
            Tenant::as_select(),
        ))
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|(hash, token, tenant)| (hash, (token, tenant)))
        .collect())
}

pub fn authenticate(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<(SenderToken, Tenant)>> {
    sender_tokens::table
        .inner_join(tenants::table)
        .filter(sender_tokens::token_hash.eq(token_hash))
        .filter(
            sender_tokens::expires_at
                .is_null()
                .or(sender_tokens::expires_at.gt(now)),
        )
        .select((SenderToken::as_select(), Tenant::as_select()))
        .first(conn)
        .optional()
}
