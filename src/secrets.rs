//! Secrets at rest (AES-256-GCM) and the keys themselves: from the environment, or,
//! for the embedded SQLite default, generated once and kept in the data directory.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, OsRng};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::config::{parse_encryption_key, Settings};

/// Encrypts values such as Evolution API keys before they reach the database.
#[derive(Clone)]
pub struct Cipher {
    aead: Aes256Gcm,
}

const VERSION_PREFIX: &str = "v1:";

impl Cipher {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            aead: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key)),
        }
    }

    /// `v1:` + base64(nonce ‖ ciphertext); a fresh random nonce every time.
    #[allow(
        clippy::expect_used,
        reason = "AES-GCM fails only on plaintexts over 64 GiB"
    )]
    pub fn encrypt(&self, plaintext: &str) -> String {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .aead
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        format!("{VERSION_PREFIX}{}", STANDARD.encode(sealed))
    }

    pub fn decrypt(&self, sealed: &str) -> anyhow::Result<String> {
        let bytes = sealed
            .strip_prefix(VERSION_PREFIX)
            .and_then(|b64| STANDARD.decode(b64).ok())
            .filter(|bytes| bytes.len() > 12)
            .ok_or_else(|| anyhow::anyhow!("stored secret is not in the expected format"))?;
        let (nonce, ciphertext) = bytes.split_at(12);
        let plaintext = self
            .aead
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| {
                anyhow::anyhow!("stored secret does not decrypt with RELEVO_ENCRYPTION_KEY")
            })?;
        Ok(String::from_utf8(plaintext)?)
    }
}

pub struct Secrets {
    pub jwt_secret: String,
    pub encryption_key: [u8; 32],
}

#[derive(Serialize, Deserialize)]
struct SecretsFile {
    jwt_secret: String,
    encryption_key: String,
}

pub const SECRETS_FILE: &str = "secrets.json";

/// The configured secrets; with SQLite, missing ones come from (or are created in)
/// `<data dir>/secrets.json`, readable by the owner only. `Settings` already refused
/// PostgreSQL without them.
pub fn resolve(settings: &Settings) -> anyhow::Result<Secrets> {
    if let (Some(jwt_secret), Some(encryption_key)) =
        (&settings.jwt_secret, settings.encryption_key)
    {
        return Ok(Secrets {
            jwt_secret: jwt_secret.clone(),
            encryption_key,
        });
    }
    let dir = settings.ensure_data_dir()?.ok_or_else(|| {
        anyhow::anyhow!("RELEVO_JWT_SECRET and RELEVO_ENCRYPTION_KEY are required")
    })?;
    let stored = load_or_create(&dir.join(SECRETS_FILE))?;
    Ok(Secrets {
        jwt_secret: settings.jwt_secret.clone().unwrap_or(stored.jwt_secret),
        encryption_key: settings.encryption_key.unwrap_or(stored.encryption_key),
    })
}

fn load_or_create(path: &Path) -> anyhow::Result<Secrets> {
    if path.exists() {
        let file: SecretsFile = serde_json::from_str(&std::fs::read_to_string(path)?)
            .map_err(|e| anyhow::anyhow!("{} is not a valid secrets file: {e}", path.display()))?;
        let encryption_key = parse_encryption_key(&file.encryption_key)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(Secrets {
            jwt_secret: file.jwt_secret,
            encryption_key,
        });
    }
    let mut jwt = [0u8; 48];
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut jwt);
    rand::thread_rng().fill_bytes(&mut key);
    let file = SecretsFile {
        jwt_secret: STANDARD.encode(jwt),
        encryption_key: STANDARD.encode(key),
    };
    write_private(path, &serde_json::to_string_pretty(&file)?)?;
    log::warn!(
        "generated new secrets in {} (keep this file safe and private)",
        path.display()
    );
    Ok(Secrets {
        jwt_secret: file.jwt_secret,
        encryption_key: key,
    })
}

/// Creates the file with mode 0600 from the start, so the secret is never world-readable.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encryption_round_trips_with_fresh_nonces() {
        let cipher = Cipher::new(&[7u8; 32]);
        let a = cipher.encrypt("B6D9F2E8-A3C4");
        let b = cipher.encrypt("B6D9F2E8-A3C4");
        assert_ne!(a, b);
        assert!(!a.contains("B6D9F2E8"));
        assert_eq!(cipher.decrypt(&a).unwrap(), "B6D9F2E8-A3C4");
        assert!(Cipher::new(&[8u8; 32]).decrypt(&a).is_err());
    }

    #[test]
    fn generated_secrets_are_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECRETS_FILE);
        let first = load_or_create(&path).unwrap();
        let second = load_or_create(&path).unwrap();
        assert_eq!(first.jwt_secret, second.jwt_secret);
        assert_eq!(first.encryption_key, second.encryption_key);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
