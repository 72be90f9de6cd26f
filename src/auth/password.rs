//! argon2id with the crate's defaults, which are OWASP's (19 MiB, 2 passes, 1 lane).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use std::sync::Arc;
use tokio::sync::Semaphore;

use crate::error::{ApiError, ErrorKey};

/// Password hashing takes about 19 MiB and tens of milliseconds of one core per call.
/// It runs on a few dedicated threads (one per core) at the lowest CPU priority, so that
/// a flood of logins cannot take the cores from claims and other requests, and its
/// memory stays at one hashing buffer per thread. A short queue may wait; anyone beyond
/// is told at once to come back (503 `auth.busy`).
#[derive(Clone)]
pub struct HashingGate {
    admitted: Arc<Semaphore>,
    jobs: std::sync::mpsc::SyncSender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

impl HashingGate {
    #[allow(
        clippy::expect_used,
        reason = "start-up: the hashing threads are spawned before serving"
    )]
    pub fn new(threads: usize, queue: usize) -> Self {
        return_large_buffers_on_free();
        let (jobs, queued) = std::sync::mpsc::sync_channel::<Job>(threads + queue);
        let queued = Arc::new(std::sync::Mutex::new(queued));
        for n in 0..threads {
            let queued = queued.clone();
            std::thread::Builder::new()
                .name(format!("password-hash-{n}"))
                .spawn(move || {
                    lower_this_threads_priority();
                    loop {
                        let job = match queued.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("a password hashing thread starts");
        }
        Self {
            admitted: Arc::new(Semaphore::new(threads + queue)),
            jobs,
        }
    }

    /// One hashing thread per core, with twice as many callers waiting.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, 2 * cores)
    }

    /// A place among the callers that may hash now or soon, or 503 `auth.busy` at once.
    /// Taken before any other work, so that turned-away callers cost next to nothing.
    pub fn admit(&self) -> Result<Admission, ApiError> {
        let permit = self.admitted.clone().try_acquire_owned().map_err(|_| {
            ApiError::new(
                actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                ErrorKey::AuthBusy,
                "Too many password checks are in progress; try again in a moment.",
            )
            .with_retry_after(1)
        })?;
        Ok(Admission {
            permit,
            jobs: self.jobs.clone(),
        })
    }

    /// Admits and runs `work` on a hashing thread.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        self.admit()?.run(work).await
    }
}

/// A caller's admitted place; the place is given back when its work is done.
pub struct Admission {
    permit: tokio::sync::OwnedSemaphorePermit,
    jobs: std::sync::mpsc::SyncSender<Job>,
}

impl Admission {
    pub async fn run<T: Send + 'static>(
        self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let (done, outcome) = tokio::sync::oneshot::channel();
        let permit = self.permit;
        let work = crate::telemetry::on_blocking_thread("password hashing", work);
        let job: Job = Box::new(move || {
            let _ = done.send(work());
            drop(permit);
        });
        self.jobs.try_send(job).map_err(ApiError::internal)?;
        outcome.await.map_err(ApiError::internal)
    }
}

/// Each hash allocates a 19 MiB buffer. glibc raises its mmap threshold to the size of
/// the first such buffer freed, after which every later one is carved from the heap of
/// the arena that ran it and stays resident when freed: RSS grew by 19 MiB per failed
/// login. A fixed threshold (which turns the adaptive one off) keeps large buffers
/// mmap'd, so they go back to the system when freed.
fn return_large_buffers_on_free() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; it is safe to call at any time.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Nice 19 for the calling thread (Linux applies nice values per thread): the scheduler
/// then gives it CPU only when other threads leave some.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `who = 0` is this thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
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
#[allow(
    clippy::expect_used,
    reason = "argon2 with the default parameters hashes a constant password: it cannot fail"
)]
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("relevo-dummy-password").expect("hashing a constant succeeds"))
}

#[cfg(test)]
mod tests {
    use super::HashingGate;
    use crate::error::ErrorKey;

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
        assert_eq!(turned_away.error_key(), Some(ErrorKey::AuthBusy));
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
