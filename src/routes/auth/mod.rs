pub mod login;
pub mod me;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::users::User;

#[derive(Serialize, ToSchema)]
pub struct AuthUserResource {
    pub id: i64,
    #[schema(example = "admin@relevo.local")]
    pub email: String,
    #[schema(example = "super_admin")]
    pub role: String,
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
