//! A claim alone: the one-statement claim of PostgreSQL for the common request, and the
//! claim transaction for the others (sticky recipient, `priority`, exclusions, SQLite) and
//! for a one-statement claim that found every eligible row held.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};

use super::eligibility::{self, Requirement, BOUND};
use super::usage::add_daily_usage;
use super::{Claim, ClaimOutcome, ClaimRequest, NewClaim, IDEMPOTENCY_WINDOW_HOURS};
use crate::db::instances::Instance;
use crate::db::reused::{Reused, Value};
use crate::db::schema::{claims, recipient_routes, whatsapp_instances};
use crate::db::{is_unique_violation, write_transaction, DbConnection};
use crate::domain::RotationStrategy;
use crate::on_backend;

/// Picks the next eligible instance of the tenant and counts `min(count, remaining)`
/// messages on it, or replays the claim an idempotency key already made.
pub fn claim_next_instance(
    conn: &mut DbConnection,
    request: &ClaimRequest,
) -> QueryResult<ClaimOutcome> {
    if let Some(key) = &request.idempotency_key {
        if let Some(replay) = find_replay(conn, request, key)? {
            return Ok(replay);
        }
    }
    let counted = if fits_one_statement(conn, request) {
        match crate::db::with_lock_timeout(conn, |conn| claim_in_one_statement(conn, request)) {
            Ok(Some(outcome)) => {
                // The statement committed on its own: the event follows in its own
                // transaction (see `note_exhaustion`).
                if let ClaimOutcome::Granted(_, instance) = &outcome {
                    if is_full(instance, request) && request.next_reset_at.is_some() {
                        write_transaction(conn, |conn| note_exhaustion(conn, request))?;
                    }
                }
                Ok(outcome)
            }
            // Its SKIP LOCKED pick found nothing free: only waiting is left to try.
            Ok(None) => write_transaction(conn, |conn| grant(conn, request, Pick::WaitOnly)),
            Err(error) => Err(error),
        }
    } else {
        write_transaction(conn, |conn| grant(conn, request, Pick::SkipThenWait))
    };
    match counted {
        // Two requests with the same key raced: the unique index let one through, and
        // its claim is the answer to both.
        Err(error) if is_unique_violation(&error) => match &request.idempotency_key {
            Some(key) => find_replay(conn, request, key)?.ok_or(error),
            None => Err(error),
        },
        outcome => outcome,
    }
}

pub(super) fn find_replay(
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

/// The common claim (see [`fits_one_statement`]) as one statement: pick with `SKIP
/// LOCKED`, count, log and add to the daily totals in a single round trip. `None` when
/// no row was free; the transaction of [`grant`] then waits for a held one.
fn claim_in_one_statement(
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
pub(super) enum Pick {
    /// Try rows nobody holds first, then wait for a held one.
    SkipThenWait,
    /// The free rows were just tried (by the one-statement claim): wait for a held one.
    WaitOnly,
}

/// The body of the claim transaction.
pub(super) fn grant(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    pick: Pick,
) -> QueryResult<ClaimOutcome> {
    let sticky = match &request.recipient {
        Some(recipient) => routed_instance(conn, request.tenant_id, recipient)?
            .filter(|id| !request.exclude.contains(id)),
        None => None,
    };
    let mut picked = match sticky {
        Some(id) => lock_candidate(conn, request, Some(id), RowLock::Wait)?,
        None => None,
    };
    if picked.is_none() {
        picked = pick_by_strategy(conn, request, pick)?;
    }
    let Some(mut instance) = picked else {
        // An instance still waiting for its first QR scan is not one to wait for: with
        // only such instances, the tenant has none that can send (409, not 429).
        let any_active = any_able_to_send(conn, request.tenant_id)?;
        if any_active {
            // Refused for want of quota: the exhaustion is known already (a no-op, by its
            // dedupe key) or its event was lost with a process that died right after a
            // one-statement claim took the last quota; this writes it again.
            note_exhaustion(conn, request)?;
        }
        return Ok(ClaimOutcome::NoneAvailable { any_active });
    };

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
    if is_full(&instance, request) {
        note_exhaustion(conn, request)?;
    }
    Ok(ClaimOutcome::Granted(claim, instance))
}

/// The instance has no quota left on the claim's day.
pub(super) fn is_full(instance: &Instance, request: &ClaimRequest) -> bool {
    !Requirement::QuotaLeft.is_met(instance, request.today)
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

/// After a claim took an instance's last quota: when no eligible instance of the tenant
/// has quota left, `quota.exhausted` (once per tenant and day; see
/// [`crate::events::quota_exhausted`]). In the claim's transaction, except after the
/// one-statement claim of PostgreSQL, which has committed already: there it comes in a
/// transaction of its own right after, and if the process dies in between, the next claim
/// the tenant is refused for want of quota writes it.
pub(super) fn note_exhaustion(conn: &mut DbConnection, request: &ClaimRequest) -> QueryResult<()> {
    let Some(next_reset_at) = request.next_reset_at else {
        return Ok(());
    };
    let candidates = Reused::new(
        eligibility::first_eligible_sql("w.*", None, BOUND, ""),
        vec![Value::BigInt(request.tenant_id), Value::Date(request.today)],
    );
    let left: Option<Instance> = on_backend!(conn, |c| candidates.get_result(c).optional())?;
    if left.is_none() {
        crate::events::quota_exhausted(
            conn,
            request.tenant_id,
            request.today,
            next_reset_at,
            request.now,
        )?;
    }
    Ok(())
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
