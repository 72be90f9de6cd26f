//! The sync on a schedule: active instances every `EVOLUTION_API_SYNC_INTERVAL_ACTIVE`
//! ms, inactive ones every `EVOLUTION_API_SYNC_INTERVAL_INACTIVE` ms, on one process at a
//! time. Every process runs the same loop; each step ([`SyncScheduler::tick`]) takes the
//! `sync` lease, reads in `sync_runs` when each kind of instance was last synced on
//! schedule, and runs what is due. The run is logged before the lease is given up, so a
//! process that takes the lease next sees it and finds nothing due. Each step also marks
//! messages whose sending process died `unknown` ([`crate::messaging::abandon_stale`]) and
//! applies delivery receipts kept for messages recorded since.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix_web::web;
use chrono::Duration;
use tracing::Instrument;

use crate::db::sync_runs::{self, SyncScope};
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry;

use super::sync::{self, LeaseHolder, SyncReport, Trigger};

/// What one step did.
#[derive(Debug, PartialEq, Eq)]
pub enum Tick {
    /// Another runner holds the lease.
    Busy,
    /// Nothing was due.
    Idle,
    /// A run of `scope`.
    Ran {
        scope: SyncScope,
        report: SyncReport,
    },
}

/// This process's runner of the scheduled sync.
#[derive(Clone)]
pub struct SyncScheduler {
    state: web::Data<AppState>,
    /// Who this process is to the lease.
    holder: Arc<str>,
}

impl SyncScheduler {
    pub fn new(state: web::Data<AppState>) -> Self {
        let holder = format!("scheduler-{}-{}", std::process::id(), uuid::Uuid::new_v4());
        Self {
            state,
            holder: holder.into(),
        }
    }

    /// Runs at most one due sync, at the clock's time.
    pub async fn tick(&self) -> Result<Tick, ApiError> {
        let state = &**self.state;
        let lease = LeaseHolder {
            holder: &self.holder,
            ttl: sync::lease_ttl(state),
        };
        if !sync::acquire(state, &lease).await? {
            return Ok(Tick::Busy);
        }
        // Housekeeping under the same lease: sends whose process died, and receipts that
        // came in the same instant as their message was recorded.
        match crate::messaging::abandon_stale(state).await {
            Ok(0) => {}
            Ok(count) => {
                log::warn!("{count} message(s) stopped while being sent are now `unknown`")
            }
            Err(error) => log::error!("abandoned sends could not be marked: {error}"),
        }
        if let Err(error) = crate::messaging::apply_kept_receipts(state).await {
            log::error!("kept delivery receipts could not be applied: {error}");
        }
        let result = self.run_due(&lease).await;
        sync::release(state, &lease).await;
        result
    }

    async fn run_due(&self, lease: &LeaseHolder<'_>) -> Result<Tick, ApiError> {
        let state = &**self.state;
        let now = state.clock.now().naive_utc();
        let evolution = &state.settings.evolution;
        let every = |ms: u64| Duration::milliseconds(i64::try_from(ms).unwrap_or(i64::MAX / 2));
        let (active_every, inactive_every) = (
            every(evolution.sync_interval_ms),
            every(evolution.sync_interval_inactive_ms),
        );
        let (active_last, inactive_last) = state
            .db(|conn| {
                Ok((
                    sync_runs::last_scheduled_start(conn, "active")?,
                    sync_runs::last_scheduled_start(conn, "inactive")?,
                ))
            })
            .await?;
        let due = |last: Option<chrono::NaiveDateTime>, every: Duration| {
            last.is_none_or(|last| now - last >= every)
        };
        let scope = SyncScope {
            tenant_id: None,
            active: due(active_last, active_every),
            inactive: due(inactive_last, inactive_every),
        };
        if !scope.active && !scope.inactive {
            return Ok(Tick::Idle);
        }
        let report = sync::run_logged(state, scope, Trigger::Schedule, None, lease).await?;
        Ok(Tick::Ran { scope, report })
    }

    /// The loop every process runs: the first step one interval after start-up, then a
    /// step every tenth of the shorter interval (between 1 and 30 s), so a due sync starts
    /// at most that late. Never on the request path: it is its own task.
    pub async fn run(self) {
        let evolution = &self.state.settings.evolution;
        let shortest = evolution
            .sync_interval_ms
            .min(evolution.sync_interval_inactive_ms);
        let step = StdDuration::from_millis(shortest / 10)
            .clamp(StdDuration::from_secs(1), StdDuration::from_secs(30));
        let first = tokio::time::Instant::now() + StdDuration::from_millis(shortest);
        let mut interval = tokio::time::interval_at(first, step);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            self.logged_tick()
                .instrument(telemetry::worker_span("sync"))
                .await;
        }
    }

    /// A step of [`SyncScheduler::run`], with what it did in the log.
    async fn logged_tick(&self) {
        match self.tick().await {
            Ok(Tick::Ran { scope, report }) => log::info!(
                "scheduled sync of {} instances: {} synced, {} updated, {} orphaned, {} errors",
                scope.name(),
                report.synced,
                report.updated,
                report.orphaned,
                report.errors.len()
            ),
            Ok(Tick::Busy | Tick::Idle) => {}
            Err(error) => log::error!("scheduled sync failed: {error}"),
        }
    }
}
