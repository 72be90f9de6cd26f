//! The delivery worker: every process runs one. It sends each tenant's due events, in
//! order of creation, to the tenant's callback URL, signed with the tenant's secret.
//!
//! - One worker at a time per tenant, across processes: a tenant's events are sent
//!   only under the lease `webhooks:tenant:<id>` (table `leases`), renewed as the worker
//!   goes. A worker that dies keeps nothing: its lease expires (on Relevo's clock) and
//!   another worker takes the tenant's queue where the dead one left it.
//! - Tenants are served concurrently (at most `RELEVO_WEBHOOK_CONCURRENCY` per process),
//!   so one slow or dead receiver holds up only its own tenant.
//! - Each attempt has `RELEVO_WEBHOOK_TIMEOUT_MS` (10 s). Any 2xx is delivered; 410 Gone
//!   stops (`failed`); anything else is retried with exponential backoff and jitter
//!   ([`retry_delay`]) until [`super::MAX_ATTEMPTS`] attempts were made, then `failed`.
//! - A failed attempt ends the tenant's turn: its later events wait for the next step
//!   instead of each waiting for the same dead receiver's timeout.
//! - Callback URLs are held to [`crate::targets`]: only public addresses (checked after
//!   resolution, and for a literal address before each attempt), and no redirects.
//! - An attempt is recorded after the receiver answered, so a worker that dies between
//!   the two makes the event be sent again: delivery is at least once, and receivers
//!   tell repeats by `X-Relevo-Event-Id`.
//!
//! Each step, and each poll of the loop, also does the worker's upkeep:
//! - Retention: delivered and failed events older than `RELEVO_OUTBOX_RETENTION_DAYS`
//!   are deleted, at most [`PRUNE_BATCH`] per step, by one worker at a time (lease
//!   [`PRUNE_LEASE`]); pending events never are. A step that deleted a full batch makes
//!   the next step prune again; otherwise pruning waits [`PRUNE_EVERY_SECONDS`].
//! - Metrics: every process counts instances and events by status at most every
//!   [`COUNT_EVERY_SECONDS`] and keeps the counts in its registry, which `GET /metrics`
//!   serves without reading the database.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration as StdDuration;

use actix_web::web;
use chrono::{Duration, NaiveDateTime};
use futures_util::StreamExt;
use rand::Rng;
use tracing::Instrument;

use super::signature;
use crate::db::outbox::{self, AttemptResult, WebhookEvent};
use crate::db::{leases, write_transaction};
use crate::domain::DeliveryStatus;
use crate::error::ApiError;
use crate::state::AppState;
use crate::targets::{NotPublic, Target};
use crate::telemetry;

/// The lease of a tenant's queue is `webhooks:tenant:<tenant id>`.
pub const LEASE_PREFIX: &str = "webhooks:tenant:";

/// How long a tenant's lease lasts without renewal (on Relevo's clock). The worker
/// renews it before each batch and whenever a third of it has passed, so it never
/// lapses under a live worker, even when every attempt takes the whole timeout.
pub const LEASE_TTL_SECONDS: i64 = 60;

/// Events read per batch of one tenant.
const BATCH: i64 = 100;

/// Tenants looked at per step.
const TENANTS_PER_STEP: i64 = 1000;

/// The lease under which one worker at a time prunes the outbox.
pub const PRUNE_LEASE: &str = "webhooks:prune";

/// Events deleted per pruning step at most: one short write, which on SQLite holds the
/// writer turn no longer than a batch of claims does.
pub const PRUNE_BATCH: i64 = 1000;

/// How long pruning waits after a step that found less than a full batch to delete.
pub const PRUNE_EVERY_SECONDS: i64 = 60;

/// How often (at most) each process counts instances and events by status for
/// `/metrics`, on Relevo's clock. `/metrics`' OpenAPI operation and the README say 15 s.
pub const COUNT_EVERY_SECONDS: i64 = 15;

/// How long after `attempts` failed attempts the next one comes: one minute doubled
/// per attempt (1, 2, 4, ... 64 min), times a random factor between 0.75 and 1.25 so
/// that receivers that came back are not all hit at once. With [`super::MAX_ATTEMPTS`] = 8,
/// the 8th attempt comes at least 95 minutes after the first.
pub fn retry_delay(attempts: i32) -> Duration {
    let exponent = attempts.clamp(1, 11) - 1;
    let base_ms = 60_000_i64 << exponent;
    let factor = rand::thread_rng().gen_range(0.75..=1.25);
    Duration::milliseconds((base_ms as f64 * factor) as i64)
}

/// What one step did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    /// Events delivered (2xx).
    pub delivered: usize,
    /// Attempts that failed and will be retried.
    pub retried: usize,
    /// Events that ended `failed` (410, or the last attempt failed).
    pub failed: usize,
    /// Tenants whose queue another worker held.
    pub busy: usize,
    /// Delivered and failed events deleted after the retention.
    pub pruned: usize,
}

impl DeliveryReport {
    pub fn attempts(&self) -> usize {
        self.delivered + self.retried + self.failed
    }

    fn add(&mut self, other: DeliveryReport) {
        self.delivered += other.delivered;
        self.retried += other.retried;
        self.failed += other.failed;
        self.busy += other.busy;
    }
}

/// This process's delivery worker.
#[derive(Clone)]
pub struct Dispatcher {
    state: web::Data<AppState>,
    /// Who this process is to the leases.
    holder: Arc<str>,
    http: reqwest::Client,
    /// Tenants this process is delivering to now (the loop starts no second turn).
    in_flight: Arc<Mutex<HashSet<i64>>>,
    /// When this process's upkeep last ran.
    upkeep: Arc<Mutex<Upkeep>>,
}

/// When the upkeep's two chores last ran in this process, on Relevo's clock.
#[derive(Debug, Default)]
struct Upkeep {
    pruned_at: Option<NaiveDateTime>,
    /// The last pruning step deleted a full batch: more may be over the retention.
    more_to_prune: bool,
    counted_at: Option<NaiveDateTime>,
}

impl Dispatcher {
    pub fn new(state: web::Data<AppState>) -> anyhow::Result<Self> {
        let timeout = StdDuration::from_millis(state.settings.webhooks.timeout_ms);
        // No redirects, and only public addresses unless the policy allows any.
        let http = state
            .targets
            .client_builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(StdDuration::from_secs(5)))
            .user_agent(concat!("Relevo-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let holder = format!("webhooks-{}-{}", std::process::id(), uuid::Uuid::new_v4());
        Ok(Self {
            state,
            holder: holder.into(),
            http,
            in_flight: Arc::default(),
            upkeep: Arc::default(),
        })
    }

    /// One step at the clock's time: every tenant with due events whose queue no other
    /// worker holds gets a turn (at most `concurrency` at once), and once every turn has
    /// ended, the upkeep runs. Tests drive the worker with it.
    pub async fn tick(&self) -> Result<DeliveryReport, ApiError> {
        self.settle_statuses().await?;
        let tenants = self.due_tenants().await?;
        let concurrency = self.state.settings.webhooks.concurrency as usize;
        let reports: Vec<Result<DeliveryReport, ApiError>> = futures_util::stream::iter(tenants)
            .map(|tenant_id| self.turn(tenant_id))
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut total = DeliveryReport::default();
        for report in reports {
            total.add(report?);
        }
        total.pruned = self.upkeep().await?;
        Ok(total)
    }

    /// Tells the tenants the statuses that settled, so this step delivers them too.
    async fn settle_statuses(&self) -> Result<usize, ApiError> {
        let now = self.state.clock.now().naive_utc();
        let settle = self.state.settings.webhooks.status_settle();
        self.state
            .transaction(move |conn| Ok(super::settle::step(conn, now, settle)?))
            .await
    }

    /// The worker's upkeep at the clock's time: prunes the outbox and counts the database
    /// for `/metrics`, each when it is due. Answers how many events it pruned.
    async fn upkeep(&self) -> Result<usize, ApiError> {
        let pruned = self.prune_when_due().await;
        let counted = self.count_when_due().await;
        counted?;
        pruned
    }

    fn lock_upkeep(&self) -> std::sync::MutexGuard<'_, Upkeep> {
        self.upkeep.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Deletes at most [`PRUNE_BATCH`] delivered and failed events older than the
    /// retention, under [`PRUNE_LEASE`], when pruning is due; answers how many.
    async fn prune_when_due(&self) -> Result<usize, ApiError> {
        let now = self.state.clock.now().naive_utc();
        let every = Duration::seconds(PRUNE_EVERY_SECONDS);
        {
            let upkeep = self.lock_upkeep();
            let due = upkeep.more_to_prune || upkeep.pruned_at.is_none_or(|at| now - at >= every);
            if !due {
                return Ok(0);
            }
        }
        let retention = Duration::days(i64::from(self.state.settings.webhooks.retention_days));
        // The settings bound the retention to a century, so this is always a date.
        let Some(settled_before) = now.checked_sub_signed(retention) else {
            return Ok(0);
        };
        // When another worker holds the lease, it prunes; this one looks again later.
        let pruned = if self.renew(PRUNE_LEASE).await? {
            self.prune(settled_before).await?
        } else {
            0
        };
        let mut upkeep = self.lock_upkeep();
        upkeep.pruned_at = Some(now);
        upkeep.more_to_prune = i64::try_from(pruned).is_ok_and(|n| n >= PRUNE_BATCH);
        drop(upkeep);
        self.state.metrics.outbox_pruned(pruned);
        Ok(pruned)
    }

    /// One pruning step under [`PRUNE_LEASE`], which it gives back.
    async fn prune(&self, settled_before: NaiveDateTime) -> Result<usize, ApiError> {
        let deleted = self
            .state
            .write(move |conn| Ok(outbox::prune_settled(conn, settled_before, PRUNE_BATCH)?))
            .await;
        let holder = self.holder.to_string();
        let released = self
            .state
            .write(move |conn| Ok(leases::release(conn, PRUNE_LEASE, &holder)?))
            .await;
        if let Err(error) = released {
            log::warn!("outbound events: the pruning lease was not released: {error}");
        }
        deleted
    }

    /// Counts instances and events by status into this process's metrics, when the last
    /// count is [`COUNT_EVERY_SECONDS`] old (and metrics are on).
    async fn count_when_due(&self) -> Result<(), ApiError> {
        if !self.state.settings.metrics {
            return Ok(());
        }
        let now = self.state.clock.now();
        let every = Duration::seconds(COUNT_EVERY_SECONDS);
        let last = self.lock_upkeep().counted_at;
        if last.is_some_and(|at| now.naive_utc() - at < every) {
            return Ok(());
        }
        let (instances, events) = self
            .state
            .db(|conn| {
                Ok((
                    crate::db::instances::count_by_status(conn)?,
                    outbox::count_by_status(conn)?,
                ))
            })
            .await?;
        self.state
            .metrics
            .database_counted(&instances, &events, now.timestamp());
        self.lock_upkeep().counted_at = Some(now.naive_utc());
        Ok(())
    }

    async fn due_tenants(&self) -> Result<Vec<i64>, ApiError> {
        let now = self.state.clock.now().naive_utc();
        self.state
            .db(move |conn| {
                Ok(outbox::due_tenants(
                    conn,
                    now,
                    LEASE_PREFIX,
                    TENANTS_PER_STEP,
                )?)
            })
            .await
    }

    /// Starts [`Dispatcher::run`] on a thread of its own, with its own runtime, at a lower
    /// CPU priority (nice [`WORKER_NICE`]; Linux applies nice values per thread, and the
    /// threads it starts for database work inherit it): requests, claims first, get the
    /// CPU they need, and deliveries use what is left. Nothing starts when
    /// `RELEVO_WEBHOOK_POLL_MS` is 0.
    pub fn start(self) -> std::io::Result<()> {
        if self.state.settings.webhooks.poll_ms == 0 {
            return Ok(());
        }
        std::thread::Builder::new()
            .name("relevo-webhooks".into())
            .spawn(move || {
                lower_this_threads_priority();
                match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime.block_on(self.run()),
                    Err(error) => {
                        log::error!("outbound events: no runtime for the worker: {error}")
                    }
                }
            })?;
        Ok(())
    }

    /// The loop every process runs (unless `RELEVO_WEBHOOK_POLL_MS` is 0): every poll,
    /// each tenant with due events that this process is not serving already gets a turn
    /// of its own, up to `concurrency` at once. A slow tenant's turn does not delay the
    /// next poll. Never on the request path: it is its own task.
    pub async fn run(self) {
        let settings = &self.state.settings.webhooks;
        if settings.poll_ms == 0 {
            return;
        }
        let slots = Arc::new(tokio::sync::Semaphore::new(settings.concurrency as usize));
        let mut interval = tokio::time::interval(StdDuration::from_millis(settings.poll_ms));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            self.poll(&slots)
                .instrument(telemetry::worker_span("delivery"))
                .await;
        }
    }

    /// One poll of [`Dispatcher::run`]: the upkeep, then a turn for each due tenant that
    /// gets a slot.
    async fn poll(&self, slots: &Arc<tokio::sync::Semaphore>) {
        match self.upkeep().await {
            Ok(0) => {}
            Ok(pruned) => log::info!(
                "outbound events: {pruned} delivered or failed event(s) older than {} day(s) deleted",
                self.state.settings.webhooks.retention_days
            ),
            Err(error) => log::error!("outbound events: upkeep failed: {error}"),
        }
        let tenants = match self.due_tenants().await {
            Ok(tenants) => tenants,
            Err(error) => {
                log::error!("outbound events: cannot read the due events: {error}");
                return;
            }
        };
        for tenant_id in tenants {
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                break;
            };
            if !self.lock_in_flight().insert(tenant_id) {
                continue;
            }
            let worker = self.clone();
            let turn = async move {
                match worker.turn(tenant_id).await {
                    Ok(report) if report.attempts() > 0 => log::info!(
                        "outbound events of tenant {tenant_id}: {} delivered, {} to retry, {} failed",
                        report.delivered,
                        report.retried,
                        report.failed
                    ),
                    Ok(_) => {}
                    Err(error) => {
                        log::error!("outbound events of tenant {tenant_id}: {error}")
                    }
                }
                worker.lock_in_flight().remove(&tenant_id);
                drop(slot);
            };
            tokio::spawn(turn.in_current_span());
        }
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// One tenant's turn: takes its lease, sends its due events in order until none is
    /// left or one fails, and gives the lease back.
    async fn turn(&self, tenant_id: i64) -> Result<DeliveryReport, ApiError> {
        let lease = format!("{LEASE_PREFIX}{tenant_id}");
        if !self.renew(&lease).await? {
            return Ok(DeliveryReport {
                busy: 1,
                ..DeliveryReport::default()
            });
        }
        let result = self.drain(tenant_id, &lease).await;
        let holder = self.holder.to_string();
        let released = self
            .state
            .write(move |conn| Ok(leases::release(conn, &lease, &holder)?))
            .await;
        if let Err(error) = released {
            log::warn!("outbound events: lease of tenant {tenant_id} not released: {error}");
        }
        result
    }

    /// Takes or renews a lease (a tenant's, or the pruning one); `false` when another
    /// worker holds it.
    async fn renew(&self, lease: &str) -> Result<bool, ApiError> {
        let (name, holder) = (lease.to_string(), self.holder.to_string());
        let now = self.state.clock.now().naive_utc();
        let ttl = Duration::seconds(LEASE_TTL_SECONDS);
        self.state
            .write(move |conn| Ok(leases::try_acquire(conn, &name, &holder, now, ttl)?))
            .await
    }

    async fn drain(&self, tenant_id: i64, lease: &str) -> Result<DeliveryReport, ApiError> {
        let mut report = DeliveryReport::default();
        let mut renewed_at = self.state.clock.now().naive_utc();
        let renew_every = Duration::seconds(LEASE_TTL_SECONDS / 3);
        loop {
            let now = self.state.clock.now().naive_utc();
            let (batch, callback) = self
                .state
                .db(move |conn| {
                    Ok((
                        outbox::due_batch(conn, tenant_id, now, BATCH)?,
                        outbox::callback_of(conn, tenant_id)?,
                    ))
                })
                .await?;
            if batch.is_empty() {
                return Ok(report);
            }
            let target = match callback {
                Some((Some(url), Some(sealed))) => {
                    let secret = self
                        .state
                        .cipher
                        .decrypt(&sealed)
                        .map_err(ApiError::internal)?;
                    Ok((url, secret))
                }
                Some((None, _)) | None => Err("The tenant has no callback_url"),
                Some((Some(_), None)) => Err("The tenant has no callback_secret"),
            };
            let mut results = Vec::with_capacity(batch.len());
            let mut stopped = false;
            for event in &batch {
                let now = self.state.clock.now().naive_utc();
                if now - renewed_at >= renew_every {
                    if !self.renew(lease).await? {
                        stopped = true;
                        break;
                    }
                    renewed_at = now;
                }
                let result = match &target {
                    Ok((url, secret)) => self.attempt(event, url, secret).await,
                    Err(reason) => failure(event, None, reason.to_string(), now),
                };
                match result.status {
                    DeliveryStatus::Delivered => report.delivered += 1,
                    DeliveryStatus::Failed => report.failed += 1,
                    DeliveryStatus::Pending => report.retried += 1,
                }
                let failed = result.status != DeliveryStatus::Delivered;
                results.push(result);
                if failed {
                    stopped = true;
                    break;
                }
            }
            self.state
                .write(move |conn| {
                    Ok(write_transaction(conn, |conn| {
                        outbox::record_attempts(conn, &results)
                    })?)
                })
                .await?;
            if stopped {
                return Ok(report);
            }
            if !self.renew(lease).await? {
                return Ok(report);
            }
            renewed_at = self.state.clock.now().naive_utc();
        }
    }

    /// Sends one event and says what came of it.
    async fn attempt(&self, event: &WebhookEvent, url: &str, secret: &str) -> AttemptResult {
        // A literal address is never resolved, so the resolver cannot refuse it; a URL
        // stored before the policy (or with it off) is held to it now.
        let literal = reqwest::Url::parse(url)
            .map_err(|_| NOT_A_URL.to_string())
            .and_then(|url| {
                self.state
                    .targets
                    .check_literal(&url, Target::Callback)
                    .map_err(|_| NOT_PUBLIC.to_string())
            });
        if let Err(reason) = literal {
            return failure(event, None, reason, self.state.clock.now().naive_utc());
        }
        let timestamp = self.state.clock.now().timestamp();
        let body = event.payload.clone().into_bytes();
        let signature = signature::header(secret.as_bytes(), timestamp, &body);
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Relevo-Event-Id", &event.public_id)
            .header("X-Relevo-Event-Type", &event.event_type)
            .header("X-Relevo-Signature", signature)
            .body(body)
            .send()
            .await;
        let now = self.state.clock.now().naive_utc();
        match sent {
            Ok(mut response) => {
                let status = response.status();
                // Read (a little of) the answer so that the connection can be reused.
                let mut read = 0;
                while let Ok(Some(chunk)) = response.chunk().await {
                    read += chunk.len();
                    if read > 64 * 1024 {
                        break;
                    }
                }
                let code = Some(i32::from(status.as_u16()));
                if status.is_success() {
                    AttemptResult {
                        event_id: event.id,
                        status: DeliveryStatus::Delivered,
                        status_code: code,
                        error: None,
                        next_attempt_at: None,
                        at: now,
                    }
                } else if status == reqwest::StatusCode::GONE {
                    AttemptResult {
                        event_id: event.id,
                        status: DeliveryStatus::Failed,
                        status_code: code,
                        error: Some("410 Gone: the receiver asked for no more deliveries".into()),
                        next_attempt_at: None,
                        at: now,
                    }
                } else {
                    failure(event, code, format!("The receiver answered {status}"), now)
                }
            }
            Err(error) if error.is_timeout() => failure(
                event,
                None,
                format!(
                    "No answer within {} ms",
                    self.state.settings.webhooks.timeout_ms
                ),
                now,
            ),
            Err(error) => failure(event, None, describe(&error), now),
        }
    }
}

/// The nice value of the worker's thread (0 is normal, 19 the lowest priority).
pub const WORKER_NICE: i32 = 10;

fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `who = 0` is this thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, WORKER_NICE);
    }
}

/// A failed attempt: retried later, or `failed` when it was the last.
fn failure(
    event: &WebhookEvent,
    status_code: Option<i32>,
    error: String,
    now: NaiveDateTime,
) -> AttemptResult {
    let attempts = event.attempts + 1;
    let last = attempts >= event.max_attempts.max(1);
    AttemptResult {
        event_id: event.id,
        status: if last {
            DeliveryStatus::Failed
        } else {
            DeliveryStatus::Pending
        },
        status_code,
        error: Some(error),
        next_attempt_at: (!last).then(|| now + retry_delay(attempts)),
        at: now,
    }
}

/// Why an attempt to a callback URL that is not on a public address failed.
const NOT_PUBLIC: &str = "The callback URL is not on a public address: Relevo does not deliver to loopback, private, link-local or reserved addresses";
const NOT_A_URL: &str = "The callback URL is not a valid URL";

/// A transport error in words, with its causes (never a secret: the URL is the
/// tenant's own, without credentials, which the API refuses).
fn describe(error: &reqwest::Error) -> String {
    use std::error::Error;
    if NotPublic::caused(error) {
        return NOT_PUBLIC.to_string();
    }
    let mut text = if error.is_connect() {
        "Cannot connect to the callback URL".to_string()
    } else {
        "The delivery failed".to_string()
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::super::MAX_ATTEMPTS;
    use super::*;

    #[test]
    fn eight_attempts_span_more_than_an_hour_whatever_the_jitter() {
        for _ in 0..1000 {
            let total: i64 = (1..MAX_ATTEMPTS)
                .map(|n| retry_delay(n).num_seconds())
                .sum();
            assert!(total >= 3600, "{total} s");
            let first = retry_delay(1).num_seconds();
            assert!((45..=75).contains(&first), "{first}");
        }
        // Capped: a replayed event's later attempts do not wait for days.
        assert!(retry_delay(40).num_hours() <= 22);
    }
}
