//! The delivery log of a tenant's outbound events (SPEC §8), and replays.

pub mod list;
pub mod replay;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::outbox::WebhookEvent;
use crate::domain::{DeliveryStatus, Timestamp};
use crate::error::ApiError;
use crate::events::EventType;

/// Every event type: the values of the `type` filter.
pub const EVENT_TYPES: &[&str] = &[
    "instance.connected",
    "instance.status_changed",
    "instance.qr_updated",
    "message.received",
    "message.status_changed",
    "quota.exhausted",
];

/// The event as it is sent: the body of every attempt, byte for byte.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct WebhookEventBody {
    /// The event's id, also in `X-Relevo-Event-Id`: the same in every attempt and replay.
    #[schema(example = "0b9f0f5e-2f7c-4d0e-9a55-5a1c3f1d7c2e")]
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    #[schema(format = DateTime, example = "2025-11-17T06:30:00.000000Z")]
    pub created_at: String,
    #[schema(example = 5)]
    pub tenant_id: i64,
    /// The event's fields (see the README's list of events).
    #[schema(value_type = Object)]
    pub data: Value,
}

/// One outbound event and how its delivery went.
#[derive(Serialize, ToSchema)]
pub struct WebhookDelivery {
    /// The event's id (`X-Relevo-Event-Id`).
    #[schema(example = "0b9f0f5e-2f7c-4d0e-9a55-5a1c3f1d7c2e")]
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub status: DeliveryStatus,
    /// Attempts made so far (a replay adds to them).
    #[schema(example = 1, minimum = 0)]
    pub attempts: i32,
    /// Attempts it gets before it is `failed`.
    #[schema(example = 8, minimum = 1)]
    pub max_attempts: i32,
    /// The HTTP status of the last answer; `null` before the first attempt or when the
    /// last one got no answer (timeout, refused connection).
    #[schema(required = true, example = 200)]
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed; `null` when it succeeded or none was made.
    #[schema(required = true, example = "No answer within 10000 ms")]
    pub last_error: Option<String>,
    #[schema(required = true)]
    pub last_attempt_at: Option<Timestamp>,
    /// When the next attempt is due; `null` once delivered or failed.
    #[schema(required = true)]
    pub next_attempt_at: Option<Timestamp>,
    #[schema(required = true)]
    pub delivered_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub event: WebhookEventBody,
}

impl TryFrom<WebhookEvent> for WebhookDelivery {
    type Error = ApiError;

    fn try_from(row: WebhookEvent) -> Result<Self, ApiError> {
        let event: WebhookEventBody =
            serde_json::from_str(&row.payload).map_err(ApiError::internal)?;
        Ok(Self {
            id: row.public_id,
            event_type: event.event_type,
            status: row.status,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            last_status_code: row.last_status_code,
            last_error: row.last_error,
            last_attempt_at: row.last_attempt_at.map(Timestamp),
            next_attempt_at: row.next_attempt_at.map(Timestamp),
            delivered_at: row.delivered_at.map(Timestamp),
            created_at: Timestamp(row.created_at),
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_list_every_type() {
        let names: Vec<&str> = EventType::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(names, EVENT_TYPES);
    }
}
