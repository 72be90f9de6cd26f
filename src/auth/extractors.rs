//! Authentication as extractors: a handler that names `SuperAdmin` in its signature
//! cannot run for anyone else. A token is only as good as its user: every request
//! checks the user's row (exists, role, tenant, token version) in the database.

use std::future::{ready, Ready};

use actix_web::{dev::Payload, http::header::AUTHORIZATION, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::sender::{hash_token, is_sender_token};
use crate::db::{sender_tokens, users, DbConnection};
use crate::domain::Role;
use crate::error::{ApiError, Resource};
use crate::state::AppState;

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

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let checked = app_state(req).and_then(|state| {
            let token = bearer_token(req)?;
            if is_sender_token(token) {
                return Ok((Credential::Sender(hash_token(token)), state));
            }
            Ok((Credential::User(verify_user_token(&state, token)?), state))
        });
        Box::pin(async move {
            let (credential, state) = checked?;
            match credential {
                Credential::User(token) => state.db(move |conn| token.confirm(conn)).await,
                // A live campaign-sender token is a credential, but only for the sender
                // endpoints (403); anything else that looks like one is no credential (401).
                Credential::Sender(token_hash) => {
                    let now = state.clock.now().naive_utc();
                    let live = state
                        .db(move |conn| {
                            Ok(sender_tokens::authenticate(conn, &token_hash, now)?.is_some())
                        })
                        .await?;
                    Err(match live {
                        true => ApiError::forbidden(),
                        false => ApiError::unauthenticated(),
                    })
                }
            }
        })
    }
}

/// What an `Authorization: Bearer` header carries.
enum Credential {
    User(UserToken),
    /// The digest of what looks like a campaign-sender token.
    Sender(String),
}

fn app_state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("application state missing"))
}

/// The credential of an `Authorization: Bearer …` header.
fn bearer_token(req: &HttpRequest) -> Result<&str, ApiError> {
    req.headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .ok_or_else(ApiError::unauthenticated)
}

fn verify_user_token(state: &AppState, token: &str) -> Result<UserToken, ApiError> {
    let claims = state
        .jwt
        .verify(token, state.clock.now())
        .ok_or_else(ApiError::unauthenticated)?;
    Ok(UserToken {
        user_id: claims
            .sub
            .parse()
            .map_err(|_| ApiError::unauthenticated())?,
        role: Role::parse(&claims.role).map_err(|_| ApiError::unauthenticated())?,
        tenant_id: claims.tenant_id,
        token_version: claims.ver,
    })
}

/// A super admin; anyone else authenticated gets 403.
#[derive(Clone, Debug)]
pub struct SuperAdmin(pub AuthUser);

impl FromRequest for SuperAdmin {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move {
            let user = user.await?;
            if user.is_super_admin() {
                Ok(SuperAdmin(user))
            } else {
                Err(ApiError::forbidden())
            }
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
                verify_user_token(&*app_state(req)?, token).map(SenderCaller::User)
            }
        }))
    }
}

/// Whoever may scrape `GET /metrics`: anyone, unless `RELEVO_METRICS_TOKEN` is set, and
/// then only a request with `Authorization: Bearer <that token>` (else 401). With
/// `RELEVO_METRICS=off` nobody: the route is not there (404). Checking it reads no database.
#[derive(Clone, Copy, Debug)]
pub struct MetricsScraper;

impl FromRequest for MetricsScraper {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(app_state(req).and_then(|state| {
            if !state.settings.metrics {
                return Err(ApiError::not_found(Resource::Route));
            }
            match &state.settings.metrics_token {
                None => Ok(MetricsScraper),
                Some(expected) if same_secret(bearer_token(req)?, expected) => Ok(MetricsScraper),
                Some(_) => Err(ApiError::unauthenticated()),
            }
        }))
    }
}

/// Whether two secrets are equal, in a time that tells nothing about either: their SHA-256
/// digests (of one length whatever the secrets' lengths) compared in constant time.
fn same_secret(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let (given, expected) = (
        Sha256::digest(given.as_bytes()),
        Sha256::digest(expected.as_bytes()),
    );
    given.as_slice().ct_eq(expected.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::same_secret;

    #[test]
    fn a_secret_is_the_same_only_when_every_byte_is() {
        assert!(same_secret("scrape-me-0123456789", "scrape-me-0123456789"));
        for other in [
            "",
            "scrape-me-012345678",
            "scrape-me-0123456789 ",
            "Scrape-me-0123456789",
        ] {
            assert!(!same_secret(other, "scrape-me-0123456789"), "{other:?}");
        }
    }
}
