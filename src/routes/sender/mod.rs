//! The campaign sender's endpoints (SPEC section 6): claim the next instance that may
//! still send today, and give back what could not be sent.

pub mod claim;
pub mod release;

use chrono::NaiveDateTime;

use crate::auth::SenderCaller;
use crate::db::tenants::{self, Tenant, TenantKey};
use crate::db::{sender_tokens, DbConnection};
use crate::error::{ApiError, Resource};

/// The tenant a sender call acts for, and the sender token that made it (`None` for a
/// super admin). `tenant_key` is the path's tenant; the tenant-implicit paths have none
/// and are for sender tokens only. Runs on the request's database connection so that
/// a revoked token fails on its very next use.
pub fn authorize(
    conn: &mut DbConnection,
    caller: &SenderCaller,
    tenant_key: Option<&str>,
    now: NaiveDateTime,
) -> Result<(Tenant, Option<i64>), ApiError> {
    match caller {
        SenderCaller::Token { token_hash } => {
            let (token, tenant) = sender_tokens::authenticate(conn, token_hash, now)?
                .ok_or_else(ApiError::unauthenticated)?;
            match tenant_key {
                Some(key) if !TenantKey::parse(key).names(&tenant) => {
                    Err(ApiError::not_found(Resource::Tenant))
                }
                _ => Ok((tenant, Some(token.id))),
            }
        }
        SenderCaller::User(token) => {
            let user = token.confirm(conn)?;
            let key = tenant_key.ok_or_else(ApiError::forbidden)?;
            let tenant = tenants::find(conn, &TenantKey::parse(key))?
                .filter(|tenant| user.can_see_tenant(tenant.id))
                .ok_or_else(|| ApiError::not_found(Resource::Tenant))?;
            if user.is_super_admin() {
                Ok((tenant, None))
            } else {
                Err(ApiError::forbidden())
            }
        }
    }
}
