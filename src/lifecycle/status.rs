//! How Evolution's states map to Relevo's connection status and its columns.

use chrono::NaiveDateTime;

use crate::db::instances::Instance;
use crate::db::remote_instances::RemoteChanges;
use crate::domain::{ConnectionStatus, PhoneNumber};
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
    looping(ConnectionStatus::from_stored(&instance.connection_status))
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
        && previous.connection_status != ConnectionStatus::Connected.as_str();
    let changed = previous.connection_status != status.as_str();
    RemoteChanges {
        connection_status: Some(status.as_str().to_string()),
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

/// `573001234567@s.whatsapp.net` (or `573001234567:12@…`, with a device) → `+573001234567`,
/// when that is a phone number. Only a user's JID names one: a group (`@g.us`) or a linked
/// id (`@lid`) is a number of another kind.
pub fn phone_of_jid(jid: &str) -> Option<String> {
    let (user, server) = jid.split_once('@').unwrap_or((jid, "s.whatsapp.net"));
    if !matches!(server, "s.whatsapp.net" | "c.us") {
        return None;
    }
    let user = user.split(':').next()?;
    if user.is_empty() || !user.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    PhoneNumber::parse(&format!("+{user}"))
        .ok()
        .map(|phone| phone.as_str().to_string())
}
