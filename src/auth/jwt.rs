//! HS256 access tokens. Expiry and issue time are checked against Relevo's clock, not
//! the system's, so tests that move time also move token expiry.

use chrono::{DateTime, Utc};
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Claims {
    pub sub: String,
    pub role: String,
    pub tenant_id: Option<i64>,
    /// The user's `token_version` when the token was issued; a token of an older
    /// version (the password, role or tenant changed since) is refused.
    #[serde(default)]
    pub ver: i32,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Whom a token is issued to.
pub struct TokenSubject<'a> {
    pub id: i64,
    pub role: &'a str,
    pub tenant_id: Option<i64>,
    pub token_version: i32,
}

/// How far a token's `iat` may be ahead of Relevo's clock (processes whose clocks
/// differ a little); a token issued later than that is refused.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 60;

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    pub ttl_seconds: i64,
}

impl JwtKeys {
    pub fn new(secret: &str, ttl_seconds: i64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            ttl_seconds,
        }
    }

    #[allow(
        clippy::expect_used,
        reason = "HS256 signs claims of plain fields with an in-memory key: it cannot fail"
    )]
    pub fn issue(&self, user: &TokenSubject, now: DateTime<Utc>) -> String {
        let claims = Claims {
            sub: user.id.to_string(),
            role: user.role.to_string(),
            tenant_id: user.tenant_id,
            ver: user.token_version,
            iat: now.timestamp(),
            exp: now.timestamp() + self.ttl_seconds,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing with an in-memory key cannot fail")
    }

    /// The claims of a token signed by us that has not expired at `now` and was not
    /// issued after `now` (beyond [`MAX_CLOCK_SKEW_SECONDS`]).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .ok()?
            .claims;
        let now = now.timestamp();
        let current = claims.exp > now && claims.iat <= now + MAX_CLOCK_SKEW_SECONDS;
        current.then_some(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn tokens_expire_on_relevo_time_and_reject_other_keys() {
        let keys = JwtKeys::new("a-secret-of-at-least-thirty-two-bytes!", 60);
        let now = Utc::now();
        let subject = TokenSubject {
            id: 7,
            role: "super_admin",
            tenant_id: None,
            token_version: 3,
        };
        let token = keys.issue(&subject, now);
        let claims = keys.verify(&token, now).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role.as_str(), claims.ver),
            ("7", "super_admin", 3)
        );
        assert!(keys.verify(&token, now + Duration::seconds(61)).is_none());
        let other = JwtKeys::new("another-secret-of-at-least-thirty-two!", 60);
        assert!(other.verify(&token, now).is_none());
    }

    #[test]
    fn tokens_issued_in_the_future_are_refused_beyond_the_skew() {
        let keys = JwtKeys::new("a-secret-of-at-least-thirty-two-bytes!", 3600);
        let issued = Utc::now();
        let subject = TokenSubject {
            id: 7,
            role: "super_admin",
            tenant_id: None,
            token_version: 0,
        };
        let token = keys.issue(&subject, issued);
        let skew = Duration::seconds(MAX_CLOCK_SKEW_SECONDS);
        assert!(keys.verify(&token, issued - skew).is_some());
        assert!(keys
            .verify(&token, issued - skew - Duration::seconds(1))
            .is_none());
    }
}
