//! Evolution's webhooks (SPEC §8, reference §3): the envelope `{event, instance, data,
//! date_time, ...}` Evolution posts, parsed once into a typed [`Webhook`] whose
//! [`Event`] says what happened. Nothing here decides what an event changes: that is the
//! lifecycle's (instances), the messaging's (receipts) and the events' (messages
//! received).
//!
//! The body reaches this module as a JSON object already screened like every body Relevo
//! reads (SPEC §2: no NUL anywhere); this module reads Evolution's format from there.

mod messages;
mod receipts;

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::{QrCode, RemoteState};

pub use messages::ReceivedMessage;
pub use receipts::{Receipt, ReceiptStatus};

/// The longest text Relevo keeps from a webhook field (SPEC §8: fields are bounded). A
/// JID is about 40 characters and an instance name at most 50; WhatsApp profile names are
/// short; a QR code's text is about 240 characters and its PNG some kilobytes.
const MAX_INSTANCE_NAME: usize = 128;
const MAX_JID: usize = 128;
const MAX_PROFILE_NAME: usize = 256;
const MAX_QR_CODE: usize = 2048;
const MAX_QR_IMAGE: usize = 64 * 1024;
const MAX_PAIRING_CODE: usize = 64;

/// One webhook, as Relevo understands it.
#[derive(Clone, Debug, PartialEq)]
pub struct Webhook {
    /// Evolution's matching key of the event (`CONNECTION_UPDATE`).
    pub key: String,
    /// The Evolution instance name (the envelope's `instance`).
    pub instance: String,
    /// The envelope's `date_time`: when Evolution emitted it, on Evolution's clock (its
    /// local time marked `Z`, so only comparable with its other events).
    pub happened_at: Option<NaiveDateTime>,
    pub event: Event,
}

/// What a webhook says happened.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `connection.update`.
    ConnectionUpdate(ConnectionUpdate),
    /// `qrcode.updated` with a QR code.
    QrcodeUpdated(QrCode),
    /// `logout.instance`: WhatsApp was unlinked.
    LogoutInstance,
    /// `remove.instance`: Evolution no longer has the instance.
    RemoveInstance,
    /// `messages.upsert` with messages someone sent to the instance.
    MessagesUpsert(Vec<ReceivedMessage>),
    /// `messages.update` with delivery receipts of messages the instance sent.
    MessagesUpdate(Vec<Receipt>),
    /// Accepted and not acted upon: `send.message`, a `messages.upsert` with no message
    /// received, a `qrcode.updated` without a code (the QR limit), ... The event's
    /// matching key.
    Other(String),
}

/// `connection.update`'s `data`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectionUpdate {
    pub state: Option<RemoteState>,
    /// `wuid`: the linked account's JID.
    pub owner_jid: Option<String>,
    pub profile_name: Option<String>,
    /// `statusReason`: 200, or why WhatsApp dropped the link (401 logged out, 403 banned).
    pub status_reason: Option<i32>,
}

/// Why an envelope is not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not Evolution's envelope (a 400), in words.
    Malformed(String),
    /// Fields longer than Relevo keeps (a 422): each field and its longest length.
    TooLong(Vec<(String, usize)>),
}

/// Evolution's matching key of an event name: `connection.update`, `connection-update`
/// and `CONNECTION_UPDATE` are all `CONNECTION_UPDATE` (reference §3.1).
pub fn event_key(name: &str) -> String {
    name.replace(['.', '-'], "_").to_ascii_uppercase()
}

/// Reads the envelope `{event, instance, data, date_time, ...}`. `path_event` is the
/// by-events URL's last segment (`connection-update`), used when the body names no event.
pub fn parse(envelope: &Map<String, Value>, path_event: Option<&str>) -> Result<Webhook, Refused> {
    let event = match (envelope.get("event"), path_event) {
        (Some(Value::String(event)), _) => event.as_str(),
        (None | Some(Value::Null), Some(event)) => event,
        _ => return Err(malformed("The envelope has no `event` name.")),
    };
    let Some(Value::String(instance)) = envelope.get("instance") else {
        return Err(malformed("The envelope has no `instance` name."));
    };
    let data = envelope.get("data").unwrap_or(&Value::Null);
    let key = event_key(event);
    let mut bounds = Bounds::default();
    bounds.check("instance", instance, MAX_INSTANCE_NAME);
    let event = match key.as_str() {
        "CONNECTION_UPDATE" => Event::ConnectionUpdate(connection_update(data, &mut bounds)?),
        "QRCODE_UPDATED" => match qr_code(data, &mut bounds) {
            Some(qr) => Event::QrcodeUpdated(qr),
            None => Event::Other(key.clone()),
        },
        "LOGOUT_INSTANCE" => Event::LogoutInstance,
        "REMOVE_INSTANCE" => Event::RemoveInstance,
        "MESSAGES_UPSERT" => match messages::parse(data) {
            messages if messages.is_empty() => Event::Other(key.clone()),
            messages => Event::MessagesUpsert(messages),
        },
        "MESSAGES_UPDATE" => match receipts::parse(data) {
            receipts if receipts.is_empty() => Event::Other(key.clone()),
            receipts => Event::MessagesUpdate(receipts),
        },
        _ => Event::Other(key.clone()),
    };
    if !bounds.0.is_empty() {
        return Err(Refused::TooLong(bounds.0));
    }
    let happened_at = envelope
        .get("date_time")
        .and_then(Value::as_str)
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map(|moment| moment.naive_utc());
    Ok(Webhook {
        key,
        instance: instance.clone(),
        happened_at,
        event,
    })
}

fn malformed(message: impl Into<String>) -> Refused {
    Refused::Malformed(message.into())
}

/// The fields found longer than Relevo keeps, refused together.
#[derive(Default)]
struct Bounds(Vec<(String, usize)>);

impl Bounds {
    fn check(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.0.push((field.to_string(), max));
        }
    }
}

fn connection_update(data: &Value, bounds: &mut Bounds) -> Result<ConnectionUpdate, Refused> {
    let Value::Object(data) = data else {
        return Err(malformed("`connection.update` needs a `data` object."));
    };
    let text = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    };
    let state = match data.get("state") {
        Some(Value::String(state)) => Some(
            RemoteState::parse(state)
                .ok_or_else(|| malformed(format!("`{state}` is not a connection state.")))?,
        ),
        _ => None,
    };
    if let Some(jid) = text("wuid") {
        bounds.check("data.wuid", &jid, MAX_JID);
    }
    if let Some(name) = text("profileName") {
        bounds.check("data.profileName", &name, MAX_PROFILE_NAME);
    }
    Ok(ConnectionUpdate {
        state,
        owner_jid: text("wuid"),
        profile_name: text("profileName"),
        status_reason: data
            .get("statusReason")
            .and_then(Value::as_i64)
            .and_then(|reason| i32::try_from(reason).ok()),
    })
}

/// `{"qrcode": {"code", "base64", "pairingCode"}}`; `None` without a code (the QR-limit
/// notice is `{"message", "statusCode"}`).
fn qr_code(data: &Value, bounds: &mut Bounds) -> Option<QrCode> {
    let qrcode = data.get("qrcode")?;
    let text = |name: &str| {
        qrcode
            .get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    };
    let qr = QrCode {
        base64: text("base64"),
        code: text("code"),
        pairing_code: text("pairingCode"),
    };
    for (field, value, max) in [
        ("data.qrcode.base64", &qr.base64, MAX_QR_IMAGE),
        ("data.qrcode.code", &qr.code, MAX_QR_CODE),
        (
            "data.qrcode.pairingCode",
            &qr.pairing_code,
            MAX_PAIRING_CODE,
        ),
    ] {
        if let Some(value) = value {
            bounds.check(field, value, max);
        }
    }
    (qr != QrCode::default()).then_some(qr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> Webhook {
        try_parse(body, None).expect("parses")
    }

    fn try_parse(body: &str, path_event: Option<&str>) -> Result<Webhook, Refused> {
        match serde_json::from_str(body) {
            Ok(Value::Object(envelope)) => parse(&envelope, path_event),
            _ => Err(malformed("not an object")),
        }
    }

    #[test]
    fn the_reference_envelopes_parse_into_events() {
        let open = parsed(
            r#"{"event":"connection.update","instance":"inst1","data":{"instance":"inst1","wuid":"5511987654321@s.whatsapp.net","profileName":"Foo","profilePictureUrl":null,"state":"open","statusReason":200},"destination":"https://r/h","date_time":"2025-10-21T11:40:39.123Z","sender":"5511987654321@s.whatsapp.net","server_url":"https://evo","apikey":null}"#,
        );
        assert_eq!(open.instance, "inst1");
        assert_eq!(
            open.event,
            Event::ConnectionUpdate(ConnectionUpdate {
                state: Some(RemoteState::Open),
                owner_jid: Some("5511987654321@s.whatsapp.net".into()),
                profile_name: Some("Foo".into()),
                status_reason: Some(200),
            })
        );
        let qr = parsed(
            r#"{"event":"qrcode.updated","instance":"inst1","data":{"qrcode":{"instance":"inst1","pairingCode":null,"code":"2@abc","base64":"data:image/png;base64,AAA"}}}"#,
        );
        assert_eq!(
            qr.event,
            Event::QrcodeUpdated(QrCode {
                base64: Some("data:image/png;base64,AAA".into()),
                code: Some("2@abc".into()),
                pairing_code: None,
            })
        );
        let limit = parsed(
            r#"{"event":"qrcode.updated","instance":"i","data":{"message":"QR code limit reached, please login again","statusCode":500}}"#,
        );
        assert_eq!(limit.event, Event::Other("QRCODE_UPDATED".into()));
        let logout = parsed(r#"{"event":"logout.instance","instance":"i","data":null}"#);
        assert_eq!(logout.event, Event::LogoutInstance);
        let upsert = parsed(r#"{"event":"messages.upsert","instance":"i","data":{"key":{}}}"#);
        assert_eq!(upsert.event, Event::Other("MESSAGES_UPSERT".into()));
        let receipt = parsed(
            r#"{"event":"messages.update","instance":"i","data":{"keyId":"3EB0","fromMe":true,"status":"READ"}}"#,
        );
        assert_eq!(
            receipt.event,
            Event::MessagesUpdate(vec![Receipt {
                message_id: "3EB0".into(),
                status: ReceiptStatus::Read,
            }])
        );
    }

    #[test]
    fn the_by_events_path_names_the_event_when_the_body_does_not() {
        let webhook = try_parse(
            r#"{"instance":"i","data":{"state":"close","statusReason":401}}"#,
            Some("connection-update"),
        )
        .unwrap();
        assert!(matches!(webhook.event, Event::ConnectionUpdate(_)));
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        for body in [
            r#"{"instance":"i"}"#,
            r#"{"event":"connection.update"}"#,
            r#"{"event":"connection.update","instance":"i","data":null}"#,
            r#"{"event":"connection.update","instance":"i","data":{"state":"sideways"}}"#,
        ] {
            assert!(
                matches!(try_parse(body, None), Err(Refused::Malformed(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn fields_longer_than_kept_are_refused_together() {
        let long = "x".repeat(MAX_JID + 1);
        let body = format!(
            r#"{{"event":"connection.update","instance":"{long}","data":{{"state":"open","wuid":"{long}"}}}}"#
        );
        assert_eq!(
            try_parse(&body, None),
            Err(Refused::TooLong(vec![
                ("instance".into(), MAX_INSTANCE_NAME),
                ("data.wuid".into(), MAX_JID),
            ]))
        );
    }
}
