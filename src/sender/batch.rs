//! Group commit for sender claims. Claims that arrive while another batch of this
//! process is being written wait for it and then go together: one connection, one
//! transaction, one commit for all of them. A claim that arrives when nothing is running
//! goes at once, alone, exactly as before. No timer: a claim waits at most for the batch
//! in front of it.
//!
//! Each claim keeps its own outcome (a grant, a replay, a refusal); a refusal is part of
//! the batch like a grant. A claim that fails in the database voids the batch: the
//! transaction rolls back, so nothing of it was counted, and each claim then runs alone
//! and gets its own answer. Only a commit whose answer was lost with the connection is
//! not run again (it may have committed): every claim of it answers 503, and senders
//! retry with their idempotency keys, as after any lost commit.
//!
//! A database that stays locked (another process holds SQLite's write lock, or a
//! PostgreSQL lock outlives `lock_timeout`) past `RELEVO_DB_TIMEOUT_MS` is a 503 for the
//! claims that waited for it, never a wait of one timeout per claim in line: a batch that
//! could not get its lock answers each of its claims 503 instead of running them alone,
//! and on SQLite, whose write lock is the whole database's, the claims waiting behind a
//! claim or batch that timed out get its 503 at once.
//!
//! The invariants stay the database's (row locks, the SQLite write lock, unique keys), so
//! they hold across processes as they did claim by claim. A batch never waits for a row
//! lock while it holds others: see [`claims::claim_together`] (PostgreSQL) and
//! [`claims::claim_in_batch`] (SQLite).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::oneshot;

use crate::auth::SenderCaller;
use crate::db::claims::{self, ClaimOutcome, ClaimRequest};
use crate::db::instances::Instance;
use crate::db::tenants::Tenant;
use crate::db::{self, evolution_servers, sender_tokens, DbConnection, DbPool, WriterQueue};
use crate::domain::RotationStrategy;
use crate::error::{ApiError, ErrorKey};
use crate::metrics::Metrics;
use crate::sender::{admit_token, authorize, claim_request};

/// At most this many claims commit together.
pub const MAX_BATCH: usize = 64;

/// A validated claim and who asked for it: everything needed to run it.
pub struct ClaimJob {
    pub caller: SenderCaller,
    /// The path's tenant; `None` on the tenant-implicit path.
    pub tenant_key: Option<String>,
    pub count: i32,
    pub recipient: Option<String>,
    pub strategy: Option<RotationStrategy>,
    pub idempotency_key: Option<String>,
    pub now: DateTime<Utc>,
}

/// What a claim came to, with what the answer needs.
pub struct Claimed {
    pub tenant: Tenant,
    /// The tenant's local day the claim was made on.
    pub today: NaiveDate,
    pub outcome: ClaimOutcome,
    /// The base URL of the claimed instance's server, when the instance has none of its own.
    pub server_url: Option<String>,
}

impl Claimed {
    /// The outcome with the URL of its instance's server, read from the database.
    fn read(
        conn: &mut DbConnection,
        tenant: Tenant,
        today: NaiveDate,
        outcome: ClaimOutcome,
    ) -> diesel::QueryResult<Self> {
        let server_url = match named_instance(&outcome) {
            Some(instance) => evolution_servers::default_base_url_of(conn, instance)?,
            None => None,
        };
        Ok(Self {
            tenant,
            today,
            outcome,
            server_url,
        })
    }
}

impl ClaimJob {
    /// The claim on its own: authorizes the caller, claims and reads the server's URL.
    fn run_alone(&self, conn: &mut DbConnection) -> Result<Claimed, ApiError> {
        let (tenant, sender_token_id) = authorize(
            conn,
            &self.caller,
            self.tenant_key.as_deref(),
            self.now.naive_utc(),
        )?;
        let request = self.request(&tenant, sender_token_id);
        let outcome = claims::claim_next_instance(conn, &request)?;
        Ok(Claimed::read(conn, tenant, request.today, outcome)?)
    }

    fn request(&self, tenant: &Tenant, sender_token_id: Option<i64>) -> ClaimRequest {
        ClaimRequest {
            recipient: self.recipient.clone(),
            idempotency_key: self.idempotency_key.clone(),
            sender_token_id,
            ..claim_request(tenant, self.now, self.count, self.strategy)
        }
    }

    fn token_hash(&self) -> Option<&str> {
        match &self.caller {
            SenderCaller::Token { token_hash } => Some(token_hash),
            SenderCaller::User(_) => None,
        }
    }
}

/// The instance a claim's answer names: the one granted or replayed, if it still exists.
fn named_instance(outcome: &ClaimOutcome) -> Option<&Instance> {
    match outcome {
        ClaimOutcome::Granted(_, instance) | ClaimOutcome::Replayed(_, Some(instance)) => {
            Some(instance)
        }
        _ => None,
    }
}

/// What a batch's transaction gives each claim: its outcome, or `None` for a claim that
/// must run alone once the batch has committed.
type Together = Vec<Option<Result<Claimed, ApiError>>>;

/// Who a claim acts for: its tenant, and the sender token that made it (`None` for a
/// super admin).
type Caller = (Tenant, Option<i64>);

/// The callers of a batch: its sender tokens in one query; a super admin's claim
/// authorizes on its own. A database failure voids the batch.
fn admit_all(
    conn: &mut DbConnection,
    jobs: &[ClaimJob],
) -> Result<Vec<Result<Caller, ApiError>>, BatchFailed> {
    let mut hashes: Vec<&str> = jobs.iter().filter_map(ClaimJob::token_hash).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let earliest = jobs
        .iter()
        .map(|job| job.now)
        .min()
        .unwrap_or_else(Utc::now);
    let tokens = sender_tokens::authenticate_many(conn, &hashes, earliest.naive_utc())
        .map_err(BatchFailed::statement)?;
    let mut admitted = Vec::with_capacity(jobs.len());
    for job in jobs {
        let now = job.now.naive_utc();
        let tenant_key = job.tenant_key.as_deref();
        let caller = match job.token_hash() {
            Some(hash) => admit_token(
                tokens
                    .get(hash)
                    .filter(|(token, _)| token.expires_at.is_none_or(|at| at > now))
                    .cloned(),
                tenant_key,
            ),
            None => authorize(conn, &job.caller, tenant_key, now),
        };
        match caller {
            Err(error) if voids_batch(&error) => return Err(BatchFailed::Claim),
            caller => admitted.push(caller),
        }
    }
    Ok(admitted)
}

/// SQLite: the claims one after the other in the batch's write transaction, each as it
/// would run alone.
fn one_after_another(conn: &mut DbConnection, jobs: &[ClaimJob]) -> Result<Together, BatchFailed> {
    let admitted = admit_all(conn, jobs)?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for (job, caller) in jobs.iter().zip(admitted) {
        let (tenant, sender_token_id) = match caller {
            Ok(caller) => caller,
            Err(refusal) => {
                outcomes.push(Some(Err(refusal)));
                continue;
            }
        };
        let request = job.request(&tenant, sender_token_id);
        let claimed = claims::claim_in_batch(conn, &request)
            .map_err(BatchFailed::statement)?
            .map(|outcome| {
                Claimed::read(conn, tenant, request.today, outcome).map_err(BatchFailed::statement)
            })
            .transpose()?;
        outcomes.push(claimed.map(Ok));
    }
    Ok(outcomes)
}

/// PostgreSQL: a fixed number of round trips for the whole batch: the sender tokens in one
/// query, the claims in one call (see [`claims::claim_together`]), their servers' URLs in
/// one query. Claims that do not fit the call (sticky recipient, `priority`) run alone
/// afterwards.
fn all_at_once(conn: &mut DbConnection, jobs: &[ClaimJob]) -> Result<Together, BatchFailed> {
    let mut outcomes: Together = Vec::with_capacity(jobs.len());
    let mut admitted = Vec::new();
    for (job, caller) in jobs.iter().zip(admit_all(conn, jobs)?) {
        match caller {
            Err(refusal) => outcomes.push(Some(Err(refusal))),
            Ok((tenant, sender_token_id)) => {
                let request = job.request(&tenant, sender_token_id);
                if claims::fits_one_statement(conn, &request) {
                    admitted.push((outcomes.len(), tenant, request));
                }
                outcomes.push(None);
            }
        }
    }
    let requests: Vec<&ClaimRequest> = admitted.iter().map(|(_, _, request)| request).collect();
    let claimed = claims::claim_together(conn, &requests).map_err(BatchFailed::statement)?;
    let server_ids: Vec<i64> = claimed
        .iter()
        .flatten()
        .filter_map(named_instance)
        .filter_map(Instance::default_server_id)
        .collect();
    let urls = evolution_servers::base_urls(conn, &server_ids).map_err(BatchFailed::statement)?;
    for ((slot, tenant, request), outcome) in admitted.into_iter().zip(claimed) {
        let Some(outcome) = outcome else { continue };
        let server_url = named_instance(&outcome)
            .and_then(Instance::default_server_id)
            .and_then(|id| urls.get(&id).cloned());
        outcomes[slot] = Some(Ok(Claimed {
            tenant,
            today: request.today,
            outcome,
            server_url,
        }));
    }
    Ok(outcomes)
}

type Reply = oneshot::Sender<Result<Claimed, ApiError>>;

/// This process's claims, gathered into batches. `lanes` batches run at once: one on
/// SQLite, whose writes take turns anyway; a few on PostgreSQL, where batches on different
/// rows proceed side by side.
pub struct ClaimBatcher {
    pool: DbPool,
    writer: Option<Arc<WriterQueue>>,
    writer_timeout: Duration,
    metrics: Arc<Metrics>,
    lanes: usize,
    /// The fewest claims run as a batch; fewer run alone.
    smallest_batch: usize,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(ClaimJob, Reply)>,
    running: usize,
}

/// How a batch ended, when not with an outcome per claim.
enum Void {
    /// Rolled back (or never begun): nothing of it was counted; each claim runs alone.
    RunAlone,
    /// The database could not be reached, stayed locked for the whole timeout, or the
    /// commit's answer was lost with the connection (it may have committed): each claim
    /// answers this.
    Answer(ApiError),
}

impl ClaimBatcher {
    pub fn new(
        pool: DbPool,
        writer: Option<Arc<WriterQueue>>,
        writer_timeout: Duration,
        metrics: Arc<Metrics>,
        lanes: usize,
    ) -> Self {
        Self {
            pool,
            writer,
            writer_timeout,
            metrics,
            lanes: lanes.max(1),
            smallest_batch: 2,
            queue: Mutex::default(),
        }
    }

    /// Batches of at least `claims` claims (see `RELEVO_CLAIM_BATCH_MIN`); with 1, even a
    /// claim that arrives alone goes through the batch's transaction.
    pub fn with_smallest_batch(mut self, claims: usize) -> Self {
        self.smallest_batch = claims.max(1);
        self
    }

    /// Runs `job` alone if no batch is running, else with the claims that gather while
    /// one is.
    pub async fn claim(self: &Arc<Self>, job: ClaimJob) -> Result<Claimed, ApiError> {
        let (reply, answer) = oneshot::channel();
        let start_lane = {
            let mut queue = self.queue();
            queue.waiting.push((job, reply));
            let free = queue.running < self.lanes;
            if free {
                queue.running += 1;
            }
            free
        };
        if start_lane {
            let batcher = self.clone();
            // Detached: the lane answers through the replies, also to requests that
            // were dropped meanwhile (their claims are counted, as before batching).
            drop(actix_web::rt::task::spawn_blocking(move || {
                batcher.run_lane()
            }));
        }
        answer
            .await
            .map_err(|_| ApiError::internal("the claim's batch ended without an answer"))?
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs batches until no claim is waiting.
    fn run_lane(&self) {
        loop {
            let batch = {
                let mut queue = self.queue();
                if queue.waiting.is_empty() {
                    queue.running -= 1;
                    return;
                }
                let take = queue.waiting.len().min(MAX_BATCH);
                queue.waiting.drain(..take).collect::<Vec<_>>()
            };
            let (jobs, replies): (Vec<ClaimJob>, Vec<Reply>) = batch.into_iter().unzip();
            let outcomes = std::panic::catch_unwind(AssertUnwindSafe(|| self.run_batch(&jobs)));
            match outcomes {
                Ok(outcomes) => {
                    let locked = self.database_wide_refusal(&outcomes);
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        // A request that is gone no longer needs its answer.
                        let _ = reply.send(outcome);
                    }
                    if let Some(error) = locked {
                        self.refuse_waiting(&error);
                    }
                }
                // The replies are dropped: each request answers 500.
                Err(_) => log::error!("a claim batch panicked"),
            }
        }
    }

    /// On SQLite, the 503 of a claim that waited the whole timeout for the write lock (or
    /// for a pooled connection): the lock is the whole database's, so every claim queued
    /// behind it would wait out the same lock. `None` on PostgreSQL, whose locks are a
    /// row's or a table's: the next claims may well get theirs.
    fn database_wide_refusal(&self, outcomes: &[Result<Claimed, ApiError>]) -> Option<ApiError> {
        self.writer.as_ref()?;
        outcomes.iter().find_map(|outcome| match outcome {
            Err(error) if error.is_database_unavailable() => Some(error.clone()),
            _ => None,
        })
    }

    /// Answers `error` to every claim waiting for a batch now.
    fn refuse_waiting(&self, error: &ApiError) {
        let waiting = std::mem::take(&mut self.queue().waiting);
        for (_, reply) in waiting {
            let _ = reply.send(Err(error.clone()));
        }
    }

    /// Runs `jobs` as one batch, on the calling thread: one outcome per job, in order.
    pub fn run_batch(&self, jobs: &[ClaimJob]) -> Vec<Result<Claimed, ApiError>> {
        if jobs.len() < self.smallest_batch {
            return jobs.iter().map(|job| self.run_alone(job)).collect();
        }
        let together = match self.run_together(jobs) {
            Ok(outcomes) => outcomes,
            Err(Void::RunAlone) => jobs.iter().map(|_| None).collect(),
            Err(Void::Answer(error)) => return jobs.iter().map(|_| Err(error.clone())).collect(),
        };
        self.metrics
            .claim_batch(together.iter().filter(|outcome| outcome.is_some()).count());
        jobs.iter()
            .zip(together)
            .map(|(job, outcome)| match outcome {
                Some(outcome) => outcome,
                None => self.run_alone(job),
            })
            .collect()
    }

    /// The jobs in one transaction: an outcome for each, or `None` for those that must
    /// run alone once it has committed.
    fn run_together(&self, jobs: &[ClaimJob]) -> Result<Together, Void> {
        // Declared first, so dropped last: the connection goes back before the turn.
        let _turn = self.writer_turn().map_err(Void::Answer)?;
        let mut conn = self
            .pool
            .get()
            .map_err(|error| Void::Answer(error.into()))?;
        let committed = db::write_transaction_once(&mut conn, |conn| match conn {
            DbConnection::Sqlite(_) => one_after_another(conn, jobs),
            DbConnection::Postgres(_) => all_at_once(conn, jobs),
        });
        match committed {
            Ok(outcomes) => Ok(outcomes),
            // Alone, each claim would wait out the same lock again, one after another.
            Err(BatchFailed::Database(error))
                if db::is_connection_lost(&error) || db::is_lock_timeout(&error) =>
            {
                Err(Void::Answer(ApiError::from(error)))
            }
            Err(_) => Err(Void::RunAlone),
        }
    }

    /// The claim on its own, as it ran before batching.
    fn run_alone(&self, job: &ClaimJob) -> Result<Claimed, ApiError> {
        // Declared first, so dropped last: the connection goes back before the turn.
        let _turn = self.writer_turn()?;
        let mut conn = self.pool.get()?;
        job.run_alone(&mut conn)
    }

    fn writer_turn(&self) -> Result<Option<db::WriterTurn>, ApiError> {
        Ok(self
            .writer
            .as_ref()
            .map(|queue| queue.take(self.writer_timeout))
            .transpose()?)
    }
}

/// A claim that failed in the database (a 5xx, or a conflict the database raised): on
/// PostgreSQL the transaction is aborted; either way what the claim wrote so far must go.
fn voids_batch(error: &ApiError) -> bool {
    error.status().is_server_error() || error.error_key() == Some(ErrorKey::ResourceConflict)
}

/// Why a batch transaction did not commit.
enum BatchFailed {
    /// A claim failed in the database; the batch rolled back.
    Claim,
    /// `BEGIN` or `COMMIT` failed, or a statement waited for a lock past the timeout.
    Database(diesel::result::Error),
}

impl BatchFailed {
    /// A statement of the batch failed: the transaction rolls back.
    fn statement(error: diesel::result::Error) -> Self {
        if db::is_lock_timeout(&error) {
            return Self::Database(error);
        }
        log::warn!("a claim batch failed and runs claim by claim: {error}");
        Self::Claim
    }
}

impl From<diesel::result::Error> for BatchFailed {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(error)
    }
}
