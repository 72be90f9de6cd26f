//! A new status is told to the tenant once it has held (SPEC §7): a connection that loops
//! between `connecting` and `close` every second is one state to the tenant, not a
//! hundred events a minute. Claims follow the status at once; only the telling waits.
//!
//! Each step finds instances whose status differs from the one the tenant was last told
//! and has held for the settle time, and tells it: `instance.status_changed` (with the
//! status told before as `previous_status`) and `instance.connected` for a connection.
//! A drop is told too when the instance stayed unable to send for the settle time, even
//! while it flips between `connecting` and `disconnected`; those flips are not told. A
//! conditional update marks each one told, so two processes never tell it twice.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::{connected_data, record, status_changed_data, EventType};
use crate::db::instances::Instance;
use crate::db::schema::whatsapp_instances as instances;
use crate::db::DbConnection;
use crate::domain::ConnectionStatus;

/// The most instances one step tells about.
const PER_STEP: i64 = 500;

/// Whether the tenant, told `previous`, should now hear of the instance's status: it held
/// since `cutoff`, or the instance went from able to send to not (or back) and stayed so.
fn has_settled(instance: &Instance, previous: ConnectionStatus, cutoff: NaiveDateTime) -> bool {
    let held = |since: Option<NaiveDateTime>| since.is_some_and(|since| since <= cutoff);
    held(instance.status_since)
        || (previous.may_send() != instance.connection_status.may_send()
            && held(instance.sendable_since))
}

/// Tells the tenants every status that settled by `now`; answers how many.
pub fn step(conn: &mut DbConnection, now: NaiveDateTime, settle: Duration) -> QueryResult<usize> {
    let cutoff = now - settle;
    let unsettled: Vec<Instance> = instances::table
        .filter(instances::notified_status.ne(instances::connection_status.nullable()))
        .filter(
            instances::status_since
                .le(cutoff)
                .or(instances::sendable_since.le(cutoff)),
        )
        .order(instances::id.asc())
        .limit(PER_STEP)
        .select(Instance::as_select())
        .load(conn)?;
    let mut told = 0;
    for instance in unsettled {
        let Some(previous) = instance.notified_status else {
            continue;
        };
        if !has_settled(&instance, previous, cutoff) {
            continue;
        }
        let marked = diesel::update(
            instances::table
                .find(instance.id)
                .filter(instances::connection_status.eq(instance.connection_status))
                .filter(instances::notified_status.eq(previous)),
        )
        .set(instances::notified_status.eq(instance.connection_status))
        .execute(conn)?;
        if marked == 0 {
            continue;
        }
        record(
            conn,
            instance.tenant_id,
            EventType::InstanceStatusChanged,
            status_changed_data(previous, &instance, now),
            None,
            now,
        )?;
        if instance.connection_status == ConnectionStatus::Connected {
            record(
                conn,
                instance.tenant_id,
                EventType::InstanceConnected,
                connected_data(&instance, now),
                None,
                now,
            )?;
        }
        told += 1;
    }
    Ok(told)
}
