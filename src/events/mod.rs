//! Outbound events to tenants (SPEC §8, seed 003): what each event carries, and writing
//! it to the outbox (`webhook_events`) in the transaction of the change that causes it.
//! Nothing is sent from here: the delivery worker ([`worker`]) sends what the outbox
//! holds, signed ([`signature`]).
//!
//! Every event is `{"id", "type", "created_at", "tenant_id", "data"}`; the body is
//! fixed when the event is written, so every attempt (and a replay) sends the same bytes.

pub mod inbound_message;
pub mod replay;
pub mod settle;
pub mod signature;
pub mod worker;

use chrono::{NaiveDate, NaiveDateTime};
use diesel::QueryResult;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::db::instances::Instance;
use crate::db::outbox::{self, NewWebhookEvent};
use crate::db::remote_instances::Recorded;
use crate::db::DbConnection;
use crate::domain::{ConnectionStatus, DeliveryStatus, MessageStatus, Timestamp};

/// How many attempts an event gets before it is `failed` (with the backoff of
/// [`worker::retry_delay`], the last one comes more than an hour after the first).
pub const MAX_ATTEMPTS: i32 = 8;

/// The types of event a tenant receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum EventType {
    /// An instance got linked to WhatsApp (seed 003's new-session-connected).
    #[serde(rename = "instance.connected")]
    InstanceConnected,
    /// An instance's connection status changed (seed 003's status-update).
    #[serde(rename = "instance.status_changed")]
    InstanceStatusChanged,
    /// A new QR code waits to be scanned (seed 003's qr-update).
    #[serde(rename = "instance.qr_updated")]
    InstanceQrUpdated,
    /// A message arrived on an instance (seed 003's messages/received).
    #[serde(rename = "message.received")]
    MessageReceived,
    /// A message sent through Relevo changed its delivery status.
    #[serde(rename = "message.status_changed")]
    MessageStatusChanged,
    /// The tenant's last instance with quota ran out for the day.
    #[serde(rename = "quota.exhausted")]
    QuotaExhausted,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        Self::InstanceConnected,
        Self::InstanceStatusChanged,
        Self::InstanceQrUpdated,
        Self::MessageReceived,
        Self::MessageStatusChanged,
        Self::QuotaExhausted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InstanceConnected => "instance.connected",
            Self::InstanceStatusChanged => "instance.status_changed",
            Self::InstanceQrUpdated => "instance.qr_updated",
            Self::MessageReceived => "message.received",
            Self::MessageStatusChanged => "message.status_changed",
            Self::QuotaExhausted => "quota.exhausted",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// Writes an event of `tenant_id` to the outbox, if the tenant has a callback URL. With
/// a `dedupe_key`, a second event with the same key is not written. Answers whether it
/// was written. Call it on the connection of the transaction that makes the change.
pub fn record(
    conn: &mut DbConnection,
    tenant_id: i64,
    event_type: EventType,
    data: Value,
    dedupe_key: Option<&str>,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    if !outbox::wants_events(conn, tenant_id)? {
        return Ok(false);
    }
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "id": id,
        "type": event_type.as_str(),
        "created_at": Timestamp(now),
        "tenant_id": tenant_id,
        "data": data,
    });
    let payload = serde_json::to_string(&body)
        .map_err(|error| diesel::result::Error::SerializationError(Box::new(error)))?;
    outbox::insert(
        conn,
        &NewWebhookEvent {
            public_id: &id,
            tenant_id,
            event_type: event_type.as_str(),
            payload: &payload,
            dedupe_key,
            status: DeliveryStatus::Pending,
            attempts: 0,
            max_attempts: MAX_ATTEMPTS,
            next_attempt_at: Some(now),
            created_at: now,
            updated_at: now,
        },
    )
}

/// The events an instance's change causes at once: `instance.qr_updated` when it has a
/// new QR code. A new status is told once it has settled ([`settle::step`]). Call it in
/// the transaction that recorded the change.
pub fn instance_changed(conn: &mut DbConnection, change: &Recorded) -> QueryResult<()> {
    let Recorded { before, after, at } = change;
    let new_qr = after.qr_code.is_some() && after.qr_code != before.qr_code;
    if new_qr {
        record(
            conn,
            after.tenant_id,
            EventType::InstanceQrUpdated,
            qr_updated_data(after, *at),
            None,
            *at,
        )?;
    }
    Ok(())
}

/// Seed 003's new-session-connected, plus `instance_id`.
pub fn connected_data(instance: &Instance, now: NaiveDateTime) -> Value {
    json!({
        "session_id": instance.instance_name,
        "phone_number": instance.phone_number,
        "status": instance.connection_status,
        "last_seen": Timestamp(instance.last_checked_at.unwrap_or(now)),
        "whatsapp_user_id": instance.owner_jid,
        "created_at": Timestamp(instance.created_at),
        "updated_at": Timestamp(instance.updated_at),
        "instance_id": instance.id,
    })
}

/// Seed 003's status-update, plus `instance_id` and `previous_status` (what the tenant
/// was told before).
pub fn status_changed_data(
    previous_status: ConnectionStatus,
    after: &Instance,
    now: NaiveDateTime,
) -> Value {
    json!({
        "session_id": after.instance_name,
        "status": after.connection_status,
        "error_message": error_message(after),
        "timestamp": Timestamp(now),
        "last_seen": Timestamp(after.last_checked_at.unwrap_or(now)),
        "instance_id": after.id,
        "previous_status": previous_status,
    })
}

/// Why an instance is down, in words; `None` when it is not.
fn error_message(instance: &Instance) -> Option<String> {
    match instance.connection_status {
        ConnectionStatus::Error => {
            Some("The instance no longer exists on its Evolution API server".into())
        }
        ConnectionStatus::Disconnected => Some(match instance.status_reason {
            Some(401) => "Logged out of WhatsApp (401)".into(),
            Some(403) => "Refused by WhatsApp: the number may be banned (403)".into(),
            Some(reason) => format!("The connection to WhatsApp closed ({reason})"),
            None => "The connection to WhatsApp closed".into(),
        }),
        ConnectionStatus::Unknown | ConnectionStatus::Connecting | ConnectionStatus::Connected => {
            None
        }
    }
}

/// Seed 003's qr-update, plus `instance_id`.
pub fn qr_updated_data(instance: &Instance, now: NaiveDateTime) -> Value {
    json!({
        "session_id": instance.instance_name,
        "qr_data": instance.qr_code.clone().or_else(|| instance.qr_code_base64.clone()),
        "generated_at": Timestamp(instance.qr_updated_at.unwrap_or(now)),
        "instance_id": instance.id,
    })
}

/// `message.status_changed` for a message sent through Relevo: Evolution reported it
/// `status` (`delivered`, `read`).
pub fn message_status_changed_data(
    message: &crate::db::messages::Message,
    status: MessageStatus,
    now: NaiveDateTime,
) -> Value {
    json!({
        "message_id": message.public_id,
        "status": status,
        "previous_status": message.status,
        "to": message.recipient,
        "instance_id": message.instance_id,
        "evolution_message_id": message.evolution_message_id,
        "changed_at": Timestamp(now),
    })
}

/// `quota.exhausted`, once per tenant and local day `today`.
pub fn quota_exhausted(
    conn: &mut DbConnection,
    tenant_id: i64,
    today: NaiveDate,
    next_reset_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    record(
        conn,
        tenant_id,
        EventType::QuotaExhausted,
        json!({ "next_reset_at": Timestamp(next_reset_at) }),
        Some(&format!("quota.exhausted:{today}")),
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_their_names() {
        for kind in EventType::ALL {
            assert_eq!(EventType::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                Value::String(kind.as_str().into())
            );
        }
        assert_eq!(EventType::parse("instance.deleted"), None);
    }
}
