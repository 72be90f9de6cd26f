//! The audit trail (SPEC section 9): what super admins changed, and their logins, read by
//! super admins.

pub mod list;

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::audit::{ACTION_KEYS, TARGET_TYPES};
use crate::db::audit_log::AuditEntry;
use crate::domain::Timestamp;
use crate::error::ApiError;

/// One change a super admin made through the API, or a login to a super admin's account
/// (`auth.*`, whose actor and target are that account).
#[derive(Serialize, ToSchema)]
#[schema(as = AuditEntry)]
pub struct AuditLogEntry {
    #[schema(example = 42)]
    pub id: i64,
    /// The user who made the change; the row keeps it after the user is deleted.
    #[schema(example = 1)]
    pub actor_id: i64,
    /// The actor's email when the change was made.
    #[schema(example = "admin@relevo.local")]
    pub actor_email: String,
    #[schema(value_type = AuditAction)]
    pub action: String,
    #[schema(value_type = AuditTargetType)]
    pub target_type: String,
    #[schema(example = 7)]
    pub target_id: i64,
    /// The tenant the target belongs to, if any.
    #[schema(required = true, example = 5)]
    pub tenant_id: Option<i64>,
    /// The target before the change, in its public form (never a key, token, hash or
    /// encrypted value); `null` for a creation.
    #[schema(required = true, value_type = Option<Object>)]
    pub before: Option<Value>,
    /// The target after the change, in its public form; `null` for a deletion, except a
    /// tenant's (`{"force": ...}`) and a forced instance deletion that Evolution refused.
    /// For a login, the attempt: `{"client_address"}`, and `retry_after` (seconds) when it
    /// was refused.
    #[schema(required = true, value_type = Option<Object>)]
    pub after: Option<Value>,
    /// Relevo's id of the request that made the change: the `X-Request-Id` of its answer.
    #[schema(example = "3f2b8c4e-8d1a-4c55-9a43-3c1f0a4b6e21")]
    pub request_id: String,
    /// The caller's own `X-Request-Id`, kept when it was 1 to 128 characters of
    /// `A-Z a-z 0-9 . _ : -`; `null` when there was none or it was dropped.
    #[schema(required = true, value_type = Option<String>, pattern = r"^[A-Za-z0-9._:-]{1,128}$", example = "campaign-42-step-7")]
    pub client_request_id: Option<String>,
    /// When Relevo made the change.
    pub created_at: Timestamp,
}

impl TryFrom<AuditEntry> for AuditLogEntry {
    type Error = ApiError;

    fn try_from(entry: AuditEntry) -> Result<Self, ApiError> {
        let parse = |json: Option<String>| -> Result<Option<Value>, ApiError> {
            json.map(|text| serde_json::from_str(&text).map_err(ApiError::internal))
                .transpose()
        };
        Ok(Self {
            id: entry.id,
            actor_id: entry.actor_id,
            actor_email: entry.actor_email,
            action: entry.action,
            target_type: entry.target_type,
            target_id: entry.target_id,
            tenant_id: entry.tenant_id,
            before: parse(entry.before_json)?,
            after: parse(entry.after_json)?,
            request_id: entry.request_id,
            client_request_id: entry.client_request_id,
            created_at: entry.created_at.into(),
        })
    }
}

/// The schema of an audit action key ([`ACTION_KEYS`]): `<target type>.<verb>`.
pub struct AuditAction;

/// The schema of the type of an audit entry's target ([`TARGET_TYPES`]).
pub struct AuditTargetType;

/// A string naming one of `values`.
fn string_enum(values: &[&str], description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .examples([example])
        .into()
}

impl PartialSchema for AuditAction {
    fn schema() -> RefOr<Schema> {
        string_enum(
            ACTION_KEYS,
            "What was done: `<target type>.<verb>`, or `auth.<verb>` for a login to a super \
             admin's account (whose target type is `user`).",
            "instance.updated",
        )
    }
}

impl ToSchema for AuditAction {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AuditAction")
    }
}

impl PartialSchema for AuditTargetType {
    fn schema() -> RefOr<Schema> {
        string_enum(TARGET_TYPES, "What kind of thing was changed.", "instance")
    }
}

impl ToSchema for AuditTargetType {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AuditTargetType")
    }
}
