//! Users of the REST API, created by super admins.

pub mod create;
pub mod delete;
pub mod list;
pub mod show;
pub mod update;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::users::User;
use crate::routes::wire::Timestamp;

#[derive(Serialize, ToSchema)]
pub struct UserResource {
    pub id: i64,
    #[schema(example = "admin@relevo.local")]
    pub email: String,
    /// `super_admin` or `tenant_user`.
    #[schema(example = "tenant_user")]
    pub role: String,
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
