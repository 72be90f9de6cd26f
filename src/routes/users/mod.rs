//! Users of the REST API, created by super admins.

pub mod create;
pub mod delete;
pub mod list;
pub mod show;
pub mod update;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::users::User;
use crate::domain::{parse_password, Email, Role, Timestamp};
use crate::error::FieldErrors;
use crate::input::Input;

/// A new password from a body's `password` field, exactly as sent and strong enough
/// (also against the user's `email`); `None` when absent or refused (then noted in `errors`).
fn new_password(input: &Input, email: Option<&Email>, errors: &mut FieldErrors) -> Option<String> {
    let raw = input.exact_string("password", errors)?;
    parse_password(&raw, email)
        .map_err(|msg| errors.add("password", msg))
        .ok()
}

/// A user of the REST API.
#[derive(Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserResource {
    #[schema(example = 2)]
    pub id: i64,
    /// Lowercased.
    #[schema(example = "ana@example.com")]
    pub email: String,
    #[schema(value_type = Role)]
    pub role: String,
    /// The tenant of a `tenant_user`; `null` for a `super_admin`.
    #[schema(required = true, example = 5)]
    pub tenant_id: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<&User> for UserResource {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            role: user.role.clone(),
            tenant_id: user.tenant_id,
            created_at: user.created_at.into(),
            updated_at: user.updated_at.into(),
        }
    }
}

/// A user as the audit log keeps it: its public form (never the password hash).
pub fn audit_snapshot(user: &User) -> diesel::QueryResult<serde_json::Value> {
    crate::audit::snapshot(&UserResource::from(user))
}
