//! Campaign-sender tokens, issued per tenant by super admins (SPEC section 3).

pub mod create;
pub mod delete;
pub mod list;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::sender_tokens::SenderToken;
use crate::domain::Timestamp;

/// A sender token as listed: never the token itself.
#[derive(Serialize, ToSchema)]
#[schema(as = SenderToken)]
pub struct SenderTokenResource {
    #[schema(example = 3)]
    pub id: i64,
    #[schema(example = 5)]
    pub tenant_id: i64,
    #[schema(example = "campaign-worker")]
    pub name: String,
    /// `null` when the token does not expire.
    #[schema(required = true)]
    pub expires_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

impl From<&SenderToken> for SenderTokenResource {
    fn from(token: &SenderToken) -> Self {
        Self {
            id: token.id,
            tenant_id: token.tenant_id,
            name: token.name.clone(),
            expires_at: token.expires_at.map(Timestamp),
            created_at: token.created_at.into(),
        }
    }
}

/// A sender token as the audit log keeps it: its listed form (never the token or its
/// digest).
pub fn audit_snapshot(token: &SenderToken) -> diesel::QueryResult<serde_json::Value> {
    crate::audit::snapshot(&SenderTokenResource::from(token))
}
