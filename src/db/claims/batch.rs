//! Claims that commit together (group commit, see [`crate::sender::batch`]). On
//! PostgreSQL the spreading claims of a batch go in one call of the `relevo_claim_batch`
//! function, whose body [`claim_batch_function`] renders from [the rule](super::eligibility)
//! and whose migration a test holds to that text; on SQLite they run one after another
//! in the batch's write transaction, each as it would alone.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Date};

use super::claim::{exhausted_after, find_replay, grant, skips_held_rows, Pick};
use super::eligibility::{self, Inputs};
use super::{Claim, ClaimOutcome, ClaimRequest, Counted, IDEMPOTENCY_WINDOW_HOURS};
use crate::db::instances::Instance;
use crate::db::schema::{claims, whatsapp_instances};
use crate::db::DbConnection;
use crate::domain::RotationStrategy;

/// Claims that [`fits_one_statement`] admits, claimed in one round trip by the
/// `relevo_claim_batch` function (see its migration), inside the caller's transaction. Per
/// request, in order: what it counted, or `None` when every eligible instance was held by
/// another transaction and the claim must run alone once this one has committed.
pub fn claim_together(
    conn: &mut DbConnection,
    requests: &[&ClaimRequest],
) -> QueryResult<Vec<Option<Counted>>> {
    let DbConnection::Postgres(pg) = conn else {
        return Err(diesel::result::Error::QueryBuilderError(
            "claims are claimed together on PostgreSQL only".into(),
        ));
    };
    let rows = call_claim_batch(pg, requests)?;
    let claim_ids: Vec<i64> = rows.iter().filter_map(|row| row.claim_row_id).collect();
    let found: HashMap<i64, Claim> = claims::table
        .filter(claims::id.eq_any(&claim_ids))
        .select(Claim::as_select())
        .load(pg)?
        .into_iter()
        .map(|claim| (claim.id, claim))
        .collect();
    let instance_ids: Vec<i64> = found.values().map(|claim| claim.instance_id).collect();
    let instances: HashMap<i64, Instance> = whatsapp_instances::table
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
    let mut later: HashMap<i64, i32> = HashMap::new();
    for outcome in outcomes.iter_mut().rev() {
        if let Some(ClaimOutcome::Granted(claim, instance)) = outcome {
            let granted_later = later.entry(instance.id).or_insert(0);
            instance.messages_sent_today -= *granted_later;
            *granted_later += claim.granted;
        }
    }
    let mut counted = Vec::with_capacity(outcomes.len());
    for (request, outcome) in requests.iter().zip(outcomes) {
        counted.push(match outcome {
            Some(outcome) => Some(Counted {
                exhausted: exhausted_after(conn, request, &outcome)?,
                outcome,
            }),
            None => None,
        });
    }
    Ok(counted)
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

/// A claim as one of several in SQLite's write transaction, which commits them together:
/// the transaction holds the write lock, so every claim runs as it would alone (the
/// replay of its key, else [`grant`]). On PostgreSQL a claim in a batch must not wait for
/// a row lock while the batch holds others: there batches go through [`claim_together`],
/// and this answers `None` (run alone).
pub fn claim_in_batch(
    conn: &mut DbConnection,
    request: &ClaimRequest,
) -> QueryResult<Option<Counted>> {
    if matches!(conn, DbConnection::Postgres(_)) {
        return Ok(None);
    }
    if let Some(key) = &request.idempotency_key {
        if let Some(replay) = find_replay(conn, request, key)? {
            return Ok(Some(Counted {
                outcome: replay,
                exhausted: false,
            }));
        }
    }
    grant(conn, request, Pick::SkipThenWait).map(Some)
}

/// The rule's inputs inside `relevo_claim_batch`: element `i` of its arrays.
const ELEMENT: Inputs = Inputs {
    tenant: "p_tenant[i]",
    today: "p_today[i]",
};

/// `CREATE OR REPLACE FUNCTION relevo_claim_batch …`, rendered from [the
/// rule](eligibility) as the one-statement claim is: per element, the replay of its
/// idempotency key, or the first eligible instance in its strategy's order that no other
/// transaction holds (`SKIP LOCKED`), counted, logged and added to the daily totals. The
/// function lives in a migration (the newest that defines it); a test holds its text to
/// this one, so a change of the rule comes with a migration holding the new text.
pub fn claim_batch_function() -> String {
    let columns = format!(
        "w.id, w.counter_epoch, {} INTO picked",
        eligibility::count_columns_sql(ELEMENT, "p_count[i]")
    );
    let mut picks = String::new();
    for strategy in RotationStrategy::ALL
        .into_iter()
        .filter(|s| skips_held_rows(*s))
    {
        let pick = eligibility::first_eligible_sql(&columns, Some(strategy), ELEMENT, "");
        let keyword = if picks.is_empty() { "IF" } else { "ELSIF" };
        picks.push_str(&format!(
            "        {keyword} p_strategy[i] = '{name}' THEN\n            {pick} FOR UPDATE SKIP LOCKED;\n",
            name = strategy.as_str()
        ));
    }
    let count = eligibility::count_assignments_sql("picked");
    format!(
        r#"CREATE OR REPLACE FUNCTION relevo_claim_batch(
    p_tenant BIGINT[],
    p_count INTEGER[],
    p_strategy TEXT[],
    p_key TEXT[],
    p_token BIGINT[],
    p_public_id TEXT[],
    p_today DATE[],
    p_now TIMESTAMP[],
    p_key_window INTERVAL
) RETURNS TABLE (idx INTEGER, claim_row_id BIGINT, replayed BOOLEAN)
LANGUAGE plpgsql AS $$
DECLARE
    i INTEGER;
    earlier RECORD;
    picked RECORD;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_tenant, 1), 0) LOOP
        idx := i;
        claim_row_id := NULL;
        replayed := FALSE;
        IF p_key[i] IS NOT NULL THEN
            SELECT c.id, c.created_at INTO earlier FROM claims c
            WHERE c.tenant_id = p_tenant[i] AND c.idempotency_key = p_key[i];
            IF FOUND THEN
                IF earlier.created_at >= p_now[i] - p_key_window THEN
                    claim_row_id := earlier.id;
                    replayed := TRUE;
                    RETURN NEXT;
                    CONTINUE;
                END IF;
                -- Expired: the key is free for a new claim; the old one stays in the log.
                UPDATE claims SET idempotency_key = NULL WHERE id = earlier.id;
            END IF;
        END IF;

{picks}        ELSE
            RAISE EXCEPTION 'relevo_claim_batch: strategy % is not claimed in batches', p_strategy[i];
        END IF;
        IF NOT FOUND THEN
            RETURN NEXT;
            CONTINUE;
        END IF;

        UPDATE whatsapp_instances SET {count}, last_used_at = p_now[i]
        WHERE id = picked.id;
        INSERT INTO claims (public_id, tenant_id, instance_id, usage_date, requested, granted, strategy,
                            idempotency_key, sender_token_id, created_at, updated_at, counter_epoch)
        VALUES (p_public_id[i], p_tenant[i], picked.id, picked.usage_date, p_count[i], picked.granted,
                p_strategy[i], p_key[i], p_token[i], p_now[i], p_now[i], picked.counter_epoch)
        RETURNING id INTO claim_row_id;
        INSERT INTO instance_daily_usage (instance_id, usage_date, tenant_id, granted, released, updated_at)
        VALUES (picked.id, picked.usage_date, p_tenant[i], picked.granted, 0, p_now[i])
        ON CONFLICT (instance_id, usage_date) DO UPDATE
        SET granted = instance_daily_usage.granted + EXCLUDED.granted, updated_at = EXCLUDED.updated_at;
        RETURN NEXT;
    END LOOP;
END
$$;
"#
    )
}

#[cfg(test)]
mod tests {
    use super::claim_batch_function;

    /// The newest migration that defines `relevo_claim_batch`.
    const MIGRATION: &str = "migrations/postgres/2026-12-07-002200_one_claim_rule/up.sql";

    /// Comments dropped, whitespace collapsed: the text PostgreSQL runs.
    fn normalised(sql: &str) -> String {
        sql.lines()
            .map(|line| line.split("--").next().unwrap_or(""))
            .flat_map(str::split_whitespace)
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn the_batch_function_in_the_migrations_is_the_rule_rendered() {
        let migration =
            include_str!("../../../migrations/postgres/2026-12-07-002200_one_claim_rule/up.sql");
        let rendered = claim_batch_function();
        assert!(
            normalised(migration) == normalised(&rendered),
            "{MIGRATION} is not the rule as `claim_batch_function` renders it; after a change \
             of the rule, put this text into a new migration (and point this test at it):\n\n{rendered}"
        );
    }
}
