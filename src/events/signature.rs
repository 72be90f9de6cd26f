//! `X-Relevo-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed with the
//! tenant's callback secret. A receiver recomputes it over the raw body it received and
//! compares in constant time; the timestamp lets it refuse old deliveries (replays).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"` with `secret`.
#[allow(clippy::expect_used, reason = "HMAC takes keys of any length")]
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex(&mac.finalize().into_bytes())
}

/// The header's value.
pub fn header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, body))
}

/// Whether `header` signs `body` with `secret`, at most `tolerance_secs` away from `now`.
pub fn verify(secret: &[u8], header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => signatures.push(value),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    if (now - timestamp).abs() > tolerance_secs {
        return false;
    }
    let expected = sign(secret, timestamp, body);
    signatures.iter().any(|given| {
        use subtle::ConstantTimeEq;
        bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
    })
}

/// A new callback secret: 32 random bytes, hex (64 characters).
pub fn generate_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("whsec_{}", hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_an_independent_hmac_sha256() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        // Here the data is "<t>.<body>", so split it as t="what do ya want for nothing?"
        // cannot work; check the construction against a known value instead.
        let mut mac = HmacSha256::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let signed = sign(b"secret", 1700000000, br#"{"a":1}"#);
        let mut mac = HmacSha256::new_from_slice(b"secret").unwrap();
        mac.update(br#"1700000000.{"a":1}"#);
        assert_eq!(signed, hex(&mac.finalize().into_bytes()));
    }

    #[test]
    fn verification_checks_body_secret_and_time() {
        let body = br#"{"id":"x"}"#;
        let header = header(b"s3cret", 1000, body);
        assert!(verify(b"s3cret", &header, body, 1100, 300));
        assert!(!verify(b"s3cret", &header, body, 1400, 300), "too old");
        assert!(!verify(b"other", &header, body, 1000, 300));
        assert!(!verify(b"s3cret", &header, br#"{"id":"y"}"#, 1000, 300));
        assert!(!verify(b"s3cret", "v1=abc", body, 1000, 300));
    }

    #[test]
    fn secrets_are_random_and_long() {
        let (a, b) = (generate_secret(), generate_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 6 + 64);
    }
}
