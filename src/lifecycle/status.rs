//! How Evolution's states map to Relevo's connection status and its columns, and the
//! recording of what Evolution showed, with the events it causes.

use chrono::NaiveDateTime;

use diesel::QueryResult;

use crate::db::instances::Instance;
use crate::db::remote_instances::{self, RemoteChanges};
use crate::db::DbConnection;
use crate::domain::ConnectionStatus;
use crate::events;
use crate::evolution::{ConnectAnswer, QrCode, RemoteState};

/// Relevo's status for what Evolution says. An instance Evolution knows but has not
/// loaded (no state) cannot send, so it counts as disconnected.
pub fn local_status(state: Option<RemoteState>) -> ConnectionStatus {
    match state {
        Some(RemoteState::Open) => ConnectionStatus::Connected,
        Some(RemoteState::Connecting) => ConnectionStatus::Connecting,
        Some(RemoteState::Close | RemoteState::Refused) | None => ConnectionStatus::Disconnected,
    }
}

/// Whether a poll's reading (the sync's stored state, a live read) leaves the status as
/// it is. A looping connection's webhook keeps saying `connecting` while Evolution's
/// stored state says `close` and its live state flickers between the two (SPEC §7): a
/// status the instance cannot send in is not replaced by another one it cannot send in
/// while a webhook confirmed it after `cutoff` (within the settle time).
pub fn webhook_outranks(
    instance: &Instance,
    reading: ConnectionStatus,
    cutoff: NaiveDateTime,
) -> bool {
    let looping = |status: ConnectionStatus| {
        matches!(
            status,
            ConnectionStatus::Connecting | ConnectionStatus::Disconnected
        )
    };
    looping(instance.connection_status)
        && looping(reading)
        && instance.status_confirmed_at.is_some_and(|at| at > cutoff)
}

/// The status columns for `state`, read at `now`.
pub fn status_changes(
    previous: &Instance,
    state: Option<RemoteState>,
    now: NaiveDateTime,
) -> RemoteChanges {
    let status = local_status(state);
    let newly_connected = status == ConnectionStatus::Connected
        && previous.connection_status != ConnectionStatus::Connected;
    let changed = previous.connection_status != status;
    RemoteChanges {
        connection_status: Some(status),
        last_checked_at: Some(now),
        connected_at: newly_connected.then_some(Some(now)),
        // A new status is a change of the instance, whoever saw it first.
        updated_at: changed.then_some(now),
        ..RemoteChanges::default()
    }
}

/// The columns an answer of `connect` or `restart` sets: a QR code means the instance
/// waits to be linked; a state replaces any QR code kept from before.
pub fn connect_changes(
    previous: &Instance,
    answer: ConnectAnswer,
    now: NaiveDateTime,
) -> RemoteChanges {
    let (changes, qr) = match answer {
        ConnectAnswer::Qr(qr) => (
            status_changes(previous, Some(RemoteState::Connecting), now),
            qr,
        ),
        ConnectAnswer::State(state) => (status_changes(previous, state, now), QrCode::default()),
    };
    RemoteChanges {
        qr_code: Some(qr.code),
        qr_code_base64: Some(qr.base64),
        pairing_code: Some(qr.pairing_code),
        qr_updated_at: Some(Some(now)),
        ..changes
    }
}

/// Records what Evolution showed of instance `id`, with the events the change causes to
/// the tenant, in the caller's transaction. The instance as it now stands; `None` when it
/// was deleted meanwhile.
pub fn record(
    conn: &mut DbConnection,
    id: i64,
    changes: &RemoteChanges,
) -> QueryResult<Option<Instance>> {
    let Some(change) = remote_instances::record(conn, id, changes)? else {
        return Ok(None);
    };
    events::instance_changed(conn, &change)?;
    Ok(Some(change.after))
}
