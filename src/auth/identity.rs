//! Who a request acts for, once its credential is checked: the types the extractors
//! ([`super::extractors`]) find, which services and the audit trail name. Nothing here
//! reads a request.

use crate::db::{users, DbConnection};
use crate::domain::Role;
use crate::error::ApiError;

use super::jwt::Claims;

/// Whoever presented a valid bearer token whose user still stands as the token says.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user_id: i64,
    pub role: Role,
    pub tenant_id: Option<i64>,
}

impl AuthUser {
    pub fn is_super_admin(&self) -> bool {
        self.role == Role::SuperAdmin
    }

    /// May this principal see `tenant_id` at all? Others' tenants are answered as missing.
    pub fn can_see_tenant(&self, tenant_id: i64) -> bool {
        self.is_super_admin() || self.tenant_id == Some(tenant_id)
    }
}

/// A user's token whose signature and expiry are good, not yet checked against the
/// user's row.
#[derive(Clone, Debug)]
pub struct UserToken {
    user_id: i64,
    role: Role,
    tenant_id: Option<i64>,
    token_version: i32,
}

impl UserToken {
    /// The user the token was issued to (as it claims; [`confirm`](Self::confirm) checks).
    pub fn user_id(&self) -> i64 {
        self.user_id
    }

    /// The token's user, when its row still exists with the token's role, tenant and
    /// version: one lookup by primary key, on the caller's connection.
    pub fn confirm(&self, conn: &mut DbConnection) -> Result<AuthUser, ApiError> {
        let standing = users::find_standing(conn, self.user_id)?;
        match standing {
            Some(user)
                if user.token_version == self.token_version
                    && user.role == self.role.as_str()
                    && user.tenant_id == self.tenant_id =>
            {
                Ok(AuthUser {
                    user_id: self.user_id,
                    role: self.role,
                    tenant_id: self.tenant_id,
                })
            }
            _ => Err(ApiError::unauthenticated()),
        }
    }
}

impl UserToken {
    /// The user a verified token's claims name; `None` when they do not read as one.
    pub fn from_claims(claims: &Claims) -> Option<Self> {
        Some(UserToken {
            user_id: claims.sub.parse().ok()?,
            role: Role::parse(&claims.role).ok()?,
            tenant_id: claims.tenant_id,
            token_version: claims.ver,
        })
    }
}

/// Whoever may call the sender endpoints: a campaign-sender token or a user's token.
/// Both are checked against the database by the handler, on the connection it claims
/// with, so revocation and deletion take effect on the very next request.
#[derive(Clone, Debug)]
pub enum SenderCaller {
    Token { token_hash: String },
    User(UserToken),
}
