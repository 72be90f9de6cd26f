//! Waiting for a named lease ([`crate::db::leases`]) and giving it back on every path.
//! The lease's expiry is read on Relevo's clock; the wait is bounded in real time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::db::{leases, DbPool, WriterQueue};
use crate::error::ApiError;
use crate::state::AppState;

/// A lease this call holds. Give it back with [`HeldLease::release`]; a guard dropped
/// without that (a cancelled request, a panic) gives it back in the background.
pub struct HeldLease {
    name: String,
    holder: String,
    pool: DbPool,
    writer: Option<Arc<WriterQueue>>,
    timeout: Duration,
    released: bool,
}

const FIRST_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_millis(100);

impl HeldLease {
    /// Takes `name` for `ttl` (on Relevo's clock), retrying with a short backoff while
    /// another holder has it. `None` when it is still held after `patience` of real time:
    /// the caller goes on without it.
    pub async fn wait(
        state: &AppState,
        name: String,
        ttl: chrono::Duration,
        patience: Duration,
    ) -> Result<Option<Self>, ApiError> {
        let holder = uuid::Uuid::new_v4().to_string();
        let started = Instant::now();
        let mut delay = FIRST_DELAY;
        loop {
            let now = state.clock.now().naive_utc();
            let (lease, me) = (name.clone(), holder.clone());
            let taken = state
                .write(move |conn| Ok(leases::try_acquire(conn, &lease, &me, now, ttl)?))
                .await?;
            if taken {
                return Ok(Some(Self {
                    name,
                    holder,
                    pool: state.pool.clone(),
                    writer: state.writer.clone(),
                    timeout: state.settings.db_timeout(),
                    released: false,
                }));
            }
            if started.elapsed() >= patience {
                log::warn!("lease `{name}` still held after {patience:?}; going on without it");
                return Ok(None);
            }
            actix_web::rt::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_DELAY);
        }
    }

    /// Gives the lease back; a failure is logged (the lease then ends at its expiry).
    pub async fn release(mut self, state: &AppState) {
        self.released = true;
        let (name, holder) = (self.name.clone(), self.holder.clone());
        let result = state
            .write(move |conn| Ok(leases::release(conn, &name, &holder)?))
            .await;
        if let Err(error) = result {
            log::warn!("lease `{}` not released: {error}", self.name);
        }
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (name, holder) = (
            std::mem::take(&mut self.name),
            std::mem::take(&mut self.holder),
        );
        let (pool, writer, timeout) = (self.pool.clone(), self.writer.clone(), self.timeout);
        let release = move || -> Result<(), String> {
            let _turn = writer
                .map(|queue| queue.take(timeout))
                .transpose()
                .map_err(|e| e.to_string())?;
            let mut conn = pool.get().map_err(|e| e.to_string())?;
            leases::release(&mut conn, &name, &holder).map_err(|e| e.to_string())
        };
        let work = crate::telemetry::on_blocking_thread("lease release", move || {
            if let Err(error) = release() {
                log::warn!("a dropped lease was not released: {error}");
            }
        });
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(work);
            }
            Err(_) => work(),
        }
    }
}
