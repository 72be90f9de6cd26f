//! A claim and what follows it: the claim counts in `db::claims`, and the claim that
//! leaves the tenant without quota for the day writes `quota.exhausted` (once per tenant
//! and day) in its own transaction, so the event is never there without the claim, nor
//! the claim without the event.

use diesel::QueryResult;

use crate::db::claims::{self, ClaimOutcome, ClaimRequest, Counted, Pick};
use crate::db::{is_unique_violation, write_transaction, DbConnection};
use crate::events;

/// Picks the next eligible instance of the tenant and counts `min(count, remaining)`
/// messages on it, or replays the claim an idempotency key already made. Called inside a
/// transaction, the claim runs in a savepoint of it.
pub fn claim_next_instance(
    conn: &mut DbConnection,
    request: &ClaimRequest,
) -> QueryResult<ClaimOutcome> {
    if let Some(key) = &request.idempotency_key {
        if let Some(replay) = claims::find_replay(conn, request, key)? {
            return Ok(replay);
        }
    }
    let counted = if claims::fits_one_statement(conn, request) {
        match claims::claim_in_one_statement(conn, request) {
            Ok(Some(outcome)) => after_one_statement(conn, request, outcome),
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
            Some(key) => claims::find_replay(conn, request, key)?.ok_or(error),
            None => Err(error),
        },
        outcome => outcome,
    }
}

/// The claim transaction's body: the claim, and what follows it.
fn grant(conn: &mut DbConnection, request: &ClaimRequest, pick: Pick) -> QueryResult<ClaimOutcome> {
    let counted = claims::grant(conn, request, pick)?;
    follow(conn, request, counted)
}

/// What follows a counted claim, in its transaction: `quota.exhausted` when it left the
/// tenant without quota. A refused claim that finds the tenant exhausted writes it too:
/// a no-op by its dedupe key, unless the event was lost (see [`after_one_statement`]).
pub fn follow(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    counted: Counted,
) -> QueryResult<ClaimOutcome> {
    if counted.exhausted {
        quota_exhausted(conn, request)?;
    }
    Ok(counted.outcome)
}

/// PostgreSQL's one-statement claim has committed on its own: when it may have taken the
/// tenant's last quota, the event follows in a transaction of its own right after. If
/// the process dies in between, the next claim the tenant is refused for want of quota
/// writes it.
fn after_one_statement(
    conn: &mut DbConnection,
    request: &ClaimRequest,
    outcome: ClaimOutcome,
) -> QueryResult<ClaimOutcome> {
    if claims::may_exhaust(&outcome, request) {
        write_transaction(conn, |conn| {
            if claims::exhausted_after(conn, request, &outcome)? {
                quota_exhausted(conn, request)?;
            }
            Ok::<_, diesel::result::Error>(())
        })?;
    }
    Ok(outcome)
}

/// `quota.exhausted` for the claim's tenant and day, if the tenant takes events.
fn quota_exhausted(conn: &mut DbConnection, request: &ClaimRequest) -> QueryResult<()> {
    let Some(next_reset_at) = request.next_reset_at else {
        return Ok(());
    };
    events::quota_exhausted(
        conn,
        request.tenant_id,
        request.today,
        next_reset_at,
        request.now,
    )?;
    Ok(())
}
