//! Authentication as extractors: a handler that names `SuperAdmin` in its signature
//! cannot run for anyone else. A token is only as good as its user: every request
//! checks the user's row (exists, role, tenant, token version) in the database. The
//! types found ([`AuthUser`], [`SenderCaller`]) live in [`super::identity`], below the
//! state, so that services and the audit trail can name them.

use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv4Addr};

use actix_web::{dev::Payload, http::header::AUTHORIZATION, web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;

use super::client_address::{client_address, ClientAddress};
use super::identity::{AuthUser, SenderCaller, UserToken};
use super::sender::{hash_token, is_sender_token};
use crate::db::sender_tokens;
use crate::error::{ApiError, Resource};
use crate::state::AppState;

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
    UserToken::from_claims(&claims).ok_or_else(ApiError::unauthenticated)
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

impl FromRequest for SenderCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(bearer_token(req).and_then(|token| {
            if is_sender_token(token) {
                Ok(SenderCaller::Token {
                    token_hash: hash_token(token),
                })
            } else {
                verify_user_token(&*app_state(req)?, token).map(SenderCaller::User)
            }
        }))
    }
}

/// The TCP peer, or the client a trusted proxy names (see [`super::client_address`]).
impl FromRequest for ClientAddress {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |addr| addr.ip());
        let trusted = req
            .app_data::<web::Data<AppState>>()
            .map(|state| state.settings.trusted_proxies.as_slice())
            .unwrap_or_default();
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok());
        ready(Ok(ClientAddress(client_address(peer, forwarded, trusted))))
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
