//! Issuing and revoking a tenant's campaign-sender tokens. Only the token's digest is
//! stored: the token itself is shown once, in the answer that issues it.

use chrono::Duration;
use diesel::QueryResult;
use serde_json::Value;

use crate::audit::{Action, Auditor};
use crate::auth::sender::{generate_token, hash_token};
use crate::db::sender_tokens::{self, NewSenderToken, SenderToken};
use crate::error::ApiError;
use crate::state::AppState;

/// A new token's settings, parsed.
pub struct ValidNewSenderToken {
    pub name: String,
    /// `None`: it lasts until revoked.
    pub expires_in_days: Option<i64>,
}

/// A token issued: its row, and the token itself (shown once).
pub struct Issued {
    pub row: SenderToken,
    pub token: String,
}

pub enum RevokeOutcome {
    Revoked,
    NotFound,
}

/// How the audit log keeps a sender token (never the token or its digest).
pub type Snapshot = fn(&SenderToken) -> QueryResult<Value>;

/// Issues a token of tenant `tenant_id` with its audit row.
pub async fn create(
    state: &AppState,
    auditor: Auditor,
    tenant_id: i64,
    new: ValidNewSenderToken,
    snapshot: Snapshot,
) -> Result<Issued, ApiError> {
    let now = state.clock.now().naive_utc();
    let token = generate_token();
    let row = NewSenderToken {
        tenant_id,
        name: new.name,
        token_hash: hash_token(&token),
        expires_at: new.expires_in_days.map(|days| now + Duration::days(days)),
        created_at: now,
    };
    let issued = state
        .transaction(move |conn| {
            let issued = sender_tokens::insert(conn, &row)?;
            auditor.record(
                conn,
                Action::SenderTokenCreated,
                issued.id,
                Some(issued.tenant_id),
                None,
                Some(snapshot(&issued)?),
            )?;
            Ok(issued)
        })
        .await?;
    Ok(Issued { row: issued, token })
}

/// Revokes token `id` of tenant `tenant_id` with its audit row: its very next request
/// is refused.
pub async fn revoke(
    state: &AppState,
    auditor: Auditor,
    tenant_id: i64,
    id: i64,
    snapshot: Snapshot,
) -> Result<RevokeOutcome, ApiError> {
    state
        .transaction(move |conn| {
            let Some(token) = sender_tokens::delete(conn, tenant_id, id)? else {
                return Ok(RevokeOutcome::NotFound);
            };
            auditor.record(
                conn,
                Action::SenderTokenRevoked,
                token.id,
                Some(tenant_id),
                Some(snapshot(&token)?),
                None,
            )?;
            Ok(RevokeOutcome::Revoked)
        })
        .await
}
