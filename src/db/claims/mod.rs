//! The send log and the atomic claim. Picking an instance and counting messages on it
//! happen under one row lock (PostgreSQL) or the database's write lock (SQLite), so
//! concurrent claimers, in one process or in many, never push an instance past its limit.
//!
//! One job a file: [`eligibility`] states the rule (who may send, each strategy's order,
//! the day's counting) that every other file renders or asks; `claim` is a claim alone,
//! `batch` claims that commit together, `release` gives unsent messages back, `usage`
//! keeps the daily totals that statistics and credits read.
//!
//! A claim answers what it counted and whether it left the tenant without quota
//! ([`Counted`]); what follows (`quota.exhausted`) is the sender service's to write, in
//! the claim's transaction.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::instances::Instance;
use super::schema::claims;
use crate::domain::RotationStrategy;

mod batch;
mod claim;
pub mod eligibility;
mod release;
mod usage;

pub use batch::{claim_batch_function, claim_in_batch, claim_together};
pub use claim::{
    claim_in_one_statement, exhausted_after, find_replay, fits_one_statement, grant, may_exhaust,
    Pick,
};
pub use release::{release_claim, ReleaseOutcome};
pub use usage::{daily_totals, tenant_usage, DayTotals};

/// An idempotency key answers with its first claim for this long.
pub const IDEMPOTENCY_WINDOW_HOURS: i64 = 24;

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = claims)]
pub struct Claim {
    pub id: i64,
    pub public_id: String,
    pub tenant_id: i64,
    pub instance_id: i64,
    pub usage_date: NaiveDate,
    pub requested: i32,
    pub granted: i32,
    pub released: i32,
    pub strategy: String,
    pub recipient: Option<String>,
    pub idempotency_key: Option<String>,
    pub sender_token_id: Option<i64>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    /// The instance's count the claim was made in (see [`Instance::counter_epoch`]).
    pub counter_epoch: i32,
}

#[derive(Insertable)]
#[diesel(table_name = claims)]
struct NewClaim<'a> {
    public_id: String,
    tenant_id: i64,
    instance_id: i64,
    usage_date: NaiveDate,
    requested: i32,
    granted: i32,
    strategy: &'a str,
    recipient: Option<&'a str>,
    idempotency_key: Option<&'a str>,
    sender_token_id: Option<i64>,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    counter_epoch: i32,
}

/// A claim as the sender asked for it, already validated.
#[derive(Clone, Debug)]
pub struct ClaimRequest {
    pub tenant_id: i64,
    pub count: i32,
    pub strategy: RotationStrategy,
    pub recipient: Option<String>,
    pub idempotency_key: Option<String>,
    pub sender_token_id: Option<i64>,
    /// The tenant's local date, which the counters belong to.
    pub today: NaiveDate,
    pub now: NaiveDateTime,
    /// When the tenant's day ends, if the tenant wants to know when its quota runs out
    /// (it has a callback URL): then a claim tells whether it left the tenant without
    /// quota ([`Counted::exhausted`]), which costs a query when it took an instance's last.
    pub next_reset_at: Option<NaiveDateTime>,
    /// Instances not to pick, whatever their state: those a message already failed on.
    pub exclude: Vec<i64>,
}

#[derive(Debug)]
pub enum ClaimOutcome {
    /// Counted now, on this instance (as it stands after the count).
    Granted(Claim, Instance),
    /// The idempotency key was seen before: its claim, counted nothing again. The
    /// instance is gone if it was deleted since.
    Replayed(Claim, Option<Instance>),
    /// No eligible instance has quota left; `any_active` tells exhaustion (429) from a
    /// tenant without a single active instance that was ever able to send (409).
    NoneAvailable { any_active: bool },
}

/// What a claim came to, and what it left of the tenant's quota.
#[derive(Debug)]
pub struct Counted {
    pub outcome: ClaimOutcome,
    /// No eligible instance of the tenant has quota left on the claim's day, after a
    /// claim that took an instance's last quota or was refused for want of it (see
    /// [`may_exhaust`]); `false` for a request that does not ask.
    pub exhausted: bool,
}
