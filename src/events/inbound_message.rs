//! `message.received` (seed 003's received message): what the tenant is told of a
//! message someone sent to one of its instances, as Evolution's `messages.upsert`
//! reported it ([`ReceivedMessage`]).

use chrono::NaiveDateTime;
use serde_json::{json, Value};

use crate::domain::Timestamp;
use crate::evolution::webhook::ReceivedMessage;

/// Seed 003's received message (`phone_number_session` is the instance's number).
pub fn received_data(
    message: &ReceivedMessage,
    session_id: &str,
    phone_number_session: &str,
    now: NaiveDateTime,
) -> Value {
    json!({
        "session_id": session_id,
        "sender_name": message.sender_name,
        "sender_number": message.sender_number,
        "message_content": message.content,
        "message_type": message.message_type,
        "media_info": message.media_info,
        "received_at": Timestamp(message.sent_at.unwrap_or(now)),
        "phone_number_session": phone_number_session,
    })
}
