//! The rule of who may send (SPEC §6), stated once: which instances are eligible, in
//! which order each strategy takes them, and how a day is counted. Every path derives
//! from it: the lone claims of both backends and PostgreSQL's batch function render their
//! SQL from these pieces (the function's migration is this module's text, see
//! [`super::batch::claim_batch_function`]), and the instance views, statistics and
//! capacity ask [`is_eligible`]. A new requirement is one more [`Requirement`]: its SQL
//! and its Rust reading side by side, which the rule's tests compare on both backends.
//!
//! Every SQL piece reads the instance under the alias `w`.

use chrono::NaiveDate;

use crate::db::instances::Instance;
use crate::domain::{ConnectionStatus, RotationStrategy};

/// What a statement gives the rule: SQL expressions for the tenant and for its local date.
#[derive(Clone, Copy, Debug)]
pub struct Inputs {
    pub tenant: &'static str,
    pub today: &'static str,
}

/// The inputs of a statement that binds the tenant as `$1` and today as `$2`.
pub const BOUND: Inputs = Inputs {
    tenant: "$1",
    today: "$2",
};

/// One condition an instance must meet to be handed to a sender. Each is named for the
/// reason it gives when it is not met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// `is_active`.
    Active,
    /// Its connection may send: [`ConnectionStatus::SENDABLE`].
    Connected,
    /// Paired at least once, if Relevo provisioned it (one still waiting for its first QR
    /// scan cannot send).
    Paired,
    /// Quota left today under its limit (yesterday's count does not hold today).
    QuotaLeft,
}

impl Requirement {
    /// The whole rule: an instance is eligible when it meets every one of these.
    pub const ALL: [Requirement; 4] =
        [Self::Active, Self::Connected, Self::Paired, Self::QuotaLeft];

    /// Why an instance that does not meet this is not eligible.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Active => "inactive",
            Self::Connected => "not_connected",
            Self::Paired => "never_paired",
            Self::QuotaLeft => "quota_exhausted",
        }
    }

    /// The condition in SQL, true for an instance that meets it.
    pub fn sql(self, at: Inputs) -> String {
        match self {
            Self::Active => "w.is_active".into(),
            Self::Connected => format!(
                "w.connection_status IN {}",
                ConnectionStatus::sendable_sql()
            ),
            Self::Paired => "(NOT w.provisioned OR w.connected_at IS NOT NULL)".into(),
            Self::QuotaLeft => format!("w.daily_message_limit > {}", sent_today_sql(at)),
        }
    }

    /// The same condition, read from an instance already loaded.
    pub fn is_met(self, instance: &Instance, today: NaiveDate) -> bool {
        match self {
            Self::Active => instance.is_active,
            Self::Connected => instance.connection_status.may_send(),
            Self::Paired => !instance.provisioned || instance.connected_at.is_some(),
            Self::QuotaLeft => instance.usage_on(today).remaining() > 0,
        }
    }
}

/// Whether a claim made on the tenant's date `today` may pick this instance: what the
/// views call `can_send_messages`.
pub fn is_eligible(instance: &Instance, today: NaiveDate) -> bool {
    Requirement::ALL
        .iter()
        .all(|requirement| requirement.is_met(instance, today))
}

/// SQL: the instance belongs to the tenant and meets each of `requirements`.
pub fn meets_sql(requirements: &[Requirement], at: Inputs) -> String {
    let mut conditions = vec![format!("w.tenant_id = {}", at.tenant)];
    conditions.extend(requirements.iter().map(|requirement| requirement.sql(at)));
    conditions.join(" AND ")
}

/// SQL: the instance is one of the tenant's eligible ones.
pub fn eligible_sql(at: Inputs) -> String {
    meets_sql(&Requirement::ALL, at)
}

/// SQL: the instance's count today, [`crate::domain::DailyUsage::sent`]: the stored count
/// while its date is not past, else 0.
pub fn sent_today_sql(at: Inputs) -> String {
    format!(
        "CASE WHEN w.last_reset_date >= {today} THEN w.messages_sent_today ELSE 0 END",
        today = at.today
    )
}

/// SQL: the date the count belongs to, [`crate::domain::DailyUsage::date`]: the stored one
/// while it is not past (a date ahead of today keeps its count), else today.
pub fn usage_date_sql(at: Inputs) -> String {
    format!(
        "CASE WHEN w.last_reset_date >= {today} THEN w.last_reset_date ELSE {today} END",
        today = at.today
    )
}

/// SQL: how many of `requested` messages the instance may still take today,
/// [`crate::domain::DailyUsage::grant`] (the rule only picks instances with quota left).
pub fn grant_sql(at: Inputs, requested: &str) -> String {
    let remaining = format!("w.daily_message_limit - {}", sent_today_sql(at));
    format!("CASE WHEN {requested} < {remaining} THEN {requested} ELSE {remaining} END")
}

/// SQL select-list items a claim counts with: the count before it (`sent_before`), the
/// date the count belongs to (`usage_date`) and what it grants of `requested` (`granted`).
/// The count after the claim is `sent_before + granted`, on `usage_date`.
pub fn count_columns_sql(at: Inputs, requested: &str) -> String {
    format!(
        "{} AS sent_before, {} AS usage_date, {} AS granted",
        sent_today_sql(at),
        usage_date_sql(at),
        grant_sql(at, requested)
    )
}

/// SQL assignments that count a claim on a row picked with [`count_columns_sql`] under
/// the alias `picked`.
pub fn count_assignments_sql(picked: &str) -> String {
    format!(
        "messages_sent_today = {picked}.sent_before + {picked}.granted, \
         last_reset_date = {picked}.usage_date"
    )
}

/// SQL: the order in which `strategy` takes eligible instances, ties by id; by id alone
/// for `None`.
pub fn order_sql(strategy: Option<RotationStrategy>, at: Inputs) -> String {
    let first = match strategy {
        // Never used first, then the longest unused.
        Some(RotationStrategy::RoundRobin) => "w.last_used_at IS NOT NULL, w.last_used_at, ".into(),
        Some(RotationStrategy::LeastUsed) => format!("{}, ", sent_today_sql(at)),
        Some(RotationStrategy::MostRemaining) => {
            format!("w.daily_message_limit - {} DESC, ", sent_today_sql(at))
        }
        // Fill-first.
        Some(RotationStrategy::Priority) => "w.priority, ".into(),
        None => String::new(),
    };
    format!("{first}w.id")
}

/// SQL: the first eligible instance in `strategy`'s order, as `columns`, with `also` (an
/// SQL condition, or empty) on top of the rule. Callers add their row lock.
pub fn first_eligible_sql(
    columns: &str,
    strategy: Option<RotationStrategy>,
    at: Inputs,
    also: &str,
) -> String {
    let also = if also.is_empty() {
        String::new()
    } else {
        format!(" AND {also}")
    };
    format!(
        "SELECT {columns} FROM whatsapp_instances w WHERE {eligible}{also} ORDER BY {order} LIMIT 1",
        eligible = eligible_sql(at),
        order = order_sql(strategy, at),
    )
}
