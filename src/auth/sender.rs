//! Campaign-sender tokens: random, shown once, stored as a SHA-256 digest. A digest
//! suffices, unlike for passwords, because the token carries 238 bits of randomness.

use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

/// Marks a bearer credential as a sender token rather than a user's JWT.
pub const SENDER_TOKEN_PREFIX: &str = "rlv_snd_";

pub fn generate_token() -> String {
    let secret = Alphanumeric.sample_string(&mut rand::thread_rng(), 40);
    format!("{SENDER_TOKEN_PREFIX}{secret}")
}

pub fn is_sender_token(token: &str) -> bool {
    token.starts_with(SENDER_TOKEN_PREFIX)
}

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_recognisable_and_hashed() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(is_sender_token(&a) && !is_sender_token("eyJhbGciOiJIUzI1NiJ9.x.y"));
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
