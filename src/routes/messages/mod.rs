//! Sending through Relevo and the message log (SPEC §6): `POST .../messages` sends a
//! text through the next eligible instance, failing over when one fails; the log shows
//! each message's attempts and its delivery status.

pub mod list;
pub mod send;
pub mod show;

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::messages::Message;
use crate::domain::{MessageStatus, Timestamp};
use crate::error::{ApiError, ErrorKey};
use crate::messaging::attempt::Attempt;
use crate::messaging::attempts_of;

/// The instance a message went out on (or was last tried on), as it was then.
#[derive(Serialize, ToSchema)]
pub struct MessageInstance {
    #[schema(example = 1)]
    pub id: i64,
    #[schema(example = "principal_campana")]
    pub instance_name: String,
    #[schema(example = "+573001234567")]
    pub phone_number: String,
}

/// Who sent a message: a sender token, or a super admin through the tenant path.
#[derive(Serialize, ToSchema)]
pub struct MessageSender {
    #[serde(rename = "type")]
    pub kind: MessageSenderKind,
    /// The sender token's id, or the user's.
    #[schema(example = 3)]
    pub id: i64,
}

#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum MessageSenderKind {
    SenderToken,
    User,
}

impl MessageSender {
    fn of(message: &Message) -> Option<Self> {
        match (message.sender_token_id, message.sent_by_user_id) {
            (Some(id), _) => Some(Self {
                kind: MessageSenderKind::SenderToken,
                id,
            }),
            (None, Some(id)) => Some(Self {
                kind: MessageSenderKind::User,
                id,
            }),
            (None, None) => None,
        }
    }
}

/// A message sent (or tried) through Relevo. Its text is not kept.
#[derive(Serialize, ToSchema)]
#[schema(as = Message)]
pub struct MessageRecord {
    #[schema(format = "uuid", example = "5f0c2a3e-1b7d-4c1e-9a0b-3d2e1f4a5b6c")]
    pub id: String,
    /// The recipient, in E.164.
    #[schema(example = "+573009876543")]
    pub to: String,
    pub status: MessageStatus,
    pub instance: MessageInstance,
    /// WhatsApp's id of the message (Evolution's `key.id`); `null` until it was sent.
    #[schema(required = true, example = "3EB0A1B2C3D4E5F6")]
    pub evolution_message_id: Option<String>,
    /// The claim that counts the message (released again if the message failed).
    #[schema(format = "uuid", example = "0b6c3f0e-8a51-4a63-9d0e-2f1f3c4d5e6f")]
    pub claim_id: String,
    /// Why it was not sent (`message.send_failed`, `message.recipient_invalid`) or may
    /// not have been (`message.send_timeout`); `null` otherwise.
    #[schema(required = true)]
    pub error_key: Option<ErrorKey>,
    /// Every try, in order: at most three instances.
    pub attempts: Vec<Attempt>,
    /// Who sent it; `null` for messages recorded before Relevo kept it.
    #[schema(required = true)]
    pub sent_by: Option<MessageSender>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl TryFrom<Message> for MessageRecord {
    type Error = ApiError;

    fn try_from(message: Message) -> Result<Self, ApiError> {
        Ok(Self {
            attempts: attempts_of(&message)?,
            sent_by: MessageSender::of(&message),
            status: message.status,
            id: message.public_id,
            to: message.recipient,
            instance: MessageInstance {
                id: message.instance_id,
                instance_name: message.instance_name,
                phone_number: message.instance_phone,
            },
            evolution_message_id: message.evolution_message_id,
            claim_id: message.claim_id,
            error_key: message.error_key,
            created_at: Timestamp(message.created_at),
            updated_at: Timestamp(message.updated_at),
        })
    }
}
