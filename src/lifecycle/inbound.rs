//! Evolution's webhooks (SPEC §8, reference §3): the envelope parsed into a typed event,
//! the server found by its webhook token, and the event applied to the instance in one
//! short write transaction, with no call back to Evolution. Applying an event twice
//! changes nothing the second time.

use chrono::NaiveDateTime;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::auth::sender::hash_token;
use crate::db::instances::{self, Instance};
use crate::db::remote_instances::{self, RemoteChanges};
use crate::db::{evolution_servers, webhook_tokens, DbConnection};
use crate::domain::ConnectionStatus;
use crate::error::{ApiError, FieldErrors};
use crate::events::inbound_message::{self, ReceivedMessage};
use crate::events::{self, EventType};
use crate::evolution::{ConnectAnswer, QrCode, RemoteState};
use crate::i18n::Msg;
use crate::lifecycle::status::phone_of_jid;
use crate::messaging::receipts::{self, Receipt};
use crate::state::AppState;

use super::status::{connect_changes, status_changes};

/// Evolution sends media metadata (and base64 media when asked to): more than the API's
/// usual 64 KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

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
pub struct InboundEvent {
    /// Evolution's matching key of the event (`CONNECTION_UPDATE`).
    pub key: String,
    /// The Evolution instance name (the envelope's `instance`).
    pub instance: String,
    /// The envelope's `date_time`: when Evolution emitted it, on Evolution's clock (its
    /// local time marked `Z`, so only comparable with its other events).
    pub happened_at: Option<NaiveDateTime>,
    pub kind: EventKind,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// `connection.update`.
    ConnectionUpdate(ConnectionUpdate),
    /// `qrcode.updated` with a QR code.
    QrCodeUpdated(QrCode),
    /// `logout.instance`: WhatsApp was unlinked.
    LogoutInstance,
    /// `remove.instance`: Evolution no longer has the instance.
    RemoveInstance,
    /// `messages.upsert` with messages someone sent to the instance (`message.received`
    /// out, once per message id).
    MessagesUpsert(Vec<ReceivedMessage>),
    /// `messages.update` with delivery receipts of messages sent through Relevo.
    MessagesUpdate(Vec<Receipt>),
    /// Accepted and not acted upon (yet): `messages.upsert`, `send.message`, a
    /// `qrcode.updated` without a code (the QR limit), ... The event's matching key.
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

/// What receiving an event did: `applied` (the instance changed), `unchanged` (it
/// already reflected the event: a replay, or an equal state) or `ignored` (not an
/// instance of this server, or an event Relevo does not act upon).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = InboundOutcome)]
pub enum Outcome {
    /// The instance changed.
    Applied,
    /// The instance already reflected it (a replay, or an equal state).
    Unchanged,
    /// Not an instance of this server, or an event Relevo does not act upon.
    Ignored,
}

/// Evolution's matching key of an event name: `connection.update`, `connection-update`
/// and `CONNECTION_UPDATE` are all `CONNECTION_UPDATE` (reference §3.1).
pub fn event_key(name: &str) -> String {
    name.replace(['.', '-'], "_").to_ascii_uppercase()
}

/// Parses the envelope `{event, instance, data, ...}`. `path_event` is the by-events
/// URL's last segment (`connection-update`), used when the body names no event.
pub fn parse(body: &[u8], path_event: Option<&str>) -> Result<InboundEvent, ApiError> {
    let envelope: Value = serde_json::from_slice(body)
        .map_err(|error| ApiError::malformed(format!("The body is not valid JSON: {error}")))?;
    let Value::Object(envelope) = envelope else {
        return Err(ApiError::malformed(
            "The body must be Evolution's webhook envelope, a JSON object.",
        ));
    };
    // SPEC §2: a NUL anywhere is a 422 (PostgreSQL could not store it); Evolution sends none.
    crate::input::refuse_nul(&envelope, crate::i18n::Locale::En)?;
    let event = match (envelope.get("event"), path_event) {
        (Some(Value::String(event)), _) => event.as_str(),
        (None | Some(Value::Null), Some(event)) => event,
        _ => return Err(ApiError::malformed("The envelope has no `event` name.")),
    };
    let Some(Value::String(instance)) = envelope.get("instance") else {
        return Err(ApiError::malformed("The envelope has no `instance` name."));
    };
    let data = envelope.get("data").unwrap_or(&Value::Null);
    let key = event_key(event);
    let mut bounds = Bounds::default();
    bounds.check("instance", instance, MAX_INSTANCE_NAME);
    let kind = match key.as_str() {
        "CONNECTION_UPDATE" => EventKind::ConnectionUpdate(connection_update(data, &mut bounds)?),
        "QRCODE_UPDATED" => match qr_code(data, &mut bounds) {
            Some(qr) => EventKind::QrCodeUpdated(qr),
            None => EventKind::Other(key.clone()),
        },
        "LOGOUT_INSTANCE" => EventKind::LogoutInstance,
        "REMOVE_INSTANCE" => EventKind::RemoveInstance,
        "MESSAGES_UPSERT" => match inbound_message::parse(data) {
            messages if messages.is_empty() => EventKind::Other(key.clone()),
            messages => EventKind::MessagesUpsert(messages),
        },
        "MESSAGES_UPDATE" => match receipts::parse(data) {
            receipts if receipts.is_empty() => EventKind::Other(key.clone()),
            receipts => EventKind::MessagesUpdate(receipts),
        },
        _ => EventKind::Other(key.clone()),
    };
    bounds.0.into_result(crate::i18n::Locale::En)?;
    let happened_at = envelope
        .get("date_time")
        .and_then(Value::as_str)
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map(|moment| moment.naive_utc());
    Ok(InboundEvent {
        key,
        instance: instance.clone(),
        happened_at,
        kind,
    })
}

/// The fields found longer than Relevo keeps, answered at once as a 422.
#[derive(Default)]
struct Bounds(FieldErrors);

impl Bounds {
    fn check(&mut self, field: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.0.add(field, Msg::MaxLength(max));
        }
    }
}

fn connection_update(data: &Value, bounds: &mut Bounds) -> Result<ConnectionUpdate, ApiError> {
    let Value::Object(data) = data else {
        return Err(ApiError::malformed(
            "`connection.update` needs a `data` object.",
        ));
    };
    let text = |name: &str| {
        data.get(name)
            .and_then(Value::as_str)
            .filter(|value| !value.is_empty())
            .map(str::to_string)
    };
    let state =
        match data.get("state") {
            Some(Value::String(state)) => Some(RemoteState::parse(state).ok_or_else(|| {
                ApiError::malformed(format!("`{state}` is not a connection state."))
            })?),
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

/// The most events one webhook may cause: Evolution sends one message per
/// `messages.upsert` and a few receipts per `messages.update`; what is beyond is counted
/// (`relevo_inbound_excess_total`), not queued.
pub const MAX_MESSAGES_PER_WEBHOOK: usize = 20;
pub const MAX_RECEIPTS_PER_WEBHOOK: usize = 200;

/// Who a webhook token speaks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Speaker {
    /// An instance's own token: it speaks for that instance only.
    Instance(i64),
    /// A server's shared token from before each instance had its own: it speaks only for
    /// the server's instances that have none yet (the sync moves them to their own).
    LegacyServer(i64),
}

/// The instance an event is about, as its token allows.
enum Target {
    Found(Box<Instance>),
    /// The event names an instance the token does not speak for: changes nothing.
    Foreign,
    /// No such instance: ignored.
    Unknown,
}

/// Authenticates the webhook by the token in its URL (a wrong token is a 401 and changes
/// nothing), parses its `body` and applies the event to the token's own instance.
pub async fn receive(
    state: &AppState,
    token: String,
    body: &[u8],
    path_event: Option<&str>,
) -> Result<(InboundEvent, Outcome), ApiError> {
    let Some(speaker) = speaker_for_token(state, token).await? else {
        state.metrics.inbound_webhook("unauthorized");
        return Err(ApiError::unauthenticated());
    };
    let mut event = parse(body, path_event)?;
    if matches!(event.kind, EventKind::Other(_)) {
        state.metrics.inbound_webhook("ignored");
        return Ok((event, Outcome::Ignored));
    }
    let excess = event.kind.bound();
    if excess > 0 {
        state.metrics.inbound_excess(excess);
    }
    let now = state.clock.now().naive_utc();
    let applied = event.clone();
    let (outcome, foreign) = state
        .transaction(move |conn| Ok(apply(conn, speaker, &applied, now)?))
        .await?;
    state.metrics.inbound_webhook(match (foreign, outcome) {
        (true, _) => "foreign",
        (false, Outcome::Applied) => "applied",
        (false, Outcome::Unchanged) => "unchanged",
        (false, Outcome::Ignored) => "ignored",
    });
    Ok((event, outcome))
}

impl EventKind {
    /// Keeps at most the events one webhook may cause; answers how many were dropped.
    fn bound(&mut self) -> usize {
        fn keep<T>(items: &mut Vec<T>, max: usize) -> usize {
            let excess = items.len().saturating_sub(max);
            items.truncate(max);
            excess
        }
        match self {
            EventKind::MessagesUpsert(messages) => keep(messages, MAX_MESSAGES_PER_WEBHOOK),
            EventKind::MessagesUpdate(receipts) => keep(receipts, MAX_RECEIPTS_PER_WEBHOOK),
            _ => 0,
        }
    }
}

/// Whom the token speaks for: found by its digest among the instances' tokens, then
/// among the servers' shared tokens of before (decrypted once to get their digest when
/// they were stored without one).
async fn speaker_for_token(state: &AppState, token: String) -> Result<Option<Speaker>, ApiError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    let digest = hash_token(&token);
    let lookup = digest.clone();
    let found = state
        .db(move |conn| {
            if let Some(instance) = webhook_tokens::instance_of(conn, &lookup)? {
                return Ok(Some(Speaker::Instance(instance)));
            }
            Ok(evolution_servers::find_by_webhook_digest(conn, &lookup)?
                .filter(|server| {
                    let stored = server.webhook_token_digest.as_deref().unwrap_or_default();
                    bool::from(stored.as_bytes().ct_eq(lookup.as_bytes()))
                })
                .map(|server| Speaker::LegacyServer(server.id)))
        })
        .await?;
    if found.is_some() {
        return Ok(found);
    }
    legacy_server_without_digest(state, &token).await
}

/// A server's shared token stored before its digest was: decrypted once, given its
/// digest, and compared in constant time.
async fn legacy_server_without_digest(
    state: &AppState,
    token: &str,
) -> Result<Option<Speaker>, ApiError> {
    let pending = state
        .db(|conn| Ok(evolution_servers::without_webhook_digest(conn)?))
        .await?;
    let mut matched = None;
    let mut backfill = Vec::new();
    for server in pending {
        let Some(sealed) = server.webhook_token_encrypted.as_deref() else {
            continue;
        };
        let plain = state.cipher.decrypt(sealed).map_err(ApiError::internal)?;
        if bool::from(plain.as_bytes().ct_eq(token.as_bytes())) {
            matched = Some(Speaker::LegacyServer(server.id));
        }
        backfill.push((server.id, hash_token(&plain)));
    }
    if !backfill.is_empty() {
        state
            .write(move |conn| {
                for (id, digest) in &backfill {
                    evolution_servers::store_webhook_digest(conn, *id, digest)?;
                }
                Ok(())
            })
            .await?;
    }
    Ok(matched)
}

/// The instance `event` names, if `speaker` speaks for it; locked for the change.
fn target(
    conn: &mut DbConnection,
    speaker: Speaker,
    event: &InboundEvent,
) -> diesel::QueryResult<Target> {
    let instance = match speaker {
        Speaker::Instance(id) => match instances::find_by_id_for_update(conn, id)? {
            Some(instance) if instance.instance_name == event.instance => instance,
            Some(_) => return Ok(Target::Foreign),
            None => return Ok(Target::Unknown),
        },
        Speaker::LegacyServer(server_id) => {
            match remote_instances::find_on_server_for_update(conn, server_id, &event.instance)? {
                Some(instance) if webhook_tokens::has_own(conn, instance.id)? => {
                    return Ok(Target::Foreign)
                }
                Some(instance) => instance,
                None => return Ok(Target::Unknown),
            }
        }
    };
    Ok(Target::Found(Box::new(instance)))
}

/// Applies `event`; answers its outcome and whether it named an instance its token does
/// not speak for.
fn apply(
    conn: &mut DbConnection,
    speaker: Speaker,
    event: &InboundEvent,
    now: NaiveDateTime,
) -> diesel::QueryResult<(Outcome, bool)> {
    let instance = match target(conn, speaker, event)? {
        Target::Found(instance) => instance,
        Target::Foreign => return Ok((Outcome::Ignored, true)),
        Target::Unknown => return Ok((Outcome::Ignored, false)),
    };
    Ok((apply_to(conn, &instance, event, now)?, false))
}

fn apply_to(
    conn: &mut DbConnection,
    instance: &Instance,
    event: &InboundEvent,
    now: NaiveDateTime,
) -> diesel::QueryResult<Outcome> {
    match &event.kind {
        EventKind::MessagesUpsert(messages) => return received(conn, instance, messages, now),
        EventKind::MessagesUpdate(receipts) => {
            return Ok(match receipts::apply(conn, instance, receipts, now)? {
                Some(true) => Outcome::Applied,
                Some(false) => Outcome::Unchanged,
                None => Outcome::Ignored,
            })
        }
        _ => {}
    }
    // Evolution retries webhooks and delivers them concurrently: an event older than the
    // newest one applied changes nothing.
    let stale = matches!(
        (event.happened_at, instance.remote_event_at),
        (Some(at), Some(newest)) if at < newest
    );
    if stale {
        return Ok(Outcome::Unchanged);
    }
    let Some(mut changes) = changes_for(instance, &event.kind, now) else {
        return Ok(Outcome::Ignored);
    };
    if let Some(phone) = &changes.phone_number {
        if *phone == instance.phone_number
            || instances::phone_taken(conn, instance.tenant_id, phone, Some(instance.id))?
        {
            changes.phone_number = None;
        }
    }
    let newest = event
        .happened_at
        .filter(|at| instance.remote_event_at < Some(*at));
    // A webhook's status is live: polls do not swap it for another status that cannot
    // send while it holds (`status::webhook_outranks`).
    let confirmed = changes.connection_status.is_some().then_some(Some(now));
    if !differs(instance, &changes) {
        if newest.is_some() || confirmed.is_some() {
            // Still the newest word on the instance's connection.
            let newer = RemoteChanges {
                remote_event_at: newest.map(Some),
                status_confirmed_at: confirmed,
                ..RemoteChanges::default()
            };
            remote_instances::record(conn, instance.id, &newer)?;
        }
        return Ok(Outcome::Unchanged);
    }
    changes.last_checked_at = Some(now);
    changes.updated_at = Some(now);
    changes.remote_event_at = newest.map(Some);
    changes.status_confirmed_at = confirmed;
    remote_instances::record(conn, instance.id, &changes)?;
    Ok(Outcome::Applied)
}

/// The columns `kind` sets on `instance`; `None` for an event that sets nothing.
pub fn changes_for(
    instance: &Instance,
    kind: &EventKind,
    now: NaiveDateTime,
) -> Option<RemoteChanges> {
    let status = |status: ConnectionStatus| RemoteChanges {
        connection_status: Some(status.as_str().to_string()),
        ..RemoteChanges::default()
    };
    match kind {
        EventKind::ConnectionUpdate(update) => {
            let state = update.state?;
            let dropped = matches!(state, RemoteState::Close | RemoteState::Refused);
            let linked = state == RemoteState::Open;
            Some(RemoteChanges {
                status_reason: Some(if dropped { update.status_reason } else { None }),
                owner_jid: update.owner_jid.clone().filter(|_| linked).map(Some),
                phone_number: update
                    .owner_jid
                    .as_deref()
                    .filter(|_| linked)
                    .and_then(phone_of_jid),
                profile_name: update.profile_name.clone().filter(|_| linked).map(Some),
                ..status_changes(instance, Some(state), now)
            })
        }
        EventKind::QrCodeUpdated(qr) => Some(connect_changes(
            instance,
            ConnectAnswer::Qr(qr.clone()),
            now,
        )),
        EventKind::LogoutInstance => Some(status(ConnectionStatus::Disconnected)),
        EventKind::RemoveInstance => Some(status(ConnectionStatus::Error)),
        EventKind::MessagesUpsert(_) | EventKind::MessagesUpdate(_) | EventKind::Other(_) => None,
    }
}

/// `message.received` for each message, in the transaction of the webhook; a message
/// already told about (the same webhook again) is not told twice.
fn received(
    conn: &mut DbConnection,
    instance: &Instance,
    messages: &[ReceivedMessage],
    now: NaiveDateTime,
) -> diesel::QueryResult<Outcome> {
    if !crate::db::outbox::wants_events(conn, instance.tenant_id)? {
        return Ok(Outcome::Ignored);
    }
    let mut outcome = Outcome::Unchanged;
    for message in messages {
        let data = inbound_message::received_data(
            message,
            &instance.instance_name,
            &instance.phone_number,
            now,
        );
        let key = format!("message.received:{}:{}", instance.id, message.message_id);
        if events::record(
            conn,
            instance.tenant_id,
            EventType::MessageReceived,
            data,
            Some(&key),
            now,
        )? {
            outcome = Outcome::Applied;
        }
    }
    Ok(outcome)
}

/// Whether applying `changes` would change a column of `instance` (the bookkeeping
/// columns `last_checked_at` and `updated_at` aside).
fn differs(instance: &Instance, changes: &RemoteChanges) -> bool {
    fn new<T: PartialEq>(change: &Option<T>, current: &T) -> bool {
        change.as_ref().is_some_and(|value| value != current)
    }
    new(&changes.phone_number, &instance.phone_number)
        || new(&changes.connection_status, &instance.connection_status)
        || new(&changes.status_reason, &instance.status_reason)
        || new(&changes.owner_jid, &instance.owner_jid)
        || new(&changes.profile_name, &instance.profile_name)
        || new(&changes.connected_at, &instance.connected_at)
        || new(&changes.qr_code, &instance.qr_code)
        || new(&changes.qr_code_base64, &instance.qr_code_base64)
        || new(&changes.pairing_code, &instance.pairing_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> InboundEvent {
        parse(body.as_bytes(), None).expect("parses")
    }

    #[test]
    fn the_reference_envelopes_parse_into_events() {
        let open = parsed(
            r#"{"event":"connection.update","instance":"inst1","data":{"instance":"inst1","wuid":"5511987654321@s.whatsapp.net","profileName":"Foo","profilePictureUrl":null,"state":"open","statusReason":200},"destination":"https://r/h","date_time":"2025-10-21T11:40:39.123Z","sender":"5511987654321@s.whatsapp.net","server_url":"https://evo","apikey":null}"#,
        );
        assert_eq!(open.instance, "inst1");
        assert_eq!(
            open.kind,
            EventKind::ConnectionUpdate(ConnectionUpdate {
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
            qr.kind,
            EventKind::QrCodeUpdated(QrCode {
                base64: Some("data:image/png;base64,AAA".into()),
                code: Some("2@abc".into()),
                pairing_code: None,
            })
        );
        let limit = parsed(
            r#"{"event":"qrcode.updated","instance":"i","data":{"message":"QR code limit reached, please login again","statusCode":500}}"#,
        );
        assert_eq!(limit.kind, EventKind::Other("QRCODE_UPDATED".into()));
        let logout = parsed(r#"{"event":"logout.instance","instance":"i","data":null}"#);
        assert_eq!(logout.kind, EventKind::LogoutInstance);
        let upsert = parsed(r#"{"event":"messages.upsert","instance":"i","data":{"key":{}}}"#);
        assert_eq!(upsert.kind, EventKind::Other("MESSAGES_UPSERT".into()));
    }

    #[test]
    fn the_by_events_path_names_the_event_when_the_body_does_not() {
        let event = parse(
            br#"{"instance":"i","data":{"state":"close","statusReason":401}}"#,
            Some("connection-update"),
        )
        .unwrap();
        assert!(matches!(event.kind, EventKind::ConnectionUpdate(_)));
    }

    #[test]
    fn malformed_envelopes_are_refused() {
        for body in [
            "not json",
            "[]",
            r#"{"instance":"i"}"#,
            r#"{"event":"connection.update"}"#,
            r#"{"event":"connection.update","instance":"i","data":null}"#,
            r#"{"event":"connection.update","instance":"i","data":{"state":"sideways"}}"#,
        ] {
            assert!(parse(body.as_bytes(), None).is_err(), "{body}");
        }
    }

    #[test]
    fn a_jid_gives_its_phone_number() {
        assert_eq!(
            phone_of_jid("573001234567@s.whatsapp.net").as_deref(),
            Some("+573001234567")
        );
        assert_eq!(
            phone_of_jid("573001234567:12@s.whatsapp.net").as_deref(),
            Some("+573001234567")
        );
        assert_eq!(phone_of_jid("12036304@g.us"), None);
        assert_eq!(phone_of_jid("573001234567@lid"), None);
        assert_eq!(
            phone_of_jid("573001234567").as_deref(),
            Some("+573001234567")
        );
        assert_eq!(phone_of_jid("abc@s.whatsapp.net"), None);
    }
}
