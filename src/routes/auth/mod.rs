pub mod login;
pub mod me;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::users::User;
use crate::domain::Role;

/// The user a token belongs to.
#[derive(Serialize, ToSchema)]
#[schema(as = AuthUser)]
pub struct AuthUserResource {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "admin@relevo.local")]
    pub email: String,
    #[schema(value_type = Role)]
    pub role: String,
    /// The tenant of a `tenant_user`; `null` for a `super_admin`.
    #[schema(required = true, example = json!(null))]
    pub tenant_id: Option<i64>,
}

impl From<&User> for AuthUserResource {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            role: user.role.clone(),
            tenant_id: user.tenant_id,
        }
    }
}
