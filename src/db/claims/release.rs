//! Releases: unsent messages of a claim go back to its instance's count, on the claim's
//! day and in the count it was made in, once.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use super::usage::add_daily_usage;
use super::Claim;
use crate::db::instances::Instance;
use crate::db::schema::{claim_releases, claims, whatsapp_instances};
use crate::db::{write_transaction, DbConnection};
use crate::domain::DailyUsage;

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
        let Some(mut claim) = find_claim_for_update(conn, tenant_id, public_id)? else {
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
            log_release(conn, &mut claim, unsent, newly_released, now)?;
        }
        let usage = match instance {
            Some(instance) if in_count == Some(true) && given_back > 0 => {
                Some(give_back(conn, instance, given_back, today)?)
            }
            Some(instance) => Some(instance.usage_on(today)),
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

fn find_claim_for_update(
    conn: &mut DbConnection,
    tenant_id: i64,
    public_id: &str,
) -> QueryResult<Option<Claim>> {
    let find = claims::table
        .filter(claims::tenant_id.eq(tenant_id))
        .filter(claims::public_id.eq(public_id));
    match conn {
        DbConnection::Postgres(pg) => find
            .select(Claim::as_select())
            .for_update()
            .first(pg)
            .optional(),
        DbConnection::Sqlite(sqlite) => find.select(Claim::as_select()).first(sqlite).optional(),
    }
}

/// Marks `unsent` messages of `claim` released and takes the `newly_released` ones out of
/// the log's daily totals.
fn log_release(
    conn: &mut DbConnection,
    claim: &mut Claim,
    unsent: i32,
    newly_released: i32,
    now: NaiveDateTime,
) -> QueryResult<()> {
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
    Ok(())
}

/// Gives `count` messages back to the instance's count today; answers its usage after.
fn give_back(
    conn: &mut DbConnection,
    mut instance: Instance,
    count: i32,
    today: NaiveDate,
) -> QueryResult<DailyUsage> {
    let sent = (instance.usage_on(today).sent - count).max(0);
    diesel::update(whatsapp_instances::table.find(instance.id))
        .set(whatsapp_instances::messages_sent_today.eq(sent))
        .execute(conn)?;
    instance.messages_sent_today = sent;
    Ok(instance.usage_on(today))
}
