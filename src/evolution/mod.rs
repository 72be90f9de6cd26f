//! A typed client of Evolution API v2 (`shared/reference/evolution-api-v2.md`), and the
//! webhooks Evolution sends ([`webhook`]). The JSON shapes Evolution speaks stay in this
//! module; callers see the types below.

mod client;
mod error;
pub mod webhook;
mod wire;

use std::time::Duration;

use crate::domain::PhoneNumber;

pub use client::{EvolutionClient, EvolutionHttp};
pub use error::EvolutionError;

/// The event names Evolution accepts in a webhook's or websocket's `events`
/// (reference section 3.1).
pub const EVENTS: &[&str] = &[
    "APPLICATION_STARTUP",
    "QRCODE_UPDATED",
    "MESSAGES_SET",
    "MESSAGES_UPSERT",
    "MESSAGES_EDITED",
    "MESSAGES_UPDATE",
    "MESSAGES_DELETE",
    "SEND_MESSAGE",
    "SEND_MESSAGE_UPDATE",
    "CONTACTS_SET",
    "CONTACTS_UPSERT",
    "CONTACTS_UPDATE",
    "PRESENCE_UPDATE",
    "CHATS_SET",
    "CHATS_UPSERT",
    "CHATS_UPDATE",
    "CHATS_DELETE",
    "GROUPS_UPSERT",
    "GROUP_UPDATE",
    "GROUP_PARTICIPANTS_UPDATE",
    "CONNECTION_UPDATE",
    "LABELS_EDIT",
    "LABELS_ASSOCIATION",
    "CALL",
    "TYPEBOT_START",
    "TYPEBOT_CHANGE_STATUS",
    "REMOVE_INSTANCE",
    "LOGOUT_INSTANCE",
    "INSTANCE_CREATE",
    "INSTANCE_DELETE",
    "STATUS_INSTANCE",
];

/// An instance's connection as Evolution reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteState {
    Open,
    Connecting,
    Close,
    /// The QR limit was reached; WhatsApp must be linked again.
    Refused,
}

impl RemoteState {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "open" => Some(Self::Open),
            "connecting" => Some(Self::Connecting),
            "close" | "closed" => Some(Self::Close),
            "refused" => Some(Self::Refused),
            _ => None,
        }
    }
}

/// A QR code to link WhatsApp. Every field is `None` when Evolution had none yet
/// (`{"count": 0}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QrCode {
    /// A PNG data URL.
    pub base64: Option<String>,
    /// The raw QR text.
    pub code: Option<String>,
    /// Eight characters to type on the phone, when a number was given.
    pub pairing_code: Option<String>,
}

/// What `connect` and `restart` answer: a QR code to scan, or the state the instance is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectAnswer {
    Qr(QrCode),
    /// `None` when Evolution knows the instance but has not loaded it.
    State(Option<RemoteState>),
}

/// One instance as `fetchInstances` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteInstance {
    pub name: String,
    /// The instance's own API key.
    pub token: Option<String>,
    pub state: Option<RemoteState>,
    pub owner_jid: Option<String>,
    pub profile_name: Option<String>,
}

/// What `instance/create` asks for.
pub struct NewRemoteInstance<'a> {
    pub name: &'a str,
    /// Becomes the instance's API key.
    pub token: &'a str,
    /// Digits only; asks Evolution for a pairing code as well.
    pub number: Option<&'a str>,
}

/// What `instance/create` answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedInstance {
    pub token: Option<String>,
    pub state: Option<RemoteState>,
}

/// `GET /`, as far as it reads as Evolution's own answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: String,
    /// `None` when not said, or not in the form Evolution says it.
    pub client_name: Option<String>,
    /// `None` when not said (before 2.3), or not in the form Evolution says it.
    pub whatsapp_web_version: Option<String>,
    pub latency: Duration,
}

/// An instance's webhook, in Relevo's words.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebhookConfig {
    pub enabled: bool,
    pub url: Option<String>,
    /// Empty with `enabled` means every event.
    pub events: Vec<String>,
    pub by_events: bool,
    pub base64: bool,
    /// Header names and values, sent with every post.
    pub headers: std::collections::BTreeMap<String, String>,
}

/// An instance's websocket events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WebsocketConfig {
    pub enabled: bool,
    pub events: Vec<String>,
}

/// `573001234567@s.whatsapp.net` (or `573001234567:12@…`, with a device) → `+573001234567`,
/// when that is a phone number. Only a user's JID names one: a group (`@g.us`), a linked
/// id (`@lid`) or a broadcast is a number of another kind.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_come_from_user_jids_only() {
        assert_eq!(
            phone_of_jid("573001234567@s.whatsapp.net").as_deref(),
            Some("+573001234567")
        );
        assert_eq!(
            phone_of_jid("573001234567:12@s.whatsapp.net").as_deref(),
            Some("+573001234567")
        );
        assert_eq!(
            phone_of_jid("120363025@g.us"),
            None,
            "too short to be a number"
        );
        assert_eq!(phone_of_jid("12036304@g.us"), None);
        assert_eq!(phone_of_jid("573001234567@lid"), None);
        assert_eq!(
            phone_of_jid("573001234567").as_deref(),
            Some("+573001234567")
        );
        assert_eq!(phone_of_jid("abc@s.whatsapp.net"), None);
        assert_eq!(phone_of_jid(""), None);
    }
}
