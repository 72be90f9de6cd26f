//! The send log and the atomic claim. Picking an instance and counting messages on it
//! happen under one row lock (PostgreSQL) or the database's write lock (SQLite), so
//! concurrent claimers, in one process or in many, never push an instance past its limit.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};

use super::instances::Instance;
use super::reused::{Reused, Value};
use super::schema::{
    claim_releases, claims, instance_daily_usage, recipient_routes, whatsapp_instances,
};
use super::{is_unique_violation, write_transaction, DbConnection};
use crate::domain::{ConnectionStatus, DailyUsage, RotationStrategy};
use crate::on_backend;

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
    /// When the tenant's day ends, if the tenant wants `quota.exhausted` (it has a
    /// callback URL): a claim that takes the last quota of the day writes the event.
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
        match super::with_lock_timeout(conn, |conn| claim_in_one_statement(conn, request)) {
            Ok(Some(outcome)) => {
                // The statement committed on its own: the event follows in its own
                // transaction (see `note_exhaustion`).
                if let ClaimOutcome::Granted(_, instance) = &outcome {
                    if is_full(instance) && request.next_reset_at.is_some() {
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

/// Claims that [`fits_one_statement`] admits, claimed in one round trip by the
/// `relevo_claim_batch` function (see its migration), inside the caller's transaction. Per
/// request, in order: its outcome, or `None` when every eligible instance was held by
/// another transaction and the claim must run alone once this one has committed.
pub fn claim_together(
    conn: &mut DbConnection,
    requests: &[&ClaimRequest],
) -> QueryResult<Vec<Option<ClaimOutcome>>> {
    let DbConnection::Postgres(pg) = conn else {
        return Err(diesel::result::Error::QueryBuilderError(
            "claims are claimed together on PostgreSQL only".into(),
        ));
    };
    let rows = call_claim_batch(pg, requests)?;
    let claim_ids: Vec<i64> = rows.iter().filter_map(|row| row.claim_row_id).collect();
    let found: std::collections::HashMap<i64, Claim> = claims::table
        .filter(claims::id.eq_any(&claim_ids))
        .select(Claim::as_select())
        .load(pg)?
        .into_iter()
        .map(|claim| (claim.id, claim))
        .collect();
    let instance_ids: Vec<i64> = found.values().map(|claim| claim.instance_id).collect();
    let instances: std::collections::HashMap<i64, Instance> = whatsapp_instances::table
        .filter(whatsapp_instances::id.eq_any(&instance_ids))
        .select(Instance::as_select())
        .load(pg)?
        .into_iter()
        .map(|instance| (instance.id, instance))
        .collect();

    let mut outcomes: Vec<Option<ClaimOutcome>> = requests.iter().map(|_| None).collect();
    for row in rows {
        // A key repeated in the batch replays the claim an earlier element made.
        let Some(claim) = row.claim_row_id.and_then(|id| found.get(&id).cloned()) else {
            continue;
        };
        let instance = instances.get(&claim.instance_id).cloned();
        let slot = usize::try_from(row.idx - 1)
            .ok()
            .and_then(|i| outcomes.get_mut(i));
        let Some(slot) = slot else { continue };
        *slot = Some(match (row.replayed, instance) {
            (true, instance) => ClaimOutcome::Replayed(claim, instance),
            (false, Some(instance)) => ClaimOutcome::Granted(claim, instance),
            (false, None) => {
                return Err(diesel::result::Error::QueryBuilderError(
                    "a claim counted on an instance that is gone".into(),
                ))
            }
        });
    }
    // The instances were read as the whole batch left them: each grant shows the counter
    // as its own claim left it, as a claim alone does, so later grants come off.
    let mut later: std::collections::HashMap<i64, i32> = std::collections::HashMap::new();
    for (request, outcome) in requests.iter().zip(outcomes.iter_mut()).rev() {
        if let Some(ClaimOutcome::Granted(claim, instance)) = outcome {
            let granted_later = later.entry(instance.id).or_insert(0);
            instance.messages_sent_today -= *granted_later;
            *granted_later += claim.granted;
            if is_full(instance) && request.next_reset_at.is_some() {
                note_exhaustion(conn, request)?;
            }
        }
    }
    Ok(outcomes)
}

/// What `relevo_claim_batch` says of one element: its claim, and whether it was replayed.
#[derive(QueryableByName)]
struct BatchRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    idx: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    claim_row_id: Option<i64>,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    replayed: bool,
}

/// One call of `relevo_claim_batch` with the requests as arrays, element by element.
fn call_claim_batch(
    pg: &mut diesel::PgConnection,
    requests: &[&ClaimRequest],
) -> QueryResult<Vec<BatchRow>> {
    use diesel::sql_types::{Array, Integer, Nullable, Text, Timestamp};
    fn column<T>(requests: &[&ClaimRequest], value: impl Fn(&ClaimRequest) -> T) -> Vec<T> {
        requests.iter().map(|request| value(request)).collect()
    }
    diesel::sql_query(
        "SELECT idx, claim_row_id, replayed FROM relevo_claim_batch($1, $2, $3, $4, $5, $6, $7, $8, \
         make_interval(hours => $9))",
    )
    .bind::<Array<BigInt>, _>(column(requests, |r| r.tenant_id))
    .bind::<Array<Integer>, _>(column(requests, |r| r.count))
    .bind::<Array<Text>, _>(column(requests, |r| r.strategy.as_str()))
    .bind::<Array<Nullable<Text>>, _>(column(requests, |r| r.idempotency_key.clone()))
    .bind::<Array<Nullable<BigInt>>, _>(column(requests, |r| r.sender_token_id))
    .bind::<Array<Text>, _>(column(requests, |_| uuid::Uuid::new_v4().to_string()))
    .bind::<Array<Date>, _>(column(requests, |r| r.today))
    .bind::<Array<Timestamp>, _>(column(requests, |r| r.now))
    .bind::<Integer, _>(IDEMPOTENCY_WINDOW_HOURS as i32)
    .load(pg)
}

/// [`claim_next_instance`] as one of several claims in SQLite's write transaction, which
/// commits them together: the transaction holds the write lock, so every claim runs as it
/// would alone. On PostgreSQL a claim in a batch must not wait for a row lock while the
/// batch holds others: there batches go through [`claim_together`], and this answers
/// `None` (run alone).
pub fn claim_in_batch(
    conn: &mut DbConnection,
    request: &ClaimRequest,
) -> QueryResult<Option<ClaimOutcome>> {
    if matches!(conn, DbConnection::Postgres(_)) {
        return Ok(None);
    }
    if let Some(key) = &request.idempotency_key {
        if let Some(replay) = find_replay(conn, request, key)? {
            return Ok(Some(replay));
        }
    }
    grant(conn, request, Pick::SkipThenWait).map(Some)
}

fn find_replay(
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

/// The common claim on PostgreSQL: no recipient to stick to, a spreading strategy. It
/// runs as one statement alone, and in one `relevo_claim_batch` call with others.
pub fn fits_one_statement(conn: &DbConnection, request: &ClaimRequest) -> bool {
    matches!(conn, DbConnection::Postgres(_))
        && request.recipient.is_none()
        && request.exclude.is_empty()
        && request.strategy != RotationStrategy::Priority
}

/// The common claim (see [`fits_one_statement`]) as one statement: pick with `SKIP
/// LOCKED`, count, log and add to the daily totals in a single round trip. `None` when
/// no row was free; the transaction of [`grant`] then waits for a held one. The
/// arithmetic is [`crate::domain::DailyUsage`]'s, in SQL.
fn claim_in_one_statement(
    conn: &mut DbConnection,
    request: &ClaimRequest,
) -> QueryResult<Option<ClaimOutcome>> {
    use diesel::sql_types::{Integer, Nullable, Text, Timestamp};
    let DbConnection::Postgres(pg) = conn else {
        return Ok(None);
    };
    let candidates = candidate_query(Some(request.strategy), false, &[]);
    let sql = format!(
        "WITH picked AS ({candidates} FOR UPDATE SKIP LOCKED), \
         counted AS ( \
             UPDATE whatsapp_instances AS w \
             SET messages_sent_today = p.sent_before + LEAST($3, p.daily_message_limit - p.sent_before), \
                 last_reset_date = p.usage_date, last_used_at = $4 \
             FROM (SELECT id, daily_message_limit, GREATEST(last_reset_date, $2) AS usage_date, \
                          CASE WHEN last_reset_date >= $2 THEN messages_sent_today ELSE 0 END AS sent_before \
                   FROM picked) AS p \
             WHERE w.id = p.id \
             RETURNING w.*, LEAST($3, p.daily_message_limit - p.sent_before) AS granted, \
                       p.usage_date AS claim_date), \
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
    );
    let public_id = uuid::Uuid::new_v4().to_string();
    let row: Option<CountedRow> = diesel::sql_query(sql)
        .bind::<BigInt, _>(request.tenant_id)
        .bind::<Date, _>(request.today)
        .bind::<Integer, _>(request.count)
        .bind::<Timestamp, _>(request.now)
        .bind::<Text, _>(&public_id)
        .bind::<Text, _>(request.strategy.as_str())
        .bind::<Nullable<Text>, _>(request.idempotency_key.as_deref())
        .bind::<Nullable<BigInt>, _>(request.sender_token_id)
        .get_result(pg)
        .optional()?;
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
enum Pick {
    /// Try rows nobody holds first, then wait for a held one.
    SkipThenWait,
    /// The free rows were just tried (by the one-statement claim): wait for a held one.
    WaitOnly,
}

/// The body of the claim transaction.
fn grant(conn: &mut DbConnection, request: &ClaimRequest, pick: Pick) -> QueryResult<ClaimOutcome> {
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
        let any_active = diesel::select(diesel::dsl::exists(
            whatsapp_instances::table
                .filter(whatsapp_instances::tenant_id.eq(request.tenant_id))
                .filter(whatsapp_instances::is_active.eq(true))
                .filter(
                    whatsapp_instances::provisioned
                        .eq(false)
                        .or(whatsapp_instances::connected_at.is_not_null()),
                ),
        ))
        .get_result(conn)?;
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
    if is_full(&instance) {
        note_exhaustion(conn, request)?;
    }
    Ok(ClaimOutcome::Granted(claim, instance))
}

/// The instance has no quota left today (it was just counted on, so its count is today's).
fn is_full(instance: &Instance) -> bool {
    instance.messages_sent_today >= instance.daily_message_limit
}

/// After a claim took an instance's last quota: when no eligible instance of the tenant
/// has quota left, `quota.exhausted` (once per tenant and day; see
/// [`crate::events::quota_exhausted`]). In the claim's transaction, except after the
/// one-statement claim of PostgreSQL, which has committed already: there it comes in a
/// transaction of its own right after, and if the process dies in between, the next claim
/// the tenant is refused for want of quota writes it.
fn note_exhaustion(conn: &mut DbConnection, request: &ClaimRequest) -> QueryResult<()> {
    let Some(next_reset_at) = request.next_reset_at else {
        return Ok(());
    };
    let candidates = Reused::new(
        candidate_query(None, false, &[]),
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
    // Fill-first must not jump the queue, so `priority` always waits its turn.
    if request.strategy == RotationStrategy::Priority {
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
    let mut sql = candidate_query(order, only.is_some(), &request.exclude);
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

/// Eligible (SPEC §6): active, not known to be disconnected or in error, paired at least
/// once if Relevo provisioned it (one still waiting for its first QR scan cannot send), quota left today
/// (yesterday's count does not hold today), not `excluded`, in the strategy's order (by id
/// alone for `None`). `$1` tenant, `$2` today, `$3` the one instance asked for.
fn candidate_query(strategy: Option<RotationStrategy>, only_one: bool, excluded: &[i64]) -> String {
    const SENT_TODAY: &str = "CASE WHEN last_reset_date >= $2 THEN messages_sent_today ELSE 0 END";
    let order = match strategy {
        // Never used first, then the longest unused.
        Some(RotationStrategy::RoundRobin) => "last_used_at IS NOT NULL, last_used_at, ".into(),
        Some(RotationStrategy::LeastUsed) => format!("{SENT_TODAY}, "),
        Some(RotationStrategy::MostRemaining) => {
            format!("daily_message_limit - {SENT_TODAY} DESC, ")
        }
        Some(RotationStrategy::Priority) => "priority, ".into(),
        None => String::new(),
    };
    let only = if only_one { " AND id = $3" } else { "" };
    // Ids are integers read from the database: written into the statement, not bound.
    let excluded = match excluded {
        [] => String::new(),
        ids => {
            let list: Vec<String> = ids.iter().map(i64::to_string).collect();
            format!(" AND id NOT IN ({})", list.join(", "))
        }
    };
    let sendable = ConnectionStatus::sendable_sql();
    format!(
        "SELECT * FROM whatsapp_instances \
         WHERE tenant_id = $1 AND is_active \
         AND connection_status IN {sendable} \
         AND (NOT provisioned OR connected_at IS NOT NULL) \
         AND daily_message_limit > {SENT_TODAY}{only}{excluded} \
         ORDER BY {order}id LIMIT 1"
    )
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

/// Adds to the daily totals of `(instance_id, tenant_id)`.
fn add_daily_usage(
    conn: &mut DbConnection,
    (instance_id, tenant_id): (i64, i64),
    date: NaiveDate,
    granted: i32,
    released: i32,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    let add = Reused::new(
        "INSERT INTO instance_daily_usage \
         (instance_id, usage_date, tenant_id, granted, released, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (instance_id, usage_date) DO UPDATE \
         SET granted = instance_daily_usage.granted + $4, \
             released = instance_daily_usage.released + $5, updated_at = $6",
        vec![
            Value::BigInt(instance_id),
            Value::Date(date),
            Value::BigInt(tenant_id),
            Value::Integer(granted),
            Value::Integer(released),
            Value::Timestamp(now),
        ],
    );
    on_backend!(conn, |c| add.execute(c))
}

#[derive(Debug)]
pub enum ReleaseOutcome {
    /// The claim after the release, with what this call gave back (0 on a repeat) and
    /// its instance's counter today (`None` if the instance was deleted since).
    Released {
        claim: Claim,
        given_back: i32,
        /// The instance's counter was reset after the claim: the release is recorded
        /// (log, history, credits) but gives nothing back to the new count.
        counted_before_reset: bool,
        usage: Option<DailyUsage>,
    },
    NotFound,
    /// Releases belong to the claim's local day; after it, the count is history.
    DayOver(Claim),
    /// `unsent` is more than the claim was granted.
    MoreThanGranted(Claim),
}

/// Records that `unsent` messages of a claim (all of them when `None`) were not sent:
/// the difference to what was already released leaves the log's daily totals (history
/// and credits, also for a deleted instance) and goes back to the instance's count,
/// if the claim belongs to that count. Repeating a release gives nothing back twice.
pub fn release_claim(
    conn: &mut DbConnection,
    tenant_id: i64,
    public_id: &str,
    unsent: Option<i32>,
    today: NaiveDate,
    now: NaiveDateTime,
) -> QueryResult<ReleaseOutcome> {
    write_transaction(conn, |conn| {
        let find = claims::table
            .filter(claims::tenant_id.eq(tenant_id))
            .filter(claims::public_id.eq(public_id));
        let claim = match conn {
            DbConnection::Postgres(pg) => find
                .select(Claim::as_select())
                .for_update()
                .first(pg)
                .optional()?,
            DbConnection::Sqlite(sqlite) => {
                find.select(Claim::as_select()).first(sqlite).optional()?
            }
        };
        let Some(mut claim) = claim else {
            return Ok(ReleaseOutcome::NotFound);
        };
        if claim.usage_date != today {
            return Ok(ReleaseOutcome::DayOver(claim));
        }
        let unsent = unsent.unwrap_or(claim.granted);
        if unsent > claim.granted {
            return Ok(ReleaseOutcome::MoreThanGranted(claim));
        }
        let newly_released = (unsent - claim.released).max(0);
        // Locked before deciding, so that a reset-counter cannot slip in between.
        let instance = find_instance_for_update(conn, claim.instance_id)?;
        let counted_before_reset = instance
            .as_ref()
            .is_some_and(|instance| instance.counter_epoch != claim.counter_epoch);
        // The claim's messages stand in the counter only while it is the count the
        // claim was made in, on the claim's day.
        let in_count = instance.as_ref().map(|instance| {
            !counted_before_reset && instance.usage_on(today).date == claim.usage_date
        });
        let given_back = match in_count {
            Some(false) => 0,
            Some(true) | None => newly_released,
        };
        if newly_released > 0 {
            diesel::update(claims::table.find(claim.id))
                .set((claims::released.eq(unsent), claims::updated_at.eq(now)))
                .execute(conn)?;
            claim.released = unsent;
            claim.updated_at = now;
            diesel::insert_into(claim_releases::table)
                .values((
                    claim_releases::claim_id.eq(claim.id),
                    claim_releases::released.eq(newly_released),
                    claim_releases::created_at.eq(now),
                ))
                .execute(conn)?;
            add_daily_usage(
                conn,
                (claim.instance_id, claim.tenant_id),
                claim.usage_date,
                0,
                newly_released,
                now,
            )?;
        }
        let usage = match instance {
            Some(mut instance) => {
                if in_count == Some(true) && given_back > 0 {
                    let usage = instance.usage_on(today);
                    let sent = (usage.sent - given_back).max(0);
                    diesel::update(whatsapp_instances::table.find(instance.id))
                        .set(whatsapp_instances::messages_sent_today.eq(sent))
                        .execute(conn)?;
                    instance.messages_sent_today = sent;
                }
                Some(instance.usage_on(today))
            }
            None => None,
        };
        Ok(ReleaseOutcome::Released {
            claim,
            given_back,
            counted_before_reset,
            usage,
        })
    })
}

fn find_instance_for_update(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Instance>> {
    let find = whatsapp_instances::table.find(id);
    match conn {
        DbConnection::Postgres(pg) => find
            .select(Instance::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => find.select(Instance::as_select()).first(sqlite).optional(),
    }
}

/// One day of an instance's (or a tenant's) log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DayTotals {
    pub date: NaiveDate,
    pub granted: i64,
    pub released: i64,
}

/// Per-day totals from `since` on, for one instance or, with `instance_id` `None`,
/// for the whole tenant. Days without claims are absent.
pub fn daily_totals(
    conn: &mut DbConnection,
    tenant_id: i64,
    instance_id: Option<i64>,
    since: NaiveDate,
) -> QueryResult<Vec<DayTotals>> {
    use diesel::dsl::sum;
    use instance_daily_usage as usage;
    let mut query = usage::table
        .filter(usage::tenant_id.eq(tenant_id))
        .filter(usage::usage_date.ge(since))
        .group_by(usage::usage_date)
        .select((usage::usage_date, sum(usage::granted), sum(usage::released)))
        .order(usage::usage_date.asc())
        .into_boxed();
    if let Some(id) = instance_id {
        query = query.filter(usage::instance_id.eq(id));
    }
    let rows: Vec<(NaiveDate, Option<i64>, Option<i64>)> = query.load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(date, granted, released)| DayTotals {
            date,
            granted: granted.unwrap_or(0),
            released: released.unwrap_or(0),
        })
        .collect())
}

/// WhatsApp messages a tenant has used so far (granted minus released, all days) and
/// when its log last changed.
pub fn tenant_usage(
    conn: &mut DbConnection,
    tenant_id: i64,
) -> QueryResult<(i64, Option<NaiveDateTime>)> {
    use diesel::dsl::{max, sum};
    use instance_daily_usage as usage;
    let (granted, released, last): (Option<i64>, Option<i64>, Option<NaiveDateTime>) = usage::table
        .filter(usage::tenant_id.eq(tenant_id))
        .select((
            sum(usage::granted),
            sum(usage::released),
            max(usage::updated_at),
        ))
        .first(conn)?;
    Ok((granted.unwrap_or(0) - released.unwrap_or(0), last))
}
