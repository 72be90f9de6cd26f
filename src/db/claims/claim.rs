//! A claim alone: the one-statement claim of PostgreSQL for the common request, and the
//! body of the claim transaction for the others (sticky recipient, `priority`,
//! exclusions, SQLite) and for a one-statement claim that found every eligible row held.
//! Which runs when, and what follows a claim, is the sender service's
//! (`sender::claim`): these answer what a claim counted and whether it left the tenant
//! without quota.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};

use super::eligibility::{self, Requirement, BOUND};
use super::usage::add_daily_usage;
use super::{Claim, ClaimOutcome, ClaimRequest, Counted, NewClaim, IDEMPOTENCY_WINDOW_HOURS};
use crate::db::instances::Instance;
use crate::db::reused::{Reused, Value};
use crate::db::schema::{claims, recipient_routes, whatsapp_instances};
use crate::db::DbConnection;
use crate::domain::RotationStrategy;
use crate::on_backend;

/// The claim the idempotency key `key` already made, if it is still within its window.
/// An expired key is freed for a new claim (the old one stays in the log).
pub fn find_replay(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    key: &str,
) -> QueryResult<Option<ClaimOutcome>> {
    let Some(claim) = claims::table
        .filter(claims::tenant_id.eq(request.tenant_id))
        .filter(claims::idempotency_key.eq(key))
        .select(Claim::as_select())
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    if claim.created_at < request.now - Duration::hours(IDEMPOTENCY_WINDOW_HOURS) {
        // Expired: the key is free for a new claim; the old one stays in the log.
        diesel::update(claims::table.find(claim.id))
            .set(claims::idempotency_key.eq(None::<String>))
            .execute(conn)?;
        return Ok(None);
    }
    let instance = whatsapp_instances::table
        .find(claim.instance_id)
        .select(Instance::as_select())
        .first(conn)
        .optional()?;
    Ok(Some(ClaimOutcome::Replayed(claim, instance)))
}

/// The common claim on PostgreSQL: no recipient to stick to, nothing excluded, a strategy
/// that [`skips_held_rows`]. It runs as one statement alone, and in one
/// `relevo_claim_batch` call with others.
pub fn fits_one_statement(conn: &DbConnection, request: &ClaimRequest) -> bool {
    matches!(conn, DbConnection::Postgres(_))
        && request.recipient.is_none()
        && request.exclude.is_empty()
        && skips_held_rows(request.strategy)
}

/// Whether the strategy's claims may pass over rows other claimers hold, to spread
/// concurrent claims. Fill-first (`priority`) must not jump the queue: it waits its turn.
pub(super) fn skips_held_rows(strategy: RotationStrategy) -> bool {
    strategy != RotationStrategy::Priority
}

/// The common claim (see [`fits_one_statement`]) as one statement, which commits on its
/// own: pick with `SKIP LOCKED`, count, log and add to the daily totals in a single round
/// trip, waiting for a lock no longer than `RELEVO_DB_TIMEOUT_MS`. `None` when no row was
/// free; the transaction of [`grant`] then waits for a held one.
pub fn claim_in_one_statement(
    conn: &mut DbConnection,
    request: &ClaimRequest,
) -> QueryResult<Option<ClaimOutcome>> {
    crate::db::with_lock_timeout(conn, |conn| one_statement(conn, request))
}

fn one_statement(
    conn: &mut DbConnection,
    request: &ClaimRequest,
) -> QueryResult<Option<ClaimOutcome>> {
    let DbConnection::Postgres(pg) = conn else {
        return Ok(None);
    };
    let public_id = uuid::Uuid::new_v4().to_string();
    let claim = Reused::new(
        one_statement_sql(request.strategy),
        vec![
            Value::BigInt(request.tenant_id),
            Value::Date(request.today),
            Value::Integer(request.count),
            Value::Timestamp(request.now),
            Value::Text(public_id.clone()),
            Value::Text(request.strategy.as_str().to_string()),
            Value::OptionalText(request.idempotency_key.clone()),
            Value::OptionalBigInt(request.sender_token_id),
        ],
    );
    let row: Option<CountedRow> = claim.get_result(pg).optional()?;
    Ok(row.map(|row| {
        let claim = Claim {
            id: row.claim_row_id,
            public_id,
            tenant_id: request.tenant_id,
            instance_id: row.instance.id,
            usage_date: row.claim_date,
            requested: request.count,
            granted: row.granted,
            released: 0,
            strategy: request.strategy.as_str().to_string(),
            recipient: None,
            idempotency_key: request.idempotency_key.clone(),
            sender_token_id: request.sender_token_id,
            created_at: request.now,
            updated_at: request.now,
            counter_epoch: row.instance.counter_epoch,
        };
        ClaimOutcome::Granted(claim, row.instance)
    }))
}

/// The one-statement claim, rendered from [the rule](eligibility): `$1` tenant, `$2`
/// today, `$3` count, `$4` now, `$5` the claim's public id, `$6` strategy, `$7`
/// idempotency key, `$8` sender token.
fn one_statement_sql(strategy: RotationStrategy) -> String {
    let columns = format!("w.id, {}", eligibility::count_columns_sql(BOUND, "$3"));
    let picked = eligibility::first_eligible_sql(&columns, Some(strategy), BOUND, "");
    let count = eligibility::count_assignments_sql("p");
    format!(
        "WITH picked AS ({picked} FOR UPDATE SKIP LOCKED), \
         counted AS ( \
             UPDATE whatsapp_instances AS w SET {count}, last_used_at = $4 \
             FROM picked AS p WHERE w.id = p.id \
             RETURNING w.*, p.granted, p.usage_date AS claim_date), \
         logged AS ( \
             INSERT INTO claims (public_id, tenant_id, instance_id, usage_date, requested, granted, \
                                 strategy, idempotency_key, sender_token_id, created_at, updated_at, \
                                 counter_epoch) \
             SELECT $5, $1, id, claim_date, $3, granted, $6, $7, $8, $4, $4, counter_epoch FROM counted \
             RETURNING id AS claim_row_id), \
         totals AS ( \
             INSERT INTO instance_daily_usage (instance_id, usage_date, tenant_id, granted, released, updated_at) \
             SELECT id, claim_date, $1, granted, 0, $4 FROM counted \
             ON CONFLICT (instance_id, usage_date) DO UPDATE \
             SET granted = instance_daily_usage.granted + EXCLUDED.granted, updated_at = EXCLUDED.updated_at) \
         SELECT counted.*, logged.claim_row_id FROM counted, logged"
    )
}
#[derive(QueryableByName)]
struct CountedRow {
    #[diesel(embed)]
    instance: Instance,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    granted: i32,
    #[diesel(sql_type = Date)]
    claim_date: NaiveDate,
    #[diesel(sql_type = BigInt)]
    claim_row_id: i64,
}

/// How the claim transaction picks when no sticky instance serves.
#[derive(Clone, Copy, PartialEq)]
pub enum Pick {
    /// Try rows nobody holds first, then wait for a held one.
    SkipThenWait,
    /// The free rows were just tried (by the one-statement claim): wait for a held one.
    WaitOnly,
}

/// The body of the claim transaction: picks, counts, logs and routes the recipient, and
/// tells whether the claim left the tenant without quota.
pub fn grant(conn: &mut DbConnection, request: &ClaimRequest, pick: Pick) -> QueryResult<Counted> {
    let outcome = match pick_instance(conn, request, pick)? {
        Some(instance) => count_on(conn, request, instance)?,
        // An instance still waiting for its first QR scan is not one to wait for: with
        // only such instances, the tenant has none that can send (409, not 429).
        None => ClaimOutcome::NoneAvailable {
            any_active: any_able_to_send(conn, request.tenant_id)?,
        },
    };
    let exhausted = exhausted_after(conn, request, &outcome)?;
    Ok(Counted { outcome, exhausted })
}

/// The instance the claim goes to, locked: the recipient's sticky one if it still
/// qualifies, else the strategy's pick.
fn pick_instance(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    pick: Pick,
) -> QueryResult<Option<Instance>> {
    let sticky = match &request.recipient {
        Some(recipient) => routed_instance(conn, request.tenant_id, recipient)?
            .filter(|id| !request.exclude.contains(id)),
        None => None,
    };
    if let Some(id) = sticky {
        if let Some(instance) = lock_candidate(conn, request, Some(id), RowLock::Wait)? {
            return Ok(Some(instance));
        }
    }
    pick_by_strategy(conn, request, pick)
}

/// Counts the claim on `instance`, logs it, adds it to the daily totals and routes the
/// recipient to the instance.
fn count_on(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    mut instance: Instance,
) -> QueryResult<ClaimOutcome> {
    let usage = instance.usage_on(request.today);
    let granted = usage.grant(request.count);
    debug_assert!(
        granted > 0,
        "the candidate query returns instances with quota"
    );
    let count = Reused::new(
        "UPDATE whatsapp_instances SET messages_sent_today = $1, last_reset_date = $2, \
         last_used_at = $3 WHERE id = $4",
        vec![
            Value::Integer(usage.sent + granted),
            Value::Date(usage.date),
            Value::Timestamp(request.now),
            Value::BigInt(instance.id),
        ],
    );
    on_backend!(conn, |c| count.execute(c))?;
    instance.messages_sent_today = usage.sent + granted;
    instance.last_reset_date = usage.date;
    instance.last_used_at = Some(request.now);

    let new_claim = NewClaim {
        public_id: uuid::Uuid::new_v4().to_string(),
        tenant_id: request.tenant_id,
        instance_id: instance.id,
        usage_date: usage.date,
        requested: request.count,
        granted,
        strategy: request.strategy.as_str(),
        recipient: request.recipient.as_deref(),
        idempotency_key: request.idempotency_key.as_deref(),
        sender_token_id: request.sender_token_id,
        created_at: request.now,
        updated_at: request.now,
        counter_epoch: instance.counter_epoch,
    };
    let claim = on_backend!(conn, |c| diesel::insert_into(claims::table)
        .values(&new_claim)
        .returning(Claim::as_returning())
        .get_result(c))?;
    add_daily_usage(
        conn,
        (instance.id, instance.tenant_id),
        usage.date,
        granted,
        0,
        request.now,
    )?;
    if let Some(recipient) = &request.recipient {
        route_recipient(conn, request.tenant_id, recipient, instance.id, request.now)?;
    }
    Ok(ClaimOutcome::Granted(claim, instance))
}

/// Whether `outcome` may have left the tenant without quota, for a request that asks
/// (see [`ClaimRequest::next_reset_at`]): a grant that took its instance's last quota,
/// or a refusal of a tenant with active instances (whose exhaustion is known already, or
/// was lost with a process that died right after a one-statement claim). Reads nothing;
/// [`exhausted_after`] looks it up.
pub fn may_exhaust(outcome: &ClaimOutcome, request: &ClaimRequest) -> bool {
    if request.next_reset_at.is_none() {
        return false;
    }
    match outcome {
        ClaimOutcome::Granted(_, instance) => {
            !Requirement::QuotaLeft.is_met(instance, request.today)
        }
        ClaimOutcome::NoneAvailable { any_active } => *any_active,
        ClaimOutcome::Replayed(..) => false,
    }
}

/// Whether `outcome` left the tenant without quota on the claim's day: it
/// [may have](may_exhaust), and no eligible instance of the tenant has quota left.
pub fn exhausted_after(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    outcome: &ClaimOutcome,
) -> QueryResult<bool> {
    if !may_exhaust(outcome, request) {
        return Ok(false);
    }
    let candidates = Reused::new(
        eligibility::first_eligible_sql("w.*", None, BOUND, ""),
        vec![Value::BigInt(request.tenant_id), Value::Date(request.today)],
    );
    let left: Option<Instance> = on_backend!(conn, |c| candidates.get_result(c).optional())?;
    Ok(left.is_none())
}

/// Whether the tenant has an active instance that was ever able to send: then a claim
/// refused is refused for want of quota or connection, not for want of instances.
fn any_able_to_send(conn: &mut DbConnection, tenant_id: i64) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        found: bool,
    }
    let able = eligibility::meets_sql(&[Requirement::Active, Requirement::Paired], BOUND);
    let query = Reused::new(
        format!("SELECT EXISTS (SELECT 1 FROM whatsapp_instances w WHERE {able}) AS found"),
        vec![Value::BigInt(tenant_id)],
    );
    let row: Found = on_backend!(conn, |c| query.get_result(c))?;
    Ok(row.found)
}

#[derive(Clone, Copy, PartialEq)]
enum RowLock {
    /// Pass over rows another claimer holds (PostgreSQL), to spread concurrent claims.
    SkipLocked,
    /// Wait for a held row and re-check it once it is released.
    Wait,
    /// As `Wait`, trying rows by id whatever the strategy. A row that no longer
    /// qualifies once its holder is done stays locked while the query moves on, so
    /// waiters going through rows in different orders could deadlock; one global order
    /// rules that out.
    WaitInIdOrder,
}

fn pick_by_strategy(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    pick: Pick,
) -> QueryResult<Option<Instance>> {
    if !skips_held_rows(request.strategy) {
        return lock_candidate(conn, request, None, RowLock::Wait);
    }
    if pick == Pick::SkipThenWait {
        let unlocked = lock_candidate(conn, request, None, RowLock::SkipLocked)?;
        if unlocked.is_some() || matches!(conn, DbConnection::Sqlite(_)) {
            return Ok(unlocked);
        }
    }
    // Every eligible row is held by another claimer at this moment. Skipping them all
    // would answer "none available" while quota remains; wait for one instead.
    lock_candidate(conn, request, None, RowLock::WaitInIdOrder)
}

/// The best eligible instance for the strategy (or `only` that one), locked for the
/// rest of the transaction. On SQLite the transaction already holds the write lock.
fn lock_candidate(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    only: Option<i64>,
    lock: RowLock,
) -> QueryResult<Option<Instance>> {
    let order = match lock {
        RowLock::WaitInIdOrder => None,
        RowLock::SkipLocked | RowLock::Wait => Some(request.strategy),
    };
    let mut also: Vec<String> = Vec::new();
    if only.is_some() {
        also.push("w.id = $3".into());
    }
    if !request.exclude.is_empty() {
        // Ids are integers read from the database: written into the statement, not bound.
        let ids: Vec<String> = request.exclude.iter().map(i64::to_string).collect();
        also.push(format!("w.id NOT IN ({})", ids.join(", ")));
    }
    let mut sql = eligibility::first_eligible_sql("w.*", order, BOUND, &also.join(" AND "));
    if matches!(conn, DbConnection::Postgres(_)) {
        sql.push_str(match lock {
            RowLock::SkipLocked => " FOR UPDATE SKIP LOCKED",
            RowLock::Wait | RowLock::WaitInIdOrder => " FOR UPDATE",
        });
    }
    let mut values = vec![Value::BigInt(request.tenant_id), Value::Date(request.today)];
    values.extend(only.map(Value::BigInt));
    let mut candidates = Reused::new(sql, values);
    if !request.exclude.is_empty() {
        // Excluded ids are written into the text: each list would be a statement of its
        // own, kept for the connection's life.
        candidates = candidates.once();
    }
    on_backend!(conn, |c| candidates.get_result(c).optional())
}

fn routed_instance(
    conn: &mut DbConnection,
    tenant_id: i64,
    recipient: &str,
) -> QueryResult<Option<i64>> {
    recipient_routes::table
        .find((tenant_id, recipient))
        .select(recipient_routes::instance_id)
        .first(conn)
        .optional()
}

fn route_recipient(
    conn: &mut DbConnection,
    tenant_id: i64,
    recipient: &str,
    instance_id: i64,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let route = Reused::new(
        "INSERT INTO recipient_routes (tenant_id, recipient, instance_id, updated_at) \
         VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, recipient) DO UPDATE SET instance_id = $3, updated_at = $4",
        vec![
            Value::BigInt(tenant_id),
            Value::Text(recipient.to_string()),
            Value::BigInt(instance_id),
            Value::Timestamp(now),
        ],
    );
    on_backend!(conn, |c| route.execute(c))
}
