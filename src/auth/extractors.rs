//! Authentication as extractors: a handler that names `SuperAdmin` in its signature
//! cannot run for anyone else.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header::AUTHORIZATION, web, FromRequest, HttpRequest};

use super::sender::is_sender_token;
use crate::domain::Role;
use crate::error::ApiError;
use crate::startup::AppState;

/// Whoever presented a valid bearer token.
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

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

/// The credential of an `Authorization: Bearer …` header.
pub(super) fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(ApiError::unauthenticated)
}

pub(super) fn authenticate(req: &HttpRequest) -> Result<AuthUser, ApiError> {
    let token = bearer_token(req)?;
    // A campaign-sender token is a credential, but only for the sender endpoints.
    if is_sender_token(token) {
        return Err(ApiError::forbidden());
    }
    verify_user_token(req, token)
}

fn verify_user_token(req: &HttpRequest, token: &str) -> Result<AuthUser, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::internal("application state missing"))?;
    let claims = state
        .jwt
        .verify(token, state.clock.now())
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(AuthUser {
        user_id: claims
            .sub
            .parse()
            .map_err(|_| ApiError::unauthenticated())?,
        role: Role::parse(&claims.role).map_err(|_| ApiError::unauthenticated())?,
        tenant_id: claims.tenant_id,
    })
}

/// A super admin; anyone else authenticated gets 403.
#[derive(Clone, Debug)]
pub struct SuperAdmin(pub AuthUser);

impl FromRequest for SuperAdmin {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req).and_then(|user| {
            if user.is_super_admin() {
                Ok(SuperAdmin(user))
            } else {
                Err(ApiError::forbidden())
            }
        }))
    }
}

/// Whoever may call the sender endpoints: a campaign-sender token, which is checked
/// against the database by the handler (revocation takes effect at once), or a user.
#[derive(Clone, Debug)]
pub enum SenderCaller {
    Token { token_hash: String },
    User(AuthUser),
}

impl FromRequest for SenderCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(bearer_token(req).and_then(|token| {
            if is_sender_token(token) {
                Ok(SenderCaller::Token {
                    token_hash: super::sender::hash_token(token),
                })
            } else {
                verify_user_token(req, token).map(SenderCaller::User)
            }
        }))
    }
}
