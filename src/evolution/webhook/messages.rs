//! `messages.upsert` (reference §3.3: one message per event, `data` an object): the
//! messages someone sent to an instance. Messages the instance's own number sent
//! (`key.fromMe`) and status broadcasts are not messages received.

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value};

use crate::evolution::phone_of_jid;

/// A message someone sent to an instance.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedMessage {
    /// WhatsApp's message id (`key.id`): the same message twice is one event.
    pub message_id: String,
    pub sender_name: Option<String>,
    /// The sender's number (`+573001234567`): the digits of their JID with `+`, or the
    /// JID's user part when it has other characters.
    pub sender_number: String,
    pub content: Option<String>,
    /// `text`, `image`, `video`, `audio`, `document`, `sticker`, `location`,
    /// `contact`, `reaction`, or Evolution's `messageType` for anything else.
    pub message_type: String,
    pub media_info: Map<String, Value>,
    /// `messageTimestamp`, when Evolution gave one.
    pub sent_at: Option<NaiveDateTime>,
}

/// The messages received in a `messages.upsert`'s `data` (an object, or an array of
/// them); messages from the instance's own number and broadcasts are left out.
pub fn parse(data: &Value) -> Vec<ReceivedMessage> {
    match data {
        Value::Array(items) => items.iter().filter_map(parse_one).collect(),
        Value::Object(_) => parse_one(data).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn parse_one(data: &Value) -> Option<ReceivedMessage> {
    let key = data.get("key")?;
    if key.get("fromMe").and_then(Value::as_bool).unwrap_or(false) {
        return None;
    }
    let text = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_string)
    };
    let message_id = text(key.get("id"))?;
    let remote = text(key.get("remoteJid"))?;
    if remote == "status@broadcast" || remote.ends_with("@newsletter") {
        return None;
    }
    // In a group the sender is the participant; a LID hides the number, which Baileys
    // gives beside it.
    let from = if remote.ends_with("@g.us") {
        text(key.get("participantAlt"))
            .filter(|jid| jid.ends_with("@s.whatsapp.net"))
            .or_else(|| text(key.get("participant")))?
    } else if remote.ends_with("@lid") {
        text(key.get("remoteJidAlt"))
            .or_else(|| text(key.get("senderPn")))
            .unwrap_or(remote)
    } else {
        remote
    };
    let sender_number = phone_of_jid(&from).unwrap_or_else(|| {
        let user = from
            .split('@')
            .next()
            .unwrap_or_default()
            .split(':')
            .next()
            .unwrap_or_default();
        match !user.is_empty() && user.chars().all(|c| c.is_ascii_digit()) {
            true => format!("+{user}"),
            false => user.to_string(),
        }
    });
    let message = data.get("message").cloned().unwrap_or(Value::Null);
    let evolution_type = text(data.get("messageType")).unwrap_or_else(|| {
        message
            .as_object()
            .and_then(|fields| {
                fields
                    .keys()
                    .find(|name| name.ends_with("Message") || *name == "conversation")
                    .cloned()
            })
            .unwrap_or_else(|| "unknown".into())
    });
    let (message_type, content, media_info) = describe(&evolution_type, &message);
    let sent_at = data
        .get("messageTimestamp")
        .and_then(|value| {
            value
                .as_i64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
        })
        .and_then(|seconds| DateTime::from_timestamp(seconds, 0))
        .map(|at| at.naive_utc());
    Some(ReceivedMessage {
        message_id,
        sender_name: text(data.get("pushName")),
        sender_number,
        content,
        message_type,
        media_info,
        sent_at,
    })
}

/// Seed 003's `message_type`, the text (or caption) and what is known of the media.
fn describe(evolution_type: &str, message: &Value) -> (String, Option<String>, Map<String, Value>) {
    let body = message.get(evolution_type).unwrap_or(&Value::Null);
    let text_of = |value: &Value, name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_string)
    };
    let kind = match evolution_type {
        "conversation" | "extendedTextMessage" => "text",
        "imageMessage" => "image",
        "videoMessage" | "ptvMessage" => "video",
        "audioMessage" | "pttMessage" => "audio",
        "documentMessage" | "documentWithCaptionMessage" => "document",
        "stickerMessage" => "sticker",
        "locationMessage" | "liveLocationMessage" => "location",
        "contactMessage" | "contactsArrayMessage" => "contact",
        "reactionMessage" => "reaction",
        other => other,
    };
    let content = match evolution_type {
        "conversation" => message
            .get("conversation")
            .and_then(Value::as_str)
            .map(str::to_string),
        "extendedTextMessage" => text_of(body, "text"),
        "reactionMessage" => text_of(body, "text"),
        "locationMessage" | "liveLocationMessage" => text_of(body, "name"),
        "contactMessage" => text_of(body, "displayName"),
        _ => text_of(body, "caption"),
    };
    let mut media = Map::new();
    if matches!(
        kind,
        "image" | "video" | "audio" | "document" | "sticker" | "location"
    ) {
        for (from, to) in [
            ("mimetype", "mimetype"),
            ("fileName", "file_name"),
            ("fileLength", "file_length"),
            ("seconds", "seconds"),
            ("width", "width"),
            ("height", "height"),
            ("url", "url"),
            ("degreesLatitude", "latitude"),
            ("degreesLongitude", "longitude"),
        ] {
            if let Some(value) = body.get(from).filter(|value| !value.is_null()) {
                media.insert(to.into(), value.clone());
            }
        }
        if let Some(url) = message.get("mediaUrl").filter(|value| value.is_string()) {
            media.insert("media_url".into(), url.clone());
        }
    }
    (kind.to_string(), content, media)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_reference_upsert_is_a_text_message() {
        let data = json!({
            "key": {"remoteJid": "573001234567@s.whatsapp.net", "fromMe": false, "id": "ABCD1"},
            "pushName": "Alice",
            "status": "DELIVERY_ACK",
            "message": {"conversation": "hi"},
            "contextInfo": null,
            "messageType": "conversation",
            "messageTimestamp": 1761057639,
            "instanceId": "uuid",
            "source": "android"
        });
        let messages = parse(&data);
        assert_eq!(messages.len(), 1);
        let message = &messages[0];
        assert_eq!(message.message_id, "ABCD1");
        assert_eq!(message.sender_name.as_deref(), Some("Alice"));
        assert_eq!(message.sender_number, "+573001234567");
        assert_eq!(message.content.as_deref(), Some("hi"));
        assert_eq!(message.message_type, "text");
        assert!(message.media_info.is_empty());
        assert_eq!(message.sent_at.unwrap().to_string(), "2025-10-21 14:40:39");
    }

    #[test]
    fn own_messages_and_broadcasts_are_not_received() {
        let own = json!({"key": {"remoteJid": "573001234567@s.whatsapp.net", "fromMe": true, "id": "X"},
                         "message": {"conversation": "sent by me"}, "messageType": "conversation"});
        assert!(parse(&own).is_empty());
        let status = json!({"key": {"remoteJid": "status@broadcast", "fromMe": false, "id": "Y"},
                            "message": {"conversation": "story"}, "messageType": "conversation"});
        assert!(parse(&status).is_empty());
    }

    #[test]
    fn media_and_groups_are_described() {
        let data = json!({
            "key": {"remoteJid": "1203630@g.us", "fromMe": false, "id": "M1",
                    "participant": "5215512345678@s.whatsapp.net"},
            "message": {"imageMessage": {"caption": "look", "mimetype": "image/jpeg",
                                          "fileLength": "1234", "width": 10, "height": 20}},
            "messageType": "imageMessage",
        });
        let message = &parse(&data)[0];
        assert_eq!(message.message_type, "image");
        assert_eq!(message.content.as_deref(), Some("look"));
        assert_eq!(message.sender_number, "+5215512345678");
        assert_eq!(message.media_info["mimetype"], "image/jpeg");
        assert_eq!(message.media_info["width"], 10);
    }
}
