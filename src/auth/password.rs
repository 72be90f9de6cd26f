//! argon2id with the crate's defaults, which are OWASP's (19 MiB, 2 passes, 1 lane).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::sync::Arc;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Password hashing takes about 19 MiB and tens of milliseconds of one core per call.
/// The gate lets about one hash per core run at a time and a short queue wait; anyone
/// beyond is told to come back at once (503 `auth.busy`), so a flood of logins can
/// neither exhaust memory nor starve the other requests of CPU.
#[derive(Clone)]
pub struct HashingGate {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

impl HashingGate {
    pub fn new(parallel: usize, queue: usize) -> Self {
        Self {
            admitted: Arc::new(Semaphore::new(parallel + queue)),
            running: Arc::new(Semaphore::new(parallel)),
        }
    }

    /// One hash at a time per core, with twice as many callers waiting.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, 2 * cores)
    }

    /// Runs `work` on the blocking pool when a hashing slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let Ok(_admitted) = self.admitted.clone().try_acquire_owned() else {
            return Err(ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                "auth.busy",
                "Too many password checks are in progress; try again in a moment.",
            )
            .with_retry_after(1));
        };
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        actix_web::web::block(work)
            .await
            .map_err(ApiError::internal)
    }
}

pub fn hash(password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

pub fn verify(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the email is unknown, so that both failures take
/// the same time and do not reveal which emails exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("relevo-dummy-password").expect("hashing a constant succeeds"))
}

#[cfg(test)]
mod tests {
    use super::HashingGate;

    #[actix_web::test]
    async fn the_gate_turns_away_callers_beyond_its_queue() {
        let gate = HashingGate::new(1, 1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let first = {
            let gate = gate.clone();
            actix_web::rt::spawn(async move { gate.run(move || wait.recv().is_ok()).await })
        };
        let queued = {
            let gate = gate.clone();
            actix_web::rt::spawn(async move { gate.run(|| true).await })
        };
        // Let both take their places: one running, one waiting.
        while gate.admitted.available_permits() > 0 {
            actix_web::rt::task::yield_now().await;
        }

        let turned_away = gate.run(|| true).await.unwrap_err();

        assert_eq!(turned_away.status().as_u16(), 503);
        assert_eq!(turned_away.body().error_key.as_deref(), Some("auth.busy"));
        release.send(()).unwrap();
        assert!(first.await.unwrap().unwrap());
        assert!(queued.await.unwrap().unwrap());
        assert!(gate.run(|| true).await.unwrap(), "free again afterwards");
    }

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let hashed = super::hash("correct horse").unwrap();
        assert!(hashed.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &hashed));
        assert!(!super::verify("wrong horse", &hashed));
        assert!(!super::verify("correct horse", "not a hash"));
    }
}
